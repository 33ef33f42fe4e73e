"""Where Airflow keeps what this package uses, across Airflow 3.0 to 3.3.

common-compat 1.22 names them all in one module, but the constraint files of Airflow 3.0 and 3.1
(and so MWAA's) pin an older common-compat, so each name falls back to where those versions keep it.
Only what the operator module needs at DAG parse time is imported here; the rest is imported when
it is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from airflow.providers.common.compat.sdk import TaskDeferred, mask_secret
except ImportError:  # common-compat before 1.22 (Airflow 3.0/3.1)
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.configuration import AirflowConfigParser

__all__ = ["TaskDeferred", "airflow_conf", "get_connection", "mask_secret", "redact"]


def get_connection(conn_id: str) -> Any:
    """The Airflow connection ``conn_id``, read as hooks read it (through the task's supervisor)."""
    try:
        from airflow.providers.common.compat.sdk import BaseHook
    except ImportError:  # common-compat before 1.22
        from airflow.hooks.base import BaseHook  # type: ignore[attr-defined,no-redef,unused-ignore]
    return BaseHook.get_connection(conn_id)


def airflow_conf() -> AirflowConfigParser:
    """Airflow's configuration (airflow.cfg and AIRFLOW__* variables)."""
    try:
        from airflow.providers.common.compat.sdk import conf
    except ImportError:  # common-compat before 1.22
        from airflow.configuration import conf
    return conf  # type: ignore[no-any-return]


def redact(value: Any, name: str | None = None) -> Any:
    """``value`` as Airflow's secrets masker would write it to a log."""
    try:
        from airflow.providers.common.compat.sdk import redact as _redact
    except ImportError:  # common-compat before 1.22
        from airflow.sdk.execution_time.secrets_masker import redact as _redact  # type: ignore[no-redef]
    return _redact(value, name)
