"""Where Airflow keeps what this package uses, across Airflow 3.0 to 3.3.

common-compat 1.22 names them all in one module, but the constraint files of Airflow 3.0 to 3.2
(and so MWAA's) pin older common-compat releases, which lack some of them. Each name is taken from
the first place that has it: common-compat, then newer Airflow's place, then Airflow 3.0's (which
newer versions keep only behind a deprecation warning). Only what the operator module needs at DAG
parse time is imported up front.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["TaskDeferred", "airflow_conf", "get_connection", "mask_secret", "redact"]

_COMPAT = "airflow.providers.common.compat.sdk"


def _first(name: str, *modules: str) -> Any:
    """``name`` from the first of ``modules`` that has it."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"cannot import {name} from {', '.join(modules)}")


TaskDeferred: type[BaseException] = _first(
    "TaskDeferred", _COMPAT, "airflow.sdk.exceptions", "airflow.exceptions"
)
mask_secret: Callable[..., None] = _first(
    "mask_secret", _COMPAT, "airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker"
)


def get_connection(conn_id: str) -> Any:
    """The Airflow connection ``conn_id``, read as hooks read it (through the task's supervisor)."""
    return _first("BaseHook", _COMPAT, "airflow.sdk", "airflow.hooks.base").get_connection(conn_id)


def airflow_conf() -> Any:
    """Airflow's configuration (airflow.cfg and AIRFLOW__* variables)."""
    return _first("conf", _COMPAT, "airflow.sdk.configuration", "airflow.configuration")


def redact(value: Any, name: str | None = None) -> Any:
    """``value`` as Airflow's secrets masker would write it to a log."""
    masker = (
        "airflow.sdk.log",
        "airflow.sdk._shared.secrets_masker",
        "airflow.sdk.execution_time.secrets_masker",
    )
    return _first("redact", _COMPAT, *masker)(value, name)
