"""What a run's executors really used, read from its Spark event log.

EMR on EKS writes a Spark application's event log to S3 when event logging is on: one JSON event
per line, plain or compressed (see :mod:`eventlog_codecs`), as one file or a rolling
``eventlog_v2_<appId>/`` directory. :func:`read_event_log` streams it once, never holding the
whole log, and returns an :class:`EventLogSummary` whose :meth:`~EventLogSummary.to_json` is the
``emr-sizing eventlog`` output (see the backtest contract).

Most lines are task events and SQL plans. The reader walks large decompressed chunks line by line
with ``bytes.find`` and looks only at each line's event name, so the events it does not need are
skipped without being parsed; ``SparkListenerTaskEnd`` (the bulk of what is needed) is read by
locating its few keys, never by parsing the whole line. Rare events (executor added/removed, stage
executor metrics, environment, application start/end) are parsed as JSON.

What is extracted, executors only (the driver is never an executor):

- executors alive at once, from ``ExecutorAdded`` / ``ExecutorRemoved``;
- per-executor peaks of the executor metrics, from ``SparkListenerStageExecutorMetrics`` and the
  ``Task Executor Metrics`` of task ends; the pod's need is the process-tree RSS (JVM + Python +
  other), else JVM heap + off-heap + direct + mapped pools + Spark's own off-heap memory;
- CPU: each task's ``Executor CPU Time`` (ns) spread over its run, per executor and minute; the
  p90 of those cores-busy samples over the executors' lifetimes;
- OOM: executor losses and task failures that say so (exit code 137 / OOMKilled, exit code 52,
  YARN's memory-limit kill, ``java.lang.OutOfMemoryError``);
- the Spark properties that size executors, the app's id, name, version, start and end.

Blind spots are reported as warnings: task-end metrics are zero for tasks shorter than the metrics
polling interval, process-tree metrics need ``spark.executor.processTreeMetrics.enabled``, stage
executor metrics need ``spark.eventLog.logStageExecutorMetrics``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_emr_sizing.eventlog_codecs import TruncatedStream, decompressed_chunks, read_ahead
from airflow_emr_sizing.eventlog_sources import EventLogFiles, open_event_log, open_event_logs

__all__ = [
    "CPU_BUCKET_S",
    "MEMORY_METRICS",
    "SIZING_KEYS",
    "EventLogSummary",
    "combine_summaries",
    "read_event_log",
    "read_run_event_logs",
    "summarize_chunks",
]

MIB = 1 << 20
#: Width of the per-executor CPU samples, seconds.
CPU_BUCKET_S = 60
#: Executor metrics kept per executor (their peaks), in this order.
MEMORY_METRICS = (
    "JVMHeapMemory",
    "JVMOffHeapMemory",
    "DirectPoolMemory",
    "MappedPoolMemory",
    "ProcessTreeJVMRSSMemory",
    "ProcessTreePythonRSSMemory",
    "ProcessTreeOtherRSSMemory",
    "OffHeapUnifiedMemory",
)
_HEAP, _OFF_HEAP, _DIRECT, _MAPPED, _JVM_RSS, _PY_RSS, _OTHER_RSS, _SPARK_OFF_HEAP = range(
    len(MEMORY_METRICS)
)
#: Spark properties that size executors (and the executor spec of the signature).
SIZING_KEYS = (
    "spark.executor.memory",
    "spark.executor.memoryOverhead",
    "spark.executor.memoryOverheadFactor",
    "spark.executor.minMemoryOverhead",
    "spark.kubernetes.memoryOverheadFactor",
    "spark.executor.cores",
    "spark.kubernetes.executor.request.cores",
    "spark.kubernetes.executor.limit.cores",
    "spark.executor.instances",
    "spark.executor.pyspark.memory",
    "spark.memory.offHeap.enabled",
    "spark.memory.offHeap.size",
    "spark.dynamicAllocation.enabled",
    "spark.dynamicAllocation.minExecutors",
    "spark.dynamicAllocation.maxExecutors",
    "spark.dynamicAllocation.initialExecutors",
)
_DRIVER = "driver"
_TASK_END = b'{"Event":"SparkListenerTaskEnd",'
_TASK_START = b'{"Event":"SparkListenerTaskStart",'
#: Events parsed whole (a few per application, or per stage and executor).
_RARE_EVENTS = frozenset(
    name.encode()
    for name in (
        "ExecutorAdded",
        "ExecutorRemoved",
        "StageExecutorMetrics",
        "EnvironmentUpdate",
        "ApplicationStart",
        "ApplicationEnd",
        "LogStart",
    )
)
_SUCCESS_INFO = b'"Task End Reason":{"Reason":"Success"},"Task Info":{'
_INT = re.compile(rb"-?[0-9]+")
_NONZERO = re.compile(rb":[1-9]")
_OOM = re.compile(
    r"OOMKilled|OutOfMemoryError|possible container OOM|JVM OOM|exceeding (?:physical )?memory limits"
    r"|exit(?:ed with)? code:? ?(?:137|52)\b|exit status:? ?(?:137|52)\b",
    re.IGNORECASE,
)
#: A task's own failure that more executor memory cures (not a GPU's, see _task_failure).
_EXECUTOR_OOM_ERRORS = ("java.lang.OutOfMemoryError", "SparkOutOfMemoryError", "UNABLE_TO_ACQUIRE_MEMORY")
_MAX_EVIDENCE = 5
#: Longer than any real task or executor (a week): such times are corrupt.
_MAX_SPAN_MS = 7 * 24 * 3600 * 1000
_BUCKET_MS = CPU_BUCKET_S * 1000


@dataclass
class EventLogSummary:
    """One application's executor usage; :meth:`to_json` is the ``emr-sizing eventlog`` object."""

    app_id: str | None = None
    app_name: str | None = None
    spark_version: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    executors: int = 0
    executors_added: int = 0
    peak_pod_memory_mib: int | None = None
    peak_heap_mib: int | None = None
    memory_basis: str | None = None
    cpu_used_cores_p90: float | None = None
    cpu_time_s: float = 0.0
    run_time_s: float = 0.0
    tasks: int = 0
    failed_tasks: int = 0
    oom: bool = False
    oom_evidence: list[str] = field(default_factory=list)
    duration_s: float | None = None
    in_progress: bool = False
    spark_conf: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Spark listener events the summary was read from (task ends and the application, environment
    #: and executor events); 0 means the input is no event log at all. Not part of :meth:`to_json`.
    events: int = 0
    #: Every line was read, up to SparkListenerApplicationEnd: the log saw the whole run, so what
    #: it does not show (an executor OOM) did not happen. Not part of :meth:`to_json`.
    complete: bool = False
    #: The cores-busy samples ``cpu_used_cores_p90`` is the p90 of, so that the driver attempts of
    #: one run pool theirs. Not part of :meth:`to_json`.
    cpu_samples: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "app_name": self.app_name,
            "spark_version": self.spark_version,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "executors": self.executors,
            "executors_added": self.executors_added,
            "peak_pod_memory_mib": self.peak_pod_memory_mib,
            "peak_heap_mib": self.peak_heap_mib,
            "memory_basis": self.memory_basis,
            "cpu_used_cores_p90": self.cpu_used_cores_p90,
            "cpu_time_s": round(self.cpu_time_s, 3),
            "run_time_s": round(self.run_time_s, 3),
            "tasks": self.tasks,
            "failed_tasks": self.failed_tasks,
            "oom": self.oom,
            "oom_evidence": list(self.oom_evidence),
            "duration_s": self.duration_s,
            "in_progress": self.in_progress,
            "spark_conf": dict(self.spark_conf),
            "warnings": list(self.warnings),
        }


def read_event_log(
    location: str, *, aws_conn_id: str | None = None, s3_client: Callable[[], Any] | None = None
) -> EventLogSummary:
    """Summarise the event log at ``location``: a file, a rolling directory, or a folder (local
    or ``s3://``) holding exactly one of them.

    Raises :class:`~airflow_emr_sizing.exceptions.EventLogError` when nothing can be read there;
    a log that is cut short or partly corrupt yields what could be read, with warnings.

    :param s3_client: makes the S3 client to read with; without it, an ``S3Hook`` of
        ``aws_conn_id`` does.
    """
    return _summarize(open_event_log(location, aws_conn_id=aws_conn_id, s3_client=s3_client))


def read_run_event_logs(
    location: str, *, aws_conn_id: str | None = None, s3_client: Callable[[], Any] | None = None
) -> EventLogSummary:
    """Summarise every application log at ``location`` as one run's: see :func:`combine_summaries`.

    A run's own folder holds one application log per driver attempt (EMR's job retry policy
    restarts a failed driver, which starts a new application): the run used what all of them did.
    """
    logs = open_event_logs(location, aws_conn_id=aws_conn_id, s3_client=s3_client)
    return combine_summaries([_summarize(log) for log in logs])


def combine_summaries(attempts: list[EventLogSummary]) -> EventLogSummary:
    """One run's usage from its applications, which ran one after another (driver attempts).

    Peaks are the largest of any attempt, counts and times add up, CPU's p90 is over every
    attempt's samples, OOM is any attempt's. The run is complete only if every log is; it is in
    progress only while its last attempt is: an earlier attempt's log left ``.inprogress`` is that
    of a driver that died (a later one started), which no wait completes. Which app, name, version
    and Spark conf: the last attempt's.
    """
    if len(attempts) == 1:
        return attempts[0]
    ordered = sorted(attempts, key=lambda a: a.started_at or datetime.max.replace(tzinfo=timezone.utc))
    last = ordered[-1]
    starts = [a.started_at for a in ordered if a.started_at]
    ends = [a.ended_at for a in ordered if a.ended_at]
    samples = [sample for a in ordered for sample in a.cpu_samples]
    bases = {a.memory_basis for a in ordered if a.memory_basis}
    combined = EventLogSummary(
        app_id=last.app_id,
        app_name=last.app_name,
        spark_version=last.spark_version,
        started_at=min(starts, default=None),
        ended_at=max(ends, default=None),
        executors=max(a.executors for a in ordered),
        executors_added=sum(a.executors_added for a in ordered),
        peak_pod_memory_mib=_largest(a.peak_pod_memory_mib for a in ordered),
        peak_heap_mib=_largest(a.peak_heap_mib for a in ordered),
        memory_basis=bases.pop() if len(bases) == 1 else "mixed" if bases else None,
        cpu_used_cores_p90=round(percentile_90(samples), 3) if samples else None,
        cpu_time_s=sum(a.cpu_time_s for a in ordered),
        run_time_s=sum(a.run_time_s for a in ordered),
        tasks=sum(a.tasks for a in ordered),
        failed_tasks=sum(a.failed_tasks for a in ordered),
        oom=any(a.oom for a in ordered),
        oom_evidence=[e for a in ordered for e in a.oom_evidence][:_MAX_EVIDENCE],
        in_progress=last.in_progress,
        spark_conf=dict(last.spark_conf),
        warnings=[f"{len(ordered)} application logs (driver attempts) read as one run"]
        + [f"{a.app_id or 'an application'}: {w}" for a in ordered for w in a.warnings],
        events=sum(a.events for a in ordered),
        complete=all(a.complete for a in ordered),
        cpu_samples=samples,
    )
    if combined.started_at and combined.ended_at:
        combined.duration_s = max(0.0, (combined.ended_at - combined.started_at).total_seconds())
    return combined


def _largest(values: Iterable[int | None]) -> int | None:
    return max((v for v in values if v is not None), default=None)


def _summarize(log: EventLogFiles) -> EventLogSummary:
    reader = _Summarizer()
    for name in log.files:
        with log.open(name) as stream:
            try:
                # closed here, whatever happens: its thread must stop before the stream closes
                with contextlib.closing(read_ahead(decompressed_chunks(stream))) as chunks:
                    reader.consume(chunks)
            except TruncatedStream as err:
                reader.truncated = True
                reader.summary.warnings.append(
                    f"{name}: compressed stream cut short ({err}); read up to there"
                )
                reader.end_of_file()
    summary = reader.finish()
    summary.in_progress = log.in_progress
    summary.complete = summary.complete and not log.in_progress
    if log.in_progress:
        summary.warnings.insert(0, "the log is still in progress: the application had not finished")
    return summary


def summarize_chunks(chunks: Iterable[bytes]) -> EventLogSummary:
    """Summarise one event-log file given as decompressed byte chunks (split anywhere)."""
    reader = _Summarizer()
    reader.consume(chunks)
    return reader.finish()


class _Summarizer:
    """The streaming state: bounded by executors and minutes of the run, never by the log size."""

    def __init__(self) -> None:
        self.summary = EventLogSummary()
        self.properties: dict[str, str] = {}
        self.alive: set[str] = set()
        self.added: dict[str, int] = {}  # executor -> added at (ms)
        self.removed: dict[str, int] = {}
        self.peaks: dict[str, list[int]] = {}
        self.zero_metric_executors: set[str] = set()
        self.stage_metrics_events = 0
        self.cpu: dict[str, dict[int, float]] = {}  # executor -> minute bucket -> CPU seconds
        self.names: dict[bytes, str] = {}
        self.start_ms: int | None = None
        self.end_ms: int | None = None
        self.last_ms = 0
        self.events = 0  # rare events read (task ends are summary.tasks)
        self.bad_lines = 0
        self.truncated = False  # a compressed stream ended mid-frame, or the last line mid-event
        self.non_event_lines = 0
        self.gpu_oom_tasks = 0
        self.implausible_tasks = 0
        self.carry = b""
        self.last_metrics: dict[bytes, bytes] = {}

    # -- scanning ---------------------------------------------------------------------------------

    def consume(self, chunks: Iterable[bytes]) -> None:
        """Read one file's decompressed chunks; lines may span chunks, never files."""
        self.carry = b""
        for chunk in chunks:
            first = chunk.find(b"\n")
            if first < 0:
                self.carry += chunk
                continue
            start = 0
            if self.carry:  # the line cut by the previous chunk, completed (not the whole chunk)
                head = self.carry + chunk[: first + 1]
                self.feed(head, 0, len(head))
                start = first + 1
            last = chunk.rfind(b"\n")
            self.feed(chunk, start, last + 1)
            self.carry = chunk[last + 1 :]
        self.end_of_file()

    def end_of_file(self) -> None:
        carry, self.carry = self.carry, b""
        if carry.strip():
            self.last_line(carry)

    def feed(self, buf: bytes, pos: int, end: int) -> None:
        """Handle every line of ``buf[pos:end]`` (which ends with a newline).

        Line ends are found with ``bytes.find`` (memchr); a line's event name is read from its
        first bytes, so uninteresting lines cost a few hundred nanoseconds whatever their size.
        """
        find, startswith, rare = buf.find, buf.startswith, _RARE_EVENTS
        while pos < end:
            stop = find(b"\n", pos, end)
            if startswith(_TASK_END, pos):
                try:
                    self._task_end(buf, pos, stop)
                except (ValueError, KeyError, TypeError, AttributeError, IndexError):
                    self.bad_lines += 1
            elif startswith(_TASK_START, pos):  # as many as task ends, never needed
                pass
            elif startswith(b'{"Event":"', pos):
                quote = find(b'"', pos + 10, stop)
                if quote < 0:  # the event name never ends: a corrupt line
                    self.bad_lines += 1
                elif startswith(b"SparkListener", pos + 10) and (name := buf[pos + 23 : quote]) in rare:
                    try:
                        self._event(name.decode(), json.loads(buf[pos:stop]))
                        self.events += 1
                    except (ValueError, KeyError, TypeError, AttributeError):
                        self.bad_lines += 1
            elif stop > pos:
                self._odd_line(buf[pos:stop])
            pos = stop + 1

    def last_line(self, line: bytes) -> None:
        """The log's final line, without its newline: complete, or cut short mid-write."""
        try:
            json.loads(line)
        except ValueError:
            self.truncated = True
            self.summary.warnings.append("the last line is cut short (log truncated or still being written)")
            return
        buf = line + b"\n"
        self.feed(buf, 0, len(buf))

    def _odd_line(self, line: bytes) -> None:
        """A line not in Spark's own compact form: parsed whole, then read like the others."""
        if not line.strip():
            return
        try:
            event = json.loads(line)
            name = str(event["Event"])
        except (ValueError, KeyError, TypeError):
            self.non_event_lines += 1
            return
        if name.startswith("SparkListener"):
            compact = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            if compact.startswith(b'{"Event":"'):
                self.feed(compact, 0, len(compact))

    # -- events -----------------------------------------------------------------------------------

    def _event(self, name: str, event: dict[str, Any]) -> None:
        if name == "StageExecutorMetrics":
            self.stage_metrics_events += 1
            self._peaks(str(event["Executor ID"]), event.get("Executor Metrics") or {})
        elif name == "ExecutorAdded":
            self._added(str(event["Executor ID"]), int(event["Timestamp"]))
        elif name == "ExecutorRemoved":
            self._removed(str(event["Executor ID"]), int(event["Timestamp"]), event.get("Removed Reason"))
        elif name == "EnvironmentUpdate":
            self.properties.update({str(k): str(v) for k, v in (event.get("Spark Properties") or {}).items()})
        elif name == "ApplicationStart":
            self.summary.app_id = event.get("App ID") or self.summary.app_id
            self.summary.app_name = event.get("App Name") or self.summary.app_name
            self.start_ms = int(event["Timestamp"])
        elif name == "ApplicationEnd":
            self.end_ms = int(event["Timestamp"])
        elif name == "LogStart":
            self.summary.spark_version = event.get("Spark Version")

    def _added(self, executor: str, at: int) -> None:
        if executor == _DRIVER:
            return
        self.summary.executors_added += 1
        self.added.setdefault(executor, at)
        self.alive.add(executor)
        self.summary.executors = max(self.summary.executors, len(self.alive))
        self.last_ms = max(self.last_ms, at)

    def _removed(self, executor: str, at: int, reason: Any) -> None:
        self.alive.discard(executor)
        self.removed[executor] = at
        self.last_ms = max(self.last_ms, at)
        if reason and _OOM.search(str(reason)):
            self._oom(f"executor {executor} removed: {reason}")

    def _oom(self, evidence: str) -> None:
        self.summary.oom = True
        text = " ".join(evidence.split())[:300]
        if len(self.summary.oom_evidence) < _MAX_EVIDENCE and text not in self.summary.oom_evidence:
            self.summary.oom_evidence.append(text)

    def _peaks(self, executor: str, metrics: dict[str, Any]) -> None:
        if executor == _DRIVER:
            return
        values = [int(metrics.get(name) or 0) for name in MEMORY_METRICS]
        if not any(values):
            self.zero_metric_executors.add(executor)
            return
        peaks = self.peaks.get(executor)
        if peaks is None:
            self.peaks[executor] = values
        else:
            for i, value in enumerate(values):
                peaks[i] = max(peaks[i], value)

    def _task_end(self, buf: bytes, start: int, end: int) -> None:
        """Read a ``SparkListenerTaskEnd`` line by its keys, without parsing all of it.

        A successful task in Spark's own key order is read at its head (launch, executor, finish)
        and, found from the line's end, its ``Task Metrics`` and ``Task Executor Metrics``; the
        bulk of the line (accumulables) is never looked at. Anything unexpected (a failure, another
        version's layout) takes the general path, which checks what it reads. This is the hot loop
        of the reader: one call per task, so it is written flat.
        """
        find = buf.find
        reason = find(_SUCCESS_INFO, start, start + 256)
        metrics_at = buf.rfind(b'"Task Metrics":{', start, end)
        try:
            if reason < 0 or metrics_at < 0:
                raise ValueError("not a plain successful task end")
            launch_at = find(b'"Launch Time":', reason, metrics_at) + 14
            comma = find(b",", launch_at, end)
            launch = int(buf[launch_at:comma])
            if buf[comma : comma + 16] != b',"Executor ID":"':
                raise ValueError("unexpected task info layout")
            quote = find(b'"', comma + 16, end)
            executor = buf[comma + 16 : quote]
            finish_at = find(b'"Finish Time":', quote, metrics_at) + 14
            finish = int(buf[finish_at : find(b",", finish_at, end)])
            run_at = find(b'"Executor Run Time":', metrics_at, end) + 20
            comma = find(b",", run_at, end)
            run_ms = int(buf[run_at:comma])
            if buf[comma : comma + 21] != b',"Executor CPU Time":':
                raise ValueError("unexpected task metrics layout")
            cpu_ns = int(buf[comma + 21 : find(b",", comma + 21, end)])
        except ValueError:
            self._task_end_general(buf, start, end)
            return
        summary = self.summary
        summary.tasks += 1
        if executor == b"driver":
            return
        name = self.names.get(executor) or self._name(executor)
        at = buf.rfind(b'"Task Executor Metrics":{', start, metrics_at)
        if at > 0:
            raw = buf[at + 24 : find(b"}", at, metrics_at) + 1]
            if self.last_metrics.get(executor) != raw:  # consecutive tasks mostly repeat them
                self.last_metrics[executor] = raw
                self._task_metrics(name, raw)
        if run_ms > 0:
            summary.run_time_s += run_ms / 1000
        self.last_ms = max(self.last_ms, finish)
        if cpu_ns > 0 and 0 < launch <= finish:
            summary.cpu_time_s += cpu_ns / 1e9
            bucket = launch // _BUCKET_MS
            if finish // _BUCKET_MS != bucket:
                self._spread_cpu(name, launch, finish, cpu_ns / 1e9)
                return
            buckets = self.cpu.get(name)
            if buckets is None:
                buckets = self.cpu[name] = {}
            buckets[bucket] = buckets.get(bucket, 0.0) + cpu_ns / 1e9

    def _name(self, executor: bytes) -> str:
        name = self.names[executor] = executor.decode()
        return name

    def _task_end_general(self, buf: bytes, start: int, end: int, *, counted: bool = False) -> None:
        """Any task end: failures, other Spark versions' key orders."""
        summary = self.summary
        if not counted:
            summary.tasks += 1
        reason_at = buf.find(b'"Task End Reason":', start, end) + 18
        info = buf.find(b'"Task Info":{', start, end)
        if info < 0 or reason_at < 18:
            raise ValueError("task end without reason or info")
        executor = _string_after(buf, b'"Executor ID":"', info, end)
        if not buf.startswith(b'{"Reason":"Success"}', reason_at):
            summary.failed_tasks += 1
            reason, _ = json.JSONDecoder().raw_decode(buf[reason_at:end].decode())
            self._task_failure(executor, reason)
        if executor == _DRIVER:
            return
        self._executor_metrics(buf, executor, info, end)
        self._task_times(
            executor,
            _int_after(buf, b'"Launch Time":', info, end),
            _int_after(buf, b'"Finish Time":', info, end),
            _int_after(buf, b'"Executor Run Time":', info, end),
            _int_after(buf, b'"Executor CPU Time":', info, end),
        )

    def _executor_metrics(self, buf: bytes, executor: str, start: int, end: int) -> None:
        """The task's ``Task Executor Metrics`` (the executor's peaks while it ran), if new."""
        at = buf.rfind(b'"Task Executor Metrics":{', start, end)
        if at < 0:
            return
        raw = buf[at + 24 : buf.find(b"}", at, end) + 1]
        key = executor.encode()
        if self.last_metrics.get(key) != raw:
            self.last_metrics[key] = raw
            self._task_metrics(executor, raw)

    def _task_metrics(self, executor: str, raw: bytes) -> None:
        if _NONZERO.search(raw):
            self._peaks(executor, json.loads(raw))
        else:
            self.zero_metric_executors.add(executor)

    def _task_times(self, executor: str, launch: int, finish: int, run_ms: int, cpu_ns: int) -> None:
        summary = self.summary
        if run_ms > 0:
            summary.run_time_s += run_ms / 1000
        if launch > 0 and finish >= launch:
            self.last_ms = max(self.last_ms, finish)
            if cpu_ns > 0:
                summary.cpu_time_s += cpu_ns / 1e9
                self._spread_cpu(executor, launch, finish, cpu_ns / 1e9)

    def _spread_cpu(self, executor: str, launch: int, finish: int, cpu_s: float) -> None:
        buckets = self.cpu.get(executor)
        if buckets is None:
            buckets = self.cpu[executor] = {}
        if finish - launch > _MAX_SPAN_MS:
            self.implausible_tasks += 1  # a corrupt time: do not spread it over years of minutes
            return
        if finish == launch:
            bucket = launch // _BUCKET_MS
            buckets[bucket] = buckets.get(bucket, 0.0) + cpu_s
            return
        for bucket in range(launch // _BUCKET_MS, finish // _BUCKET_MS + 1):
            overlap = min(finish, (bucket + 1) * _BUCKET_MS) - max(launch, bucket * _BUCKET_MS)
            if overlap > 0:
                buckets[bucket] = buckets.get(bucket, 0.0) + cpu_s * overlap / (finish - launch)

    def _task_failure(self, executor: str, reason: dict[str, Any]) -> None:
        kind = reason.get("Reason")
        if kind == "ExecutorLostFailure":
            loss = str(reason.get("Loss Reason") or "")
            if _OOM.search(loss):
                self._oom(f"executor {reason.get('Executor ID', executor)} lost: {loss}")
        elif kind == "ExceptionFailure":
            name = str(reason.get("Class Name") or "")
            description = str(reason.get("Description") or "")
            if any(error in name or error in description for error in _EXECUTOR_OOM_ERRORS):
                if executor != _DRIVER:
                    self._oom(f"task on executor {executor} failed: {name}: {description}")
            elif "OOM" in name or "OutOfMemory" in description:
                self.gpu_oom_tasks += 1  # e.g. RAPIDS' GPU OOMs: device memory, not the pod's

    # -- result -----------------------------------------------------------------------------------

    def finish(self) -> EventLogSummary:
        summary = self.summary
        props = self.properties
        summary.app_id = summary.app_id or props.get("spark.app.id")
        summary.app_name = summary.app_name or props.get("spark.app.name")
        summary.spark_conf = {key: props[key] for key in SIZING_KEYS if key in props}
        summary.events = self.events + summary.tasks
        if self.start_ms is not None:
            summary.started_at = _moment(self.start_ms)
        end = self.end_ms if self.end_ms is not None else self.last_ms or None
        if end is not None:
            summary.ended_at = _moment(end)
        if self.start_ms is not None and end is not None:
            summary.duration_s = max(0.0, (end - self.start_ms) / 1000)
        summary.complete = self.end_ms is not None and not (
            self.bad_lines or self.non_event_lines or self.truncated
        )
        self._memory()
        self._cpu(end)
        self._warnings(end)
        return summary

    def _memory(self) -> None:
        summary = self.summary
        needs, bases = [], set()
        for peaks in self.peaks.values():
            rss = peaks[_JVM_RSS] + peaks[_PY_RSS] + peaks[_OTHER_RSS]
            if rss > 0:
                needs.append(rss)
                bases.add("process_tree")
            else:
                # Spark's off-heap pages (spark.memory.offHeap.enabled) come from Unsafe.allocateMemory:
                # in no JVM pool, so counted on their own (0 when off-heap memory is disabled)
                jvm = (
                    peaks[_HEAP] + peaks[_OFF_HEAP] + peaks[_DIRECT] + peaks[_MAPPED] + peaks[_SPARK_OFF_HEAP]
                )
                if jvm > 0:
                    needs.append(jvm)
                    bases.add("jvm")
        if needs:
            summary.peak_pod_memory_mib = math.ceil(max(needs) / MIB)
            summary.memory_basis = bases.pop() if len(bases) == 1 else "mixed"
        heaps = [peaks[_HEAP] for peaks in self.peaks.values() if peaks[_HEAP] > 0]
        if heaps:
            summary.peak_heap_mib = math.ceil(max(heaps) / MIB)

    def _cpu(self, app_end: int | None) -> None:
        width = CPU_BUCKET_S * 1000
        samples: list[float] = []
        for executor, buckets in self.cpu.items():
            born = self.added.get(executor, min(buckets, default=0) * width)
            died = self.removed.get(executor, app_end or self.last_ms)
            if died <= born:
                continue
            threshold = min(15_000, (died - born) / 2)
            minutes: Iterable[int] = range(born // width, died // width + 1)
            if died - born > _MAX_SPAN_MS:  # implausible lifetime: only the minutes with tasks
                minutes = sorted(buckets)
            for bucket in minutes:
                overlap = min(died, (bucket + 1) * width) - max(born, bucket * width)
                if overlap >= threshold and overlap > 0:
                    samples.append(buckets.get(bucket, 0.0) / (overlap / 1000))
        if samples:
            self.summary.cpu_samples = samples
            self.summary.cpu_used_cores_p90 = round(percentile_90(samples), 3)

    def _warnings(self, app_end: int | None) -> None:
        summary, warn = self.summary, self.summary.warnings.append
        if self.bad_lines:
            warn(f"{self.bad_lines} event lines could not be read (corrupt) and were skipped")
        if self.non_event_lines:
            warn(f"{self.non_event_lines} lines are not Spark events (corrupt or not an event log)")
        if summary.app_id is None and summary.tasks == 0:
            warn("no application events found: is this a Spark event log?")
        if app_end is None or self.end_ms is None:
            warn("no SparkListenerApplicationEnd: the log is incomplete; duration is up to its last event")
        if summary.executors_added == 0:
            warn("no executors were added (local mode?): tasks ran in the driver, which is not sized")
        if summary.peak_pod_memory_mib is None and summary.executors_added:
            warn("no executor memory metrics in the log: peak memory unknown")
        self._metric_warnings()

    def _metric_warnings(self) -> None:
        summary, props, warn = self.summary, self.properties, self.summary.warnings.append
        if not self.stage_metrics_events and not _true(
            props.get("spark.eventLog.logStageExecutorMetrics")
            or props.get("spark.eventLog.logStageExecutorMetrics.enabled")  # Spark 3.0 previews
        ):
            warn(
                "stage executor metrics are not logged (spark.eventLog.logStageExecutorMetrics is not "
                "true): peaks come only from task-end metrics, which miss memory between tasks"
            )
        if summary.memory_basis != "process_tree" and summary.executors_added:
            warn(
                "process-tree metrics are absent (spark.executor.processTreeMetrics.enabled is not true): "
                "peak pod memory is JVM heap + off-heap + direct + mapped pools + Spark's off-heap memory, "
                "which misses native and Python memory"
            )
        silent = self.zero_metric_executors - set(self.peaks)
        if silent:
            warn(
                f"{len(silent)} executors reported only zero memory metrics: tasks shorter than "
                "spark.executor.metrics.pollingInterval (or metrics not polled) leave them at zero"
            )
        if summary.tasks and summary.cpu_used_cores_p90 is None and summary.executors_added:
            warn("no task CPU time (Executor CPU Time) recorded: CPU usage unknown")
        if self.implausible_tasks:
            warn(f"{self.implausible_tasks} tasks ran longer than a week by their times: left out of CPU")
        if self.gpu_oom_tasks:
            warn(f"{self.gpu_oom_tasks} tasks failed with a GPU out-of-memory (not executor pod memory)")


def percentile_90(values: list[float]) -> float:
    """The 90th percentile with linear interpolation between closest ranks (numpy's default)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def _int_after(buf: bytes, key: bytes, start: int, end: int) -> int:
    at = buf.find(key, start, end)
    if at < 0:
        return -1
    match = _INT.match(buf, at + len(key))
    return int(match.group()) if match else -1


def _string_after(buf: bytes, key: bytes, start: int, end: int) -> str:
    at = buf.find(key, start, end)
    if at < 0:
        raise ValueError(f"no {key!r}")
    value_at = at + len(key)
    return buf[value_at : buf.index(b'"', value_at, end)].decode()


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"
