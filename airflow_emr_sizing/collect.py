"""Gather what one finished run really used, from every configured source, into one observation.

Sources, in the order teams have them:

1. the job run's own outcome (``DescribeJobRun``: state, failure reason, the size it ran at) —
   always; built by :mod:`outcome`;
2. the run's Spark event log, when the operator knows where it is (a run-unique
   ``spark.eventLog.dir``): executors at peak, per-executor memory peaks, CPU, OOM evidence —
   of every application log there, one per driver attempt;
3. Prometheus / Amazon Managed Prometheus, when configured: the executor pods' working set, CPU
   and OOM kills, selected by the signature label over the run's window.

The result is one merged :class:`~airflow_emr_sizing.store.Observation` per job id (recording it
again merges, so this is idempotent) and a :class:`CollectionReport` for the XCom audit. A source
that fails only adds a warning: collection never fails the task. An event log that is not there
yet (EMR uploads it as the application ends), still in progress, or cut off by a storage or
network failure is read again a bounded number of times; one that cannot change is not waited for.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_emr_sizing.eventlog import EventLogSummary, read_event_log, read_run_event_logs
from airflow_emr_sizing.eventlog_sources import EventLogUnavailable
from airflow_emr_sizing.exceptions import EmrSizingError
from airflow_emr_sizing.prometheus import PrometheusSource, PrometheusUsage, redact_url
from airflow_emr_sizing.spark_conf import read_job_conf
from airflow_emr_sizing.store import Observation

__all__ = ["CollectionReport", "UsageSources", "event_log_location", "gather_usage", "run_event_log_dir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def run_event_log_dir(
    base: str, dag_id: str, task_id: str, run_id: str, try_number: int | str, map_index: int = -1
) -> str:
    """A run-unique event-log folder under ``base``: ``{base}/{dag}/{task}/{run}/{try}/``, with
    ``{run}/{map_index}/{try}`` for a mapped task (its instances run side by side).

    Each part keeps only characters safe in S3 keys and paths (``:``, ``+``, spaces and slashes of
    run ids become ``_``), so the folder holds only this try's application logs (one per driver attempt).
    """
    mapped = (map_index,) if map_index >= 0 else ()
    parts = [
        _UNSAFE.sub("_", str(part)).strip("._") or "_"
        for part in (dag_id, task_id, run_id, *mapped, try_number)
    ]
    return base.rstrip("/") + "/" + "/".join(parts) + "/"


def event_log_location(job_run: Mapping[str, Any]) -> str | None:
    """Where a run's event log is, from the request as EMR received it (``DescribeJobRun``).

    The job's own ``spark.eventLog.dir`` when it logs events — which is the run's own folder when
    sizing set it, or whatever the job wrote itself (in dry run, nothing is injected).
    """
    try:
        effective = read_job_conf(job_run["jobDriver"], job_run.get("configurationOverrides")).effective
    except Exception:
        return None
    if effective.get("spark.eventLog.enabled", "").strip().lower() != "true":
        return None
    return effective.get("spark.eventLog.dir") or None


@dataclass(frozen=True)
class UsageSources:
    """Which sources to read after a run ends; kept in the audit for deferred tasks."""

    event_log: bool = False
    aws_conn_id: str | None = None
    event_log_attempts: int = 3
    event_log_retry_delay: float = 10.0
    prometheus_url: str | None = None
    prometheus_timeout: float = 10.0
    prometheus_job_id_label: str | None = None
    label_key: str = "emr-sizing-signature"
    #: The folder made for this run's try (``event_log_dir``'s): every log in it is this run's.
    run_folder: str | None = None

    def to_json(self) -> dict[str, Any]:
        """For the audit, which anyone who sees XComs reads: the Prometheus URL's password redacted."""
        data = dataclasses.asdict(self)
        if self.prometheus_url:
            data["prometheus_url"] = redact_url(self.prometheus_url)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> UsageSources:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def prometheus(self) -> PrometheusSource | None:
        if not self.prometheus_url:
            return None
        return PrometheusSource(
            _with_credentials(self.prometheus_url),
            label_key=self.label_key,
            job_id_label_key=self.prometheus_job_id_label,
            timeout=self.prometheus_timeout,
            aws_conn_id=self.aws_conn_id,
        )


def _with_credentials(url: str) -> str:
    """The URL to query. One read back from the audit (a deferred task's) has its password
    redacted: it comes back from ``[emr_sizing] prometheus_url``, where the operator read it."""
    if "@" not in url or redact_url(url) != url:
        return url  # no credentials, or all of them
    from airflow_emr_sizing.settings import load_settings

    try:
        configured = load_settings().prometheus_url or ""
    except Exception:  # a setting that cannot be read: query as recorded, and be told why
        return url
    return configured if redact_url(configured) == url else url


@dataclass
class CollectionReport:
    """What collection found, for the XCom audit (``learned``)."""

    sources: list[str] = field(default_factory=lambda: ["outcome"])
    warnings: list[str] = field(default_factory=list)
    event_log: dict[str, Any] | None = None
    prometheus: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "warnings": list(self.warnings),
            "event_log": self.event_log,
            "prometheus": self.prometheus,
        }


def gather_usage(
    outcome: Observation,
    sources: UsageSources,
    *,
    event_log: str | None = None,
    finished_at: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    s3_client: Callable[[], Any] | None = None,
) -> tuple[Observation, CollectionReport]:
    """Enrich a run's outcome with the usage its sources show; never raises for a source's trouble.

    :param outcome: the observation built from ``DescribeJobRun`` (job id, state, size, window).
    :param event_log: where the run's event log is (see :func:`event_log_location`).
    :param finished_at: when the run ended (the end of the Prometheus window); default now.
    :param s3_client: makes the S3 client to read an ``s3://`` event log with (the task's, on
        the AWS session its EMR client is on); default: an ``S3Hook`` of ``sources.aws_conn_id``.
    """
    report = CollectionReport()
    observation = outcome
    summary: EventLogSummary | None = None
    if not sources.event_log and not sources.prometheus_url:
        report.warnings.append(
            "no usage source configured (event_log_dir, prometheus_url): only the outcome is "
            "recorded, and recommendations need measured usage"
        )
    if sources.event_log and not event_log:
        report.warnings.append(
            "event log: the run did not log events (spark.eventLog.enabled/dir not set as submitted)"
        )
    elif sources.event_log and event_log:
        read = (
            read_run_event_logs
            if sources.run_folder and event_log.rstrip("/") == sources.run_folder.rstrip("/")
            else read_event_log  # a folder of the job's own may hold other runs' logs too
        )
        summary = _read_event_log(read, event_log, sources, report, sleep, s3_client)
        if summary is not None:
            observation = _with_event_log(observation, summary)
            report.sources.append("eventlog")
            if outcome.oom and not summary.oom and summary.complete:
                # the whole log saw every executor loss and task failure: the text meant another OOM
                observation = dataclasses.replace(observation, oom=False)
                report.warnings.append(
                    "the failure reason mentions running out of memory, but no executor did in the "
                    "event log (the driver, or a GPU?): not recorded as an executor OOM"
                )
    prometheus = sources.prometheus()
    if prometheus is not None:
        end = finished_at or datetime.now(timezone.utc)
        try:
            usage = prometheus.usage(outcome.signature_hash, outcome.started_at, end, job_id=outcome.job_id)
        except EmrSizingError as err:
            report.warnings.append(f"prometheus: {_redacted(str(err), prometheus.url)}")
        except Exception as err:  # a cut response, AWS credentials, a bug: report, never lose the run
            report.warnings.append(f"prometheus: {type(err).__name__}: {_redacted(str(err), prometheus.url)}")
        else:
            if sources.prometheus_job_id_label or summary is None:
                observation = _with_prometheus(observation, usage)
            else:
                # per signature, so concurrent runs of it (mapped tasks, a backfill) mix in
                observation = _filled_by_prometheus(observation, usage, summary)
                report.warnings.append(
                    "prometheus: its figures cover every run of the signature in the window "
                    "(no prometheus_job_id_label): the run's own event log is kept where it knows"
                )
            report.sources.append("prometheus")
            report.prometheus = dataclasses.asdict(usage)
            report.warnings.extend(f"prometheus: {w}" for w in usage.warnings)
    return dataclasses.replace(observation, source="+".join(report.sources)), report


def _read_event_log(
    read: Callable[..., EventLogSummary],
    location: str,
    sources: UsageSources,
    report: CollectionReport,
    sleep: Callable[[float], None],
    s3_client: Callable[[], Any] | None,
) -> EventLogSummary | None:
    """The run's event log, waiting (boundedly) while it is missing, in progress or unreadable
    for now; an error that reading again cannot cure is reported at once."""
    attempts = max(1, sources.event_log_attempts)
    summary: EventLogSummary | None = None
    for attempt in range(1, attempts + 1):
        try:
            summary = read(location, aws_conn_id=sources.aws_conn_id, s3_client=s3_client)
        except EventLogUnavailable as err:
            if attempt == attempts:
                report.warnings.append(f"event log: {err} (after {attempts} attempts)")
                return None
        except EmrSizingError as err:
            report.warnings.append(f"event log: {err}")
            return None
        except Exception as err:  # a bug or an unexpected storage error: report, never fail
            report.warnings.append(f"event log: {type(err).__name__}: {err}")
            return None
        else:
            if not summary.in_progress or attempt == attempts:
                break
        sleep(sources.event_log_retry_delay)
    assert summary is not None
    report.event_log = {"location": location, **summary.to_json()}
    report.warnings.extend(f"event log: {w}" for w in summary.warnings)
    return summary


def _redacted(text: str, url: str) -> str:
    """``text`` with ``url`` redacted wherever it appears (an error may quote it)."""
    return text.replace(url, redact_url(url)) if url in text else text


def _with_event_log(observation: Observation, summary: EventLogSummary) -> Observation:
    return dataclasses.replace(
        observation,
        executors=summary.executors or observation.executors,
        peak_pod_memory_mib=_known(summary.peak_pod_memory_mib, observation.peak_pod_memory_mib),
        peak_heap_mib=_known(summary.peak_heap_mib, observation.peak_heap_mib),
        cpu_used_cores_p90=_known(summary.cpu_used_cores_p90, observation.cpu_used_cores_p90),
        oom=observation.oom or summary.oom,
    )


def _with_prometheus(observation: Observation, usage: PrometheusUsage) -> Observation:
    """Prometheus sees the whole container (what the OOM killer sees): its numbers win."""
    return dataclasses.replace(
        observation,
        peak_pod_memory_mib=_known(usage.peak_pod_memory_mib, observation.peak_pod_memory_mib),
        cpu_used_cores_p90=_known(usage.cpu_used_cores_p90, observation.cpu_used_cores_p90),
        oom=observation.oom or usage.oom,
    )


def _filled_by_prometheus(
    observation: Observation, usage: PrometheusUsage, summary: EventLogSummary
) -> Observation:
    """Prometheus figures that may be another run's only fill what the event log does not know."""
    return dataclasses.replace(
        observation,
        peak_pod_memory_mib=_known(observation.peak_pod_memory_mib, usage.peak_pod_memory_mib),
        cpu_used_cores_p90=_known(observation.cpu_used_cores_p90, usage.cpu_used_cores_p90),
        oom=observation.oom or (usage.oom and not summary.complete),
    )


def _known(preferred: Any, fallback: Any) -> Any:
    return preferred if preferred is not None else fallback
