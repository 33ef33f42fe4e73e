"""Errors raised by airflow-emr-sizing.

Only *user* mistakes are exceptions that reach a task; trouble on our side (store down, no history)
is a value with a reason, and the job is submitted as the user wrote it.

    EmrSizingError
    ├── SizingConfigError (ValueError)   bad user input: names the field and the value
    │   └── SparkConfError                a malformed Spark conf value or submit parameter
    ├── StoreError                        the metrics store cannot be used
    ├── SizingRefused                     applying sizes would make the request unsafe or invalid
    └── EventLogError                     an event log cannot be found or read
"""

from __future__ import annotations

__all__ = [
    "EmrSizingError",
    "EventLogError",
    "SizingConfigError",
    "SizingRefused",
    "SparkConfError",
    "StoreError",
]


class EmrSizingError(Exception):
    """Base class of every error this package raises."""


class SizingConfigError(EmrSizingError, ValueError):
    """Raised when a sizing argument or setting given by the user is invalid."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}={value!r}: {problem}")


class SparkConfError(SizingConfigError):
    """Raised when a Spark conf value or spark-submit parameter of the job is malformed."""


class StoreError(EmrSizingError):
    """Raised when the metrics store cannot be opened, read or written."""


class SizingRefused(EmrSizingError):
    """Raised when a recommendation cannot be applied to this job safely; it runs as written."""


class EventLogError(EmrSizingError):
    """Raised when an event log cannot be found or read at all (a partial log is not an error)."""
