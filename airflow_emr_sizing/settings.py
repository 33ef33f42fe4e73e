"""The ``[emr_sizing]`` section of Airflow's configuration, read at execute time only.

:data:`OPTIONS` is the one list of options: :mod:`provider_info` documents it to Airflow, and
:func:`load_settings` reads it (``AIRFLOW__EMR_SIZING__<OPTION>`` environment variables work as for
any Airflow option).
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_emr_sizing.exceptions import SizingConfigError

if TYPE_CHECKING:
    import pendulum

__all__ = [
    "MODES",
    "OPTIONS",
    "S3_SCHEMES",
    "SECTION",
    "Settings",
    "check_event_log_dir",
    "load_settings",
    "parse_bool",
    "zone_of",
]

SECTION = "emr_sizing"
#: ``off``: label pods and report only; ``initial``: apply the recommendation at submit time.
MODES = ("off", "initial")
#: URL schemes of S3 that Spark (EMRFS, S3A) and this package read.
S3_SCHEMES = ("s3://", "s3a://", "s3n://")

OPTIONS: dict[str, dict[str, Any]] = {
    "dry_run": {
        "description": "Default of the per-task dry_run flag. When true the StartJobRun request is "
        "submitted exactly as written (no sizes, no label); the recommendation is only reported.",
        "type": "boolean",
        "example": "False",
        "default": "True",
    },
    "mode": {
        "description": "Default sizing mode: 'off' labels pods and reports the recommendation, "
        "'initial' also applies it at submit time.",
        "type": "string",
        "example": "off",
        "default": "initial",
    },
    "store_conn_id": {
        "description": "Airflow connection of the metrics store (sqlite: host = file path; "
        "postgres; mysql; aws with extra emr_sizing_table for DynamoDB). Empty means the SQLite "
        "file at store_path.",
        "type": "string",
        "example": "emr_sizing_store",
        "default": "",
    },
    "store_path": {
        "description": "SQLite file of the embedded store. Empty means $AIRFLOW_HOME/emr_sizing.db.",
        "type": "string",
        "example": "/opt/airflow/emr_sizing.db",
        "default": "",
    },
    "store_timeout": {
        "description": "Seconds the store may take before the job is submitted unsized.",
        "type": "float",
        "example": "2.5",
        "default": "5",
    },
    "holiday_country": {
        "description": "ISO country code of the holiday calendar (python-holidays); empty: no "
        "holiday flag in signatures.",
        "type": "string",
        "example": "KR",
        "default": "",
    },
    "holiday_subdivision": {
        "description": "Optional subdivision (state, province) of the holiday calendar.",
        "type": "string",
        "example": "CA",
        "default": "",
    },
    "label_key": {
        "description": "Kubernetes label key carrying the signature hash on driver and executor pods.",
        "type": "string",
        "example": "emr-sizing-signature",
        "default": "emr-sizing-signature",
    },
    "retention_days": {
        "description": "Observations older than this many days are dropped by 'emr-sizing prune' "
        "and expire by TTL in DynamoDB. 0 keeps them forever.",
        "type": "integer",
        "example": "365",
        "default": "730",
    },
    "retention_max_runs_per_signature": {
        "description": "'emr-sizing prune' keeps at most this many most recent runs of each "
        "signature. 0 means no cap.",
        "type": "integer",
        "example": "500",
        "default": "1000",
    },
    "min_samples": {
        "description": "Runs of a signature with known peak usage needed before sizing it.",
        "type": "integer",
        "example": "5",
        "default": "3",
    },
    "event_log_dir": {
        "description": "Where sized runs write their Spark event logs (s3://bucket/prefix). Each run "
        "gets its own folder below it, {dag_id}/{task_id}/{run_id}/{try}/, set as spark.eventLog.dir "
        "(unless the job sets it), and its executors' usage is read from there after the run. Empty: "
        "no event logs are read.",
        "type": "string",
        "example": "s3://dw-emr-logs/spark-events",
        "default": "",
    },
    "event_log_metrics": {
        "description": "With event_log_dir, also turn on spark.eventLog.enabled, "
        "spark.eventLog.logStageExecutorMetrics and spark.executor.processTreeMetrics.enabled "
        "(keys the job sets itself are kept). Never in dry run.",
        "type": "boolean",
        "example": "False",
        "default": "True",
    },
    "event_log_attempts": {
        "description": (
            "Reads of a run's event log before giving up while it is missing, in progress or "
            "cut off by an S3 or network failure."
        ),
        "type": "integer",
        "example": "5",
        "default": "3",
    },
    "event_log_retry_delay": {
        "description": "Seconds between those reads.",
        "type": "float",
        "example": "30",
        "default": "10",
    },
    "prometheus_url": {
        "description": "Prometheus or Amazon Managed Prometheus base URL (an AMP workspace URL is "
        "signed with SigV4 using the task's AWS connection). Empty: Prometheus is not read.",
        "type": "string",
        "example": "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1234",
        "default": "",
    },
    "prometheus_timeout": {
        "description": "Seconds each Prometheus query may take.",
        "type": "float",
        "example": "10",
        "default": "10",
    },
    "risk": {
        "description": "Acceptable share of runs whose executors need more memory than recommended "
        "(under-provisioned): the recommender sizes at this quantile of its own past errors.",
        "type": "float",
        "example": "0.01",
        "default": "0.005",
    },
    "node_memory": {
        "description": "Allocatable memory of one node for executors (Spark size, e.g. 61g): when set "
        "with node_cores, sizes are rounded so whole executors fill a node; never above a node.",
        "type": "string",
        "example": "61g",
        "default": "",
    },
    "node_cores": {
        "description": "Allocatable CPU of one node for executors (cores), for node fit.",
        "type": "float",
        "example": "15.5",
        "default": "",
    },
    "prometheus_job_id_label": {
        "description": "Pod label carrying the EMR job id, if kube-state-metrics exports it "
        "(narrows a signature's pods to one run).",
        "type": "string",
        "example": "emr-containers.amazonaws.com/job.id",
        "default": "",
    },
}


@dataclass(frozen=True)
class Settings:
    dry_run: bool
    mode: str
    store_conn_id: str | None
    store_path: str
    store_timeout: float
    holiday_country: str | None
    holiday_subdivision: str | None
    label_key: str
    min_samples: int
    event_log_dir: str | None = None
    event_log_metrics: bool = True
    event_log_attempts: int = 3
    event_log_retry_delay: float = 10.0
    prometheus_url: str | None = None
    prometheus_timeout: float = 10.0
    prometheus_job_id_label: str | None = None
    risk: float = 0.005
    node_memory: str | None = None
    node_cores: float | None = None
    retention_days: int = 730
    retention_max_runs_per_signature: int = 1000


def parse_bool(field: str, value: object) -> bool:
    """A boolean from a bool or its usual string forms (templated arguments arrive as strings),
    Airflow's config forms ``t``/``f`` included."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "1", "yes", "on"):
        return True
    if text in ("false", "f", "0", "no", "off"):
        return False
    raise SizingConfigError(field, value, "expected true or false")


def check_event_log_dir(field: str, location: str) -> str:
    """An event-log base both Spark's driver pod and this package reach: an S3 URL.

    A local path would be one on the Airflow worker, which the driver pod does not see.
    """
    text = str(location)
    if text.startswith(S3_SCHEMES) and text.split("://", 1)[1].split("/", 1)[0]:
        return text
    raise SizingConfigError(field, location, "expected s3://bucket/prefix")


def load_settings() -> Settings:
    """Read ``[emr_sizing]`` with the documented defaults (works before providers are loaded)."""
    from airflow_emr_sizing.airflow_compat import airflow_conf

    conf = airflow_conf()

    # one read of the section (airflow.cfg, AIRFLOW__EMR_SIZING__* variables): every task does this
    section = conf.getsection(SECTION)
    if section is None:  # Airflow 3.0 ignores AIRFLOW__EMR_SIZING__* unless a config file names the section
        section = {
            name: value for name in OPTIONS if (value := conf.get(SECTION, name, fallback=None)) is not None
        }
    given = {name.lower(): value for name, value in section.items()}

    def get(name: str) -> str:
        """The option as set, or its default when unset or blank (``AIRFLOW__EMR_SIZING__X=``)."""
        value = given.get(name)  # typed by Airflow: 0 and False are values, not blanks
        if value is not None and not isinstance(value, str) and OPTIONS[name]["type"] == "string":
            value = conf.get(SECTION, name)  # as written: a subdivision "01" is not the number 1
        text = "" if value is None else str(value).strip()
        return text or str(OPTIONS[name]["default"]).strip()

    def number(name: str, kind: type[float] | type[int]) -> Any:
        try:
            return kind(get(name))
        except ValueError as err:
            expected = "expected an integer" if kind is int else "expected a number"
            raise SizingConfigError(f"[{SECTION}] {name}", get(name), expected) from err

    def seconds(name: str, *, zero: bool = False) -> float:
        value: float = number(name, float)
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            expected = "0 or more" if zero else "more than 0"
            raise SizingConfigError(f"[{SECTION}] {name}", get(name), f"expected finite seconds, {expected}")
        return value

    def at_least_one(name: str) -> int:
        count: int = number(name, int)
        if count < 1:
            raise SizingConfigError(f"[{SECTION}] {name}", get(name), "must be at least 1")
        return count

    def not_negative(name: str) -> int:
        count: int = number(name, int)
        if count < 0:
            raise SizingConfigError(f"[{SECTION}] {name}", get(name), "must be 0 (no limit) or more")
        return count

    airflow_home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Settings(
        dry_run=parse_bool(f"[{SECTION}] dry_run", get("dry_run")),
        mode=get("mode"),
        store_conn_id=get("store_conn_id") or None,
        store_path=get("store_path") or os.path.join(airflow_home, "emr_sizing.db"),
        store_timeout=seconds("store_timeout"),
        holiday_country=get("holiday_country") or None,
        holiday_subdivision=get("holiday_subdivision") or None,
        label_key=get("label_key"),
        min_samples=at_least_one("min_samples"),
        event_log_dir=get("event_log_dir") or None,
        event_log_metrics=parse_bool(f"[{SECTION}] event_log_metrics", get("event_log_metrics")),
        event_log_attempts=at_least_one("event_log_attempts"),
        event_log_retry_delay=seconds("event_log_retry_delay", zero=True),
        prometheus_url=get("prometheus_url") or None,
        prometheus_timeout=seconds("prometheus_timeout"),
        prometheus_job_id_label=get("prometheus_job_id_label") or None,
        risk=number("risk", float),
        node_memory=get("node_memory") or None,
        node_cores=number("node_cores", float) if get("node_cores") else None,
        retention_days=not_negative("retention_days"),
        retention_max_runs_per_signature=not_negative("retention_max_runs_per_signature"),
    )


_FIXED_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


@functools.lru_cache(maxsize=64)
def zone_of(name: str) -> pendulum.Timezone | pendulum.FixedTimezone:
    """The timezone a signature is read in: an IANA name, or a fixed UTC offset such as ``+09:00``.

    Here, not in ``signature``, so that a literal ``timezone`` is checked at DAG parse time
    without loading the sizing machinery; cached, as ``pendulum.timezone`` reads the zone's file
    on each call and a DAG file checks it once per operator.
    """
    import pendulum

    offset = _FIXED_OFFSET.fullmatch(name)
    if offset is not None and int(offset[2]) < 24 and int(offset[3]) < 60:
        seconds = int(offset[2]) * 3600 + int(offset[3]) * 60
        return pendulum.FixedTimezone(-seconds if offset[1] == "-" else seconds, name=name)
    try:
        return pendulum.timezone(name)
    except Exception as err:  # pendulum raises several types for unknown zones
        raise SizingConfigError(
            "timezone", name, f"not a known IANA timezone or UTC offset like +09:00 ({err})"
        ) from err
