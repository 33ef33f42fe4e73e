"""The audit trail pushed to XCom: what was decided for a run, and why.

One JSON object under :data:`AUDIT_XCOM_KEY` per task try. Values of secret-looking Spark keys are
replaced before anything reaches XCom or the logs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AUDIT_VERSION", "AUDIT_XCOM_KEY", "REDACTED", "Audit", "is_secret_key", "prediction_of", "redact"]

AUDIT_XCOM_KEY = "emr_sizing"
AUDIT_VERSION = 1
REDACTED = "***"
_SECRET = re.compile(
    r"pass(word|wd)?|secret|token|credential|access[._-]?key|private[._-]?key|api[._-]?key", re.I
)


def is_secret_key(key: str) -> bool:
    return _SECRET.search(key) is not None


def redact(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``conf`` with the values of secret-looking keys replaced by ``***``."""
    return {key: REDACTED if is_secret_key(key) else value for key, value in conf.items()}


@dataclass
class Audit:
    """Everything needed to trace a run's sizing afterwards; see the README's "XCom audit"."""

    mode: str
    dry_run: bool
    arguments: dict[str, Any] = field(default_factory=dict)
    store: str | None = None
    signature: dict[str, Any] | None = None
    configured: dict[str, Any] | None = None
    recommendation: dict[str, Any] | None = None
    basis: dict[str, Any] | None = None
    reason: str | None = None
    applied: bool = False
    #: Per key: before, after, where. Sent to EMR only when ``applied``; in dry run, what would be.
    injected: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Sizing gave up (store down, unexpected error): the task has logged its one warning.
    degraded: bool = False
    #: The job run, once submitted.
    job_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        injected = {
            key: {**change, **({"before": REDACTED, "after": REDACTED} if is_secret_key(key) else {})}
            for key, change in self.injected.items()
        }
        return {
            "audit_version": AUDIT_VERSION,
            "signature": self.signature,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "configured": self.configured,
            "recommendation": self.recommendation,
            "basis": self.basis,
            "reason": self.reason,
            "would_inject" if self.dry_run else "injected": injected,
            "store": self.store,
            "arguments": self.arguments,
            "warnings": list(self.warnings),
            "degraded": self.degraded,
            "job_id": self.job_id,
        }


def prediction_of(audit: Mapping[str, Any]) -> dict[str, Any]:
    """The recommender's estimate a run was planned with, to record with its outcome.

    Recorded for dry runs too (the run then uses its own size, so its error is seen uncensored):
    these errors are what the recommender learns its spread from.
    """
    basis = audit.get("basis") or {}
    if not audit.get("recommendation") or "predicted_peak_mib" not in basis:
        return {}
    try:
        peak, drift = int(basis["predicted_peak_mib"]), float(basis.get("drift", 0.0))
    except (TypeError, ValueError):
        return {}  # an audit from another version: the run is recorded without its estimate
    return {
        "predicted_peak_mib": peak,
        "predicted_level": basis.get("level"),
        "predicted_drift": math.log1p(drift) if drift > -1 else None,
    }
