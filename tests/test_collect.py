"""Recording what a run used: event logs found in the run's folder, merged with its outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eventlog_reference import reference_summary, zstd_or_plain_lines
from test_operator_dag import RUN_AT, run, seed, sent_request

from airflow_emr_sizing.audit import AUDIT_XCOM_KEY
from airflow_emr_sizing.collect import UsageSources, event_log_location, gather_usage, run_event_log_dir
from airflow_emr_sizing.outcome import looks_like_oom
from airflow_emr_sizing.signature import build_signature
from airflow_emr_sizing.sql_store import SqlStore
from airflow_emr_sizing.store import Observation

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_LOG = FIXTURES / "spark-events" / "application_1553914137147_0018"
OOM_LOG = FIXTURES / "eventlogs" / "executor_oom"
BUCKET_DIR = "s3://dw-emr-logs/spark-events"


def outcome(**fields: Any) -> Observation:
    signature = build_signature(
        "dw-blog-load", RUN_AT, "Asia/Seoul", {"spark.executor.instances": "10"}, "KR"
    )
    return Observation.of(
        signature, job_id="jr-1", started_at=datetime(2026, 9, 25, 5, tzinfo=timezone.utc), **fields
    )


def test_run_event_log_dir_is_unique_and_safe_for_s3_keys() -> None:
    got = run_event_log_dir("s3://b/logs/", "dw hourly", "load", "scheduled__2026-09-25T05:05:00+00:00", 2)
    assert got == "s3://b/logs/dw_hourly/load/scheduled__2026-09-25T05_05_00_00_00/2/"
    assert run_event_log_dir("s3://b", "../x", "t", "r/../../y", 1) == "s3://b/x/t/r_.._.._y/1/"
    assert run_event_log_dir("s3://b", "d", "t", "r", 2, map_index=3) == "s3://b/d/t/r/3/2/"  # mapped


def test_event_log_location_is_read_from_the_request_as_submitted() -> None:
    driver = {
        "sparkSubmitJobDriver": {
            "entryPoint": "x.py",
            "sparkSubmitParameters": "--conf spark.eventLog.enabled=true",
        }
    }
    defaults = {"classification": "spark-defaults", "properties": {"spark.eventLog.dir": "s3://b/p/"}}
    overrides = {"applicationConfiguration": [defaults]}
    assert event_log_location({"jobDriver": driver, "configurationOverrides": overrides}) == "s3://b/p/"
    assert event_log_location({"jobDriver": driver}) is None
    assert event_log_location({"jobDriver": {}}) is None


def test_event_log_evidence_is_merged_into_the_outcome(tmp_path: Path) -> None:
    shutil.copy(SHARED_LOG, tmp_path / SHARED_LOG.name)
    expected = reference_summary(list(zstd_or_plain_lines(SHARED_LOG)))

    observation, report = gather_usage(
        outcome(state="COMPLETED", pod_memory_mib=8576, executors=10),
        UsageSources(event_log=True),
        event_log=str(tmp_path),
    )

    assert observation.peak_pod_memory_mib == expected["peak_pod_memory_mib"]
    assert observation.peak_heap_mib == expected["peak_heap_mib"]
    assert observation.cpu_used_cores_p90 == pytest.approx(expected["cpu_used_cores_p90"], abs=0.001)
    assert observation.executors == expected["executors"] == 3
    assert (observation.pod_memory_mib, observation.state) == (8576, "COMPLETED")  # the outcome's own
    assert observation.source == "outcome+eventlog" and report.sources == ["outcome", "eventlog"]


def test_a_late_event_log_is_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # EMR uploads the log while we wait
            shutil.copy(SHARED_LOG, tmp_path / SHARED_LOG.name)

    sources = UsageSources(event_log=True, event_log_attempts=4, event_log_retry_delay=7)
    observation, _ = gather_usage(outcome(), sources, event_log=str(tmp_path), sleep=sleep)
    assert sleeps == [7, 7] and observation.peak_heap_mib == 940

    sleeps.clear()
    empty = tmp_path / "never"
    empty.mkdir()
    observation, report = gather_usage(
        outcome(),
        UsageSources(event_log=True, event_log_attempts=3),
        event_log=str(empty),
        sleep=sleeps.append,
    )
    assert len(sleeps) == 2 and observation.peak_pod_memory_mib is None
    assert report.sources == ["outcome"] and "after 3 attempts" in report.warnings[0]


def test_no_usage_source_at_all_is_said_since_nothing_can_then_be_recommended() -> None:
    observation, report = gather_usage(outcome(), UsageSources())
    assert observation.source == "outcome" and observation.peak_pod_memory_mib is None
    assert report.warnings == [
        "no usage source configured (event_log_dir, prometheus_url): only the outcome is recorded, "
        "and recommendations need measured usage"
    ]
    assert (
        gather_usage(outcome(), UsageSources(event_log=True), event_log=None)[1]
        .warnings[0]
        .startswith("event log:")
    )


def test_no_event_logging_in_the_request_is_a_warning_not_an_error() -> None:
    observation, report = gather_usage(outcome(), UsageSources(event_log=True), event_log=None)
    assert observation.source == "outcome" and "did not log events" in report.warnings[0]


def test_an_oom_seen_only_in_the_event_log_is_recorded(tmp_path: Path) -> None:
    observation, _ = gather_usage(
        outcome(state="COMPLETED"), UsageSources(event_log=True), event_log=str(OOM_LOG)
    )
    assert observation.oom is True


DRIVER_OOM = 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space'


def test_an_oom_the_whole_event_log_does_not_show_is_not_an_executors(tmp_path: Path) -> None:
    """The failure text is a guess; a complete log saw every executor loss and task failure."""
    shutil.copy(SHARED_LOG, tmp_path / SHARED_LOG.name)
    driver_oom = outcome(state="FAILED", oom=True, failure_reason=DRIVER_OOM)

    observation, report = gather_usage(driver_oom, UsageSources(event_log=True), event_log=str(tmp_path))

    assert observation.oom is False and observation.failure_reason == DRIVER_OOM
    assert any("no executor did in the event log" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("app-1.inprogress", lambda log: log[:-500]),  # still being written
        ("app-1", lambda log: log[: len(log) // 2]),  # ends mid-run, no ApplicationEnd
        ("app-1", lambda log: log.replace(b'ExecutorAdded",', b'ExecutorAdded",,', 1)),  # a corrupt line
        ("app-1", lambda log: log.split(b"\n", 1)[0] + b"\n"),  # LogStart alone
        ("app-1", lambda log: b""),
    ],
    ids=["in-progress", "half", "corrupt", "log-start", "empty"],
)
def test_an_oom_stays_unless_the_whole_event_log_was_read(tmp_path: Path, name: str, cut: Any) -> None:
    """A driver killed mid-run leaves a partial log: it may not have seen the executor OOM."""
    (tmp_path / name).write_bytes(cut(SHARED_LOG.read_bytes()))
    oom = outcome(state="FAILED", oom=True, failure_reason="exit code 137")

    observation, _ = gather_usage(
        oom, UsageSources(event_log=True, event_log_attempts=1), event_log=str(tmp_path)
    )

    assert observation.oom is True


AGGREGATION = FIXTURES / "eventlogs" / "aggregation" / "app-20261124100944-0000"
PYTHON_UDF = FIXTURES / "eventlogs" / "python_udf" / "app-20261124101353-0000"
EXECUTOR_OOM = OOM_LOG / "app-20261124101449-0000"


def attempts_folder(folder: Path, *logs: tuple[Path, str, Any]) -> Path:
    """A run's folder holding one application log per driver attempt: (log, name, how it ends)."""
    folder.mkdir(exist_ok=True)
    for log, name, cut in logs:
        (folder / name).write_bytes(cut(log.read_bytes()))
    return folder


def whole(log: bytes) -> bytes:
    return log


def test_every_driver_attempt_in_the_run_folder_is_learnt_from(tmp_path: Path) -> None:
    """EMR's job retry policy restarts the driver: each attempt leaves its own application log."""
    from airflow_emr_sizing.eventlog import percentile_90, read_event_log

    folder = attempts_folder(
        tmp_path / "1", (PYTHON_UDF, PYTHON_UDF.name, whole), (AGGREGATION, AGGREGATION.name, whole)
    )
    udf, aggregation = read_event_log(str(PYTHON_UDF)), read_event_log(str(AGGREGATION))
    sleeps: list[float] = []

    observation, report = gather_usage(
        outcome(state="COMPLETED"),
        UsageSources(event_log=True, run_folder=str(folder)),
        event_log=str(folder),
        sleep=sleeps.append,
    )

    assert sleeps == [] and report.sources == ["outcome", "eventlog"]
    # the largest pod is the Python job's, the largest heap the aggregation's
    assert (udf.peak_pod_memory_mib, aggregation.peak_pod_memory_mib) == (537, 283)
    assert (udf.peak_heap_mib, aggregation.peak_heap_mib) == (87, 96)
    assert (observation.peak_pod_memory_mib, observation.peak_heap_mib) == (537, 96)
    assert observation.executors == 2 and observation.oom is False
    pooled = percentile_90(udf.cpu_samples + aggregation.cpu_samples)
    assert observation.cpu_used_cores_p90 == pytest.approx(pooled, abs=0.001)
    learned = report.event_log
    assert learned is not None
    assert learned["tasks"] == udf.tasks + aggregation.tasks
    assert learned["started_at"] == aggregation.to_json()["started_at"]  # the first attempt's start
    assert learned["ended_at"] == udf.to_json()["ended_at"]  # the last attempt's end
    assert learned["app_id"] == udf.app_id  # the last attempt
    assert report.warnings == ["event log: 2 application logs (driver attempts) read as one run"]


def test_an_attempt_lost_to_oom_and_a_dead_drivers_log_still_count_without_waiting(tmp_path: Path) -> None:
    """An earlier attempt whose driver died leaves its log in progress for good: no wait helps."""
    folder = attempts_folder(
        tmp_path / "1",
        (AGGREGATION, AGGREGATION.name + ".inprogress", lambda log: log[: len(log) // 2]),
        (EXECUTOR_OOM, EXECUTOR_OOM.name, whole),
    )
    sleeps: list[float] = []

    observation, report = gather_usage(
        outcome(state="COMPLETED"),
        UsageSources(event_log=True, event_log_attempts=3, run_folder=str(folder)),
        event_log=str(folder),
        sleep=sleeps.append,
    )

    assert sleeps == [] and observation.oom is True and observation.peak_pod_memory_mib == 690
    assert report.event_log is not None and report.event_log["in_progress"] is False
    assert any(
        w.startswith("event log: app-20261124100944-0000: the log is still in progress")
        for w in report.warnings
    )


def test_an_oom_text_stays_when_an_attempts_log_was_not_read_whole(tmp_path: Path) -> None:
    """Complete only if every attempt's log is: the cut one may have seen the OOM."""
    folder = attempts_folder(
        tmp_path / "1",
        (AGGREGATION, AGGREGATION.name, lambda log: log[: len(log) // 2]),
        (PYTHON_UDF, PYTHON_UDF.name, whole),
    )
    oom = outcome(state="FAILED", oom=True, failure_reason="exit code 137")

    observation, _ = gather_usage(
        oom, UsageSources(event_log=True, run_folder=f"{folder}/"), event_log=str(folder)
    )

    assert observation.oom is True and observation.source == "outcome+eventlog"


def test_a_folder_of_the_jobs_own_is_never_read_as_one_run(tmp_path: Path) -> None:
    """Where the job logs itself (a dry run, or its own spark.eventLog.dir), other runs log too."""
    folder = attempts_folder(
        tmp_path / "shared", (PYTHON_UDF, PYTHON_UDF.name, whole), (AGGREGATION, AGGREGATION.name, whole)
    )
    sleeps: list[float] = []

    observation, report = gather_usage(
        outcome(state="COMPLETED"),
        UsageSources(event_log=True, run_folder=str(tmp_path / "run" / "1")),
        event_log=str(folder),
        sleep=sleeps.append,
    )

    assert sleeps == [] and report.sources == ["outcome"] and observation.peak_pod_memory_mib is None
    assert len(report.warnings) == 1 and "2 application logs under" in report.warnings[0]


@pytest.fixture
def log_bucket(moto_emr: Any) -> Any:
    """An S3 client on moto's server, with SHARED_LOG uploaded as a run's only log."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_emr.endpoint)
    s3.create_bucket(Bucket="collect-logs")
    s3.put_object(Bucket="collect-logs", Key=f"run/1/{SHARED_LOG.name}", Body=SHARED_LOG.read_bytes())
    return s3


class CutStream:
    """The raw HTTP stream under botocore's real body, cut after ``keep`` bytes as a network does."""

    def __init__(self, raw: Any, keep: int, cut: Callable[[], Exception] | None) -> None:
        self.raw, self.left, self.cut = raw, keep, cut

    def read(self, amt: int | None = None) -> bytes:
        if self.left <= 0:
            if self.cut is None:  # the connection ends early: fewer bytes than Content-Length
                return b""
            raise self.cut()
        data: bytes = self.raw.read(min(amt or self.left, self.left))
        self.left -= len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def cut_first_read(s3: Any, cut: Callable[[], Exception] | None) -> None:
    """The first GetObject's body breaks 64 KiB in; the next ones are whole."""
    cuts = [cut]

    def after_get_object(parsed: dict[str, Any], **_: Any) -> None:
        if cuts and "Body" in parsed:
            body = parsed["Body"]
            body._raw_stream = CutStream(body._raw_stream, 64 * 1024, cuts.pop())

    s3.meta.events.register("after-call.s3.GetObject", after_get_object)


@pytest.mark.integration
@pytest.mark.parametrize(
    "cut",
    [
        lambda: urllib3_error("ProtocolError", "Connection broken: ConnectionResetError(104)"),
        lambda: urllib3_error("ReadTimeoutError", None, None, "Read timed out."),
        None,
    ],
    ids=["connection-reset", "read-timeout", "incomplete-read"],
)
def test_an_s3_read_broken_mid_stream_is_read_again(log_bucket: Any, cut: Any) -> None:
    cut_first_read(log_bucket, cut)
    sleeps: list[float] = []

    observation, report = gather_usage(
        outcome(),
        UsageSources(event_log=True, event_log_attempts=3, event_log_retry_delay=5),
        event_log="s3://collect-logs/run/1/",
        sleep=sleeps.append,
        s3_client=lambda: log_bucket,
    )

    assert sleeps == [5] and report.sources == ["outcome", "eventlog"]
    assert observation.peak_heap_mib == 940 and observation.executors == 3


def urllib3_error(name: str, *args: Any) -> Exception:
    import urllib3.exceptions

    error: Exception = getattr(urllib3.exceptions, name)(*args)
    return error


@pytest.mark.integration
def test_an_event_log_error_that_cannot_change_is_not_waited_for(log_bucket: Any) -> None:
    sleeps: list[float] = []
    sources = UsageSources(event_log=True, event_log_attempts=3, event_log_retry_delay=5)

    _, report = gather_usage(
        outcome(),
        sources,
        event_log="s3://no-such-log-bucket/run/1/",
        sleep=sleeps.append,
        s3_client=lambda: log_bucket,
    )
    assert sleeps == [] and report.sources == ["outcome"]
    assert "NoSuchBucket" in report.warnings[0] and "attempts" not in report.warnings[0]

    _, report = gather_usage(outcome(), sources, event_log="s3:///run/1/", sleep=sleeps.append)
    assert sleeps == [] and "not an S3 URL" in report.warnings[0]


@pytest.mark.parametrize(
    ("reason", "oom"),
    [
        ("com.nvidia.spark.rapids.jni.GpuSplitAndRetryOOM: GPU OutOfMemory: could not split inputs", False),
        ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", False),
        ("ExecutorLostFailure (executor 3 exited): exit code 137 (possible container OOM)", True),
        ("GpuRetryOOM on executor 2; executor 5: java.lang.OutOfMemoryError: Java heap space", True),
    ],
)
def test_a_gpu_out_of_memory_text_is_not_an_executor_oom(reason: str, oom: bool) -> None:
    assert looks_like_oom(reason) is oom


# -- the operator, for real: dag.test() with EMR and S3 served by moto ------------------------------


def history_entry(store_path: Path, signature_hash: str, job_id: str) -> Observation:
    (entry,) = [o for o in SqlStore(f"sqlite:///{store_path}").history(signature_hash) if o.job_id == job_id]
    return entry


@pytest.mark.integration
@pytest.mark.parametrize("dag_name", ["sized_sync", "sized_deferrable"])
def test_sized_run_records_its_event_log(
    dags: Any, dag_name: str, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    signature_hash = seed(store_path, [3000, 3200, 3100])
    expected = reference_summary(list(zstd_or_plain_lines(SHARED_LOG)))

    with moto_emr.finish_runs("COMPLETED", after_s=1.0, on_end=moto_emr.event_log_writer(SHARED_LOG)):
        from airflow_emr_sizing.testing import run_dag

        result = run_dag(
            getattr(dags, dag_name),
            logical_date=RUN_AT,
            run_conf={"virtual_cluster_id": virtual_cluster_id, "event_log_dir": BUCKET_DIR},
        )

    assert result.state == "success"
    job_id = result.xcom("load")
    sent = sent_request(moto_emr, job_id)
    run_dir = sent.get("spark.eventLog.dir")
    assert run_dir.startswith(f"{BUCKET_DIR}/{dag_name}/load/") and run_dir.endswith("/1/")
    assert sent.get("spark.eventLog.enabled") == "true"
    assert sent.get("spark.eventLog.logStageExecutorMetrics") == "true"
    assert sent.get("spark.executor.processTreeMetrics.enabled") == "true"

    recorded = history_entry(store_path, signature_hash, job_id)
    assert recorded.source == "outcome+eventlog"
    assert recorded.peak_pod_memory_mib == expected["peak_pod_memory_mib"]
    assert recorded.executors == expected["executors"]
    learned = result.xcom("load", AUDIT_XCOM_KEY)["learned"]
    assert learned["recorded"] is True and learned["sources"] == ["outcome", "eventlog"]
    assert learned["event_log"]["location"] == run_dir
    # the folder is known as the run's own, so every driver attempt's log in it is read (deferred too)
    assert result.xcom("load", AUDIT_XCOM_KEY)["arguments"]["usage"]["run_folder"] == run_dir


@pytest.mark.integration
@pytest.mark.parametrize("dag_name", ["sized_sync", "sized_deferrable"])
def test_learning_stops_before_the_tasks_execution_timeout(
    dags: Any,
    dag_name: str,
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow fails a task whose execution_timeout fires (and cancels its job run): reading a
    usage source that keeps the task waiting must give up first, and the run succeed."""
    import threading

    signature_hash = seed(store_path, [3000, 3200, 3100])
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_ATTEMPTS", "12")  # the log never comes
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_RETRY_DELAY", "1")
    dag = getattr(dags, dag_name)
    monkeypatch.setattr(dag.get_task("load"), "execution_timeout", timedelta(seconds=8))

    with moto_emr.finish_runs("COMPLETED", after_s=1.0):
        from airflow_emr_sizing.testing import run_dag

        result = run_dag(
            dag,
            logical_date=RUN_AT,
            run_conf={"virtual_cluster_id": virtual_cluster_id, "event_log_dir": BUCKET_DIR},
        )

    assert result.state == "success"
    learned = result.xcom("load", AUDIT_XCOM_KEY)["learned"]
    assert learned["recorded"] is False and "execution_timeout" in learned["reason"], learned
    for thread in threading.enumerate():  # the reading given up on, left to end on its own
        if thread.name.startswith("emr-sizing: learning"):
            thread.join(timeout=60)
    job_id = result.xcom("load")
    history = SqlStore(f"sqlite:///{store_path}").history(signature_hash)
    assert job_id not in {o.job_id for o in history}  # as the audit says


@pytest.mark.integration
def test_dry_run_injects_no_event_log_conf_and_says_why_usage_is_missing(
    dags: Any,
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    seed(store_path, [3000, 3200, 3100])
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_ATTEMPTS", "1")

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id, dry_run="true", event_log_dir=BUCKET_DIR)

    task_log = "".join(capfd.readouterr())
    usage = [line for line in task_log.splitlines() if "Usage of job" in line]
    # a dry run says why up front (structlog writes "[info", Airflow 3.0's stdlib format " INFO - ")
    assert usage and all("[info" in line or " INFO - " in line for line in usage), usage

    assert result.state == "success"
    task = dags.sized_sync.get_task("load")
    job_run = moto_emr.backend.job_runs[result.xcom("load")]
    assert job_run.job_driver == task.job_driver
    assert job_run.configuration_overrides == task.configuration_overrides
    learned = result.xcom("load", AUDIT_XCOM_KEY)["learned"]
    assert learned["recorded"] is True and learned["sources"] == ["outcome"]
    assert "did not log events" in learned["warnings"][0]


@pytest.mark.integration
def test_a_missing_event_log_never_fails_the_task(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature_hash = seed(store_path, [3000, 3200, 3100])
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_ATTEMPTS", "2")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_RETRY_DELAY", "0.1")

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id, event_log_dir=f"{BUCKET_DIR}/late")

    assert result.state == "success"
    learned = result.xcom("load", AUDIT_XCOM_KEY)["learned"]
    assert "after 2 attempts" in learned["warnings"][0]
    assert history_entry(store_path, signature_hash, result.xcom("load")).source == "outcome"


@pytest.mark.integration
def test_an_event_log_folder_that_cannot_be_made_leaves_event_logging_off(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    """Spark would not start with a missing ``spark.eventLog.dir``: the job runs without our logging."""
    seed(store_path, [3000, 3200, 3100])

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id, event_log_dir="s3://no-such-bucket/logs")

    assert result.state == "success"
    sent = sent_request(moto_emr, result.xcom("load"))
    assert not [key for key in sent.effective if key.startswith("spark.eventLog.")]
    audit = result.xcom("load", AUDIT_XCOM_KEY)
    assert audit["applied"] is True  # the sizes and the label still are
    assert "cannot create s3://no-such-bucket/logs/" in audit["warnings"][0]


@pytest.mark.integration
def test_an_executor_oom_in_the_event_log_sizes_the_next_run_up(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    signature_hash = seed(store_path, [3000, 3200, 3100])
    with moto_emr.finish_runs("COMPLETED", on_end=moto_emr.event_log_writer(OOM_LOG)):
        from airflow_emr_sizing.testing import run_dag

        first = run_dag(
            dags.sized_sync,
            logical_date=RUN_AT,
            run_conf={"virtual_cluster_id": virtual_cluster_id, "event_log_dir": BUCKET_DIR},
        )
    size = first.xcom("load", AUDIT_XCOM_KEY)["recommendation"]["pod_memory_mib"]
    assert history_entry(store_path, signature_hash, first.xcom("load")).oom is True

    again = run(dags.sized_sync, moto_emr, virtual_cluster_id)

    assert again.xcom("load", AUDIT_XCOM_KEY)["recommendation"]["pod_memory_mib"] >= 1.2 * size


# -- what a sized run is given so that its event log exists and has metrics -------------------------


def plan_with(dry_run: bool, metrics: bool, params: str = "", made: list[str] | None = None) -> Any:
    import pendulum

    from airflow_emr_sizing.plan import SizingOptions, plan_sizing
    from airflow_emr_sizing.store import InMemoryStore

    driver = {"sparkSubmitJobDriver": {"entryPoint": "x.py", "sparkSubmitParameters": params}}
    options = SizingOptions(
        app_name="load", dry_run=dry_run, event_log_dir="s3://b/logs/d/t/r/1/", event_log_metrics=metrics
    )
    folders = made if made is not None else []
    return plan_sizing(
        driver,
        None,
        pendulum.datetime(2026, 3, 6, 14),
        options,
        InMemoryStore,
        make_event_log_dir=folders.append,
    )


def test_the_folder_of_a_run_whose_event_logging_sizing_turns_on_is_made_first() -> None:
    made: list[str] = []
    plan_with(dry_run=False, metrics=True, made=made)
    assert made == ["s3://b/logs/d/t/r/1/"]

    made.clear()  # logging turned on into the job's own folder: that one must exist too
    plan_with(False, True, "--conf spark.eventLog.dir=s3://mine/logs", made=made)
    assert made == ["s3://mine/logs"]

    made.clear()  # the job logs events itself, where it says: not ours to make
    plan_with(
        False, True, "--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=s3://mine/", made=made
    )
    assert made == []
    plan_with(False, True, "--conf spark.eventLog.enabled=false", made=made)  # no log: no folder
    assert made == []
    plan_with(dry_run=True, metrics=True, made=made)
    assert made == []


def test_logging_into_a_folder_of_the_job_that_is_not_on_s3_is_left_as_the_job_has_it() -> None:
    import pendulum

    from airflow_emr_sizing.eventlog_sources import make_event_log_dir
    from airflow_emr_sizing.plan import SizingOptions, plan_sizing
    from airflow_emr_sizing.store import InMemoryStore

    params = "--conf spark.eventLog.dir=hdfs://nn/logs"
    driver = {"sparkSubmitJobDriver": {"entryPoint": "x.py", "sparkSubmitParameters": params}}
    options = SizingOptions(app_name="load", dry_run=False, event_log_dir="s3://b/logs/1/")
    plan = plan_sizing(
        driver,
        None,
        pendulum.datetime(2026, 3, 6, 14),
        options,
        InMemoryStore,
        make_event_log_dir=functools.partial(make_event_log_dir, s3_client=no_client),
    )

    assert not [key for key in plan.values if key.startswith("spark.eventLog")]
    assert any(key.startswith("spark.kubernetes.executor.label.") for key in plan.values)
    assert plan.audit.warnings == [
        "event logging left as the job has it: cannot create hdfs://nn/logs (hdfs://nn/logs is not an S3 URL)"
    ]


def test_no_event_logging_is_turned_on_when_its_folder_cannot_be_made() -> None:
    import pendulum

    from airflow_emr_sizing.plan import SizingOptions, plan_sizing
    from airflow_emr_sizing.store import InMemoryStore

    def denied(folder: str) -> None:
        raise PermissionError(f"AccessDenied on {folder}")

    driver = {"sparkSubmitJobDriver": {"entryPoint": "x.py", "sparkSubmitParameters": ""}}
    options = SizingOptions(app_name="load", dry_run=False, event_log_dir="s3://b/logs/1/")
    plan = plan_sizing(
        driver, None, pendulum.datetime(2026, 3, 6, 14), options, InMemoryStore, make_event_log_dir=denied
    )

    assert not [key for key in plan.values if key.startswith("spark.eventLog")]
    assert any(key.startswith("spark.kubernetes.executor.label.") for key in plan.values)
    assert plan.audit.warnings == [
        "event logging left as the job has it: cannot create s3://b/logs/1/ (AccessDenied on s3://b/logs/1/)"
    ]


def no_client() -> Any:
    raise AssertionError("no S3 client is needed for a location that is not on S3")


def test_make_event_log_dir_makes_an_s3_prefix_and_nothing_else(tmp_path: Path, moto_emr: Any) -> None:
    import boto3

    from airflow_emr_sizing.eventlog_sources import make_event_log_dir
    from airflow_emr_sizing.exceptions import EventLogError

    for elsewhere in (f"file://{tmp_path}/a/", str(tmp_path / "b"), "hdfs://nn/logs", "spark-events"):
        with pytest.raises(EventLogError, match="not an S3 URL"):
            make_event_log_dir(elsewhere, no_client)
    assert list(tmp_path.iterdir()) == []

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="made-here")
    make_event_log_dir("s3://made-here/logs/d/t/r/1/", lambda: s3)
    listed = s3.list_objects_v2(Bucket="made-here", Prefix="logs/d/t/r/1/")
    assert [o["Key"] for o in listed["Contents"]] == ["logs/d/t/r/1/"]  # what Hadoop's mkdirs writes


@dataclasses.dataclass
class AwsSessions:
    """The AWS sessions a task made, and each client: (service, made in the task's thread)."""

    sessions: list[Any] = dataclasses.field(default_factory=list)
    clients: list[tuple[str, bool]] = dataclasses.field(default_factory=list)


@pytest.fixture
def aws_sessions(monkeypatch: pytest.MonkeyPatch) -> AwsSessions:
    import threading

    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

    made = AwsSessions()
    get_session = AwsGenericHook.get_session

    def counted(hook: Any, *args: Any, **kwargs: Any) -> Any:
        session = get_session(hook, *args, **kwargs)
        make_client = session.client

        def client(*args: Any, **kwargs: Any) -> Any:
            service = kwargs.get("service_name") or args[0]
            made.clients.append((service, threading.current_thread() is threading.main_thread()))
            return make_client(*args, **kwargs)

        session.client = client
        made.sessions.append(session)
        return session

    monkeypatch.setattr(AwsGenericHook, "get_session", counted)
    return made


@pytest.mark.integration
def test_a_task_makes_its_event_log_folder_and_submits_on_one_aws_session(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    aws_sessions: AwsSessions,
) -> None:
    """A second session would load botocore's data files again (~40 ms of each task).

    The EMR client is made first, in the task's thread: the folder is made in a thread that may
    be abandoned on timeout, and two clients must never be made on one session at once.
    """
    import boto3

    job_id = logged_task(virtual_cluster_id).execute(task_context)

    folder = sent_request(moto_emr, job_id).get("spark.eventLog.dir")
    bucket, prefix = folder.removeprefix("s3://").split("/", 1)
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [prefix]
    assert len(aws_sessions.sessions) == 1
    assert aws_sessions.clients == [("emr-containers", True), ("s3", False)]


@pytest.mark.integration
def test_a_task_reads_its_event_log_back_with_the_client_that_made_its_folder(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    aws_sessions: AwsSessions,
) -> None:
    """One AWS session and one S3 client per task: the log is read as its folder was written."""
    task = logged_task(virtual_cluster_id)
    task.wait_for_completion, task.poll_interval = True, 1

    with moto_emr.finish_runs("COMPLETED", after_s=1.0, on_end=moto_emr.event_log_writer(SHARED_LOG)):
        task.execute(task_context)

    learned = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["learned"]
    assert learned["recorded"] is True and learned["sources"] == ["outcome", "eventlog"]
    assert len(aws_sessions.sessions) == 1
    assert aws_sessions.clients == [("emr-containers", True), ("s3", False)]


@pytest.mark.integration
def test_without_an_aws_client_no_event_log_folder_is_made(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The submission then fails as the amazon operator's would, with the same error."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

    from airflow_emr_sizing.hooks.emr import SizedEmrContainerHook

    def no_credentials(hook: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no credentials here")

    made: list[str] = []
    monkeypatch.setattr(AwsGenericHook, "get_session", no_credentials)
    monkeypatch.setattr(SizedEmrContainerHook, "client", lambda hook, service: made.append(service))

    with pytest.raises(RuntimeError, match="no credentials here"):
        logged_task(virtual_cluster_id).execute(task_context)

    assert made == []
    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert "no AWS client: RuntimeError: no credentials here" in audit["warnings"][0]


def unwaited_task(virtual_cluster_id: str, **sizing: Any) -> Any:
    """A sized task that submits and returns (``wait_for_completion=False``)."""
    from airflow_emr_sizing.operators.emr import EmrContainerOperator

    return EmrContainerOperator(
        task_id="load",
        name="dw-blog-load",
        virtual_cluster_id=virtual_cluster_id,
        execution_role_arn="arn:aws:iam::123456789012:role/job",
        release_label="emr-7.2.0-latest",
        job_driver={"sparkSubmitJobDriver": {"entryPoint": "s3://jobs/load.py"}},
        aws_conn_id=None,
        region_name="us-east-1",
        wait_for_completion=False,
        dry_run=False,
        **sizing,
    )


def logged_task(virtual_cluster_id: str) -> Any:
    """A sized task that turns event logging on into its own folder."""
    return unwaited_task(virtual_cluster_id, event_log_dir=BUCKET_DIR)


@pytest.mark.parametrize("location", ["dw-logs/x", "s3:///no-bucket", "hdfs://nn/logs", "/var/log/spark"])
def test_an_event_log_dir_spark_could_not_use_fails_at_parse_time(location: str) -> None:
    from airflow_emr_sizing.exceptions import SizingConfigError
    from airflow_emr_sizing.operators.emr import EmrContainerOperator

    with pytest.raises(SizingConfigError, match="event_log_dir"):
        EmrContainerOperator(
            task_id="t",
            name="n",
            virtual_cluster_id="vc",
            execution_role_arn="arn:aws:iam::1:role/r",
            release_label="emr-7.2.0-latest",
            job_driver={},
            event_log_dir=location,
        )


def test_event_log_conf_is_added_unless_the_job_sets_it_never_in_dry_run() -> None:
    sized = plan_with(dry_run=False, metrics=True).values
    assert sized["spark.eventLog.dir"] == "s3://b/logs/d/t/r/1/"
    assert sized["spark.eventLog.enabled"] == "true"
    assert sized["spark.eventLog.logStageExecutorMetrics"] == "true"
    assert sized["spark.executor.processTreeMetrics.enabled"] == "true"

    own = plan_with(
        False, True, "--conf spark.eventLog.enabled=false --conf spark.eventLog.dir=s3://mine/"
    ).values
    assert "spark.eventLog.enabled" not in own and "spark.eventLog.dir" not in own
    assert own["spark.executor.processTreeMetrics.enabled"] == "true"

    # without the metrics a job that does not visibly log gets nothing (its folder would not be made)
    assert not any(k.startswith("spark.eventLog") for k in plan_with(False, False).values)
    dry = plan_with(dry_run=True, metrics=True)
    assert dry.values == {} and "spark.eventLog.dir" in dry.audit.to_json()["would_inject"]


@pytest.mark.parametrize("ended", [False, True])
def test_without_waiting_a_run_is_recorded_if_it_already_ended_and_says_so_if_not(
    ended: bool, moto_emr: Any, virtual_cluster_id: str, store_path: Path, task_context: dict[str, Any]
) -> None:
    """wait_for_completion=False: the task cannot learn what it did not wait for, and says so."""
    with moto_emr.finish_runs("FAILED", state_details="exit code 137") if ended else contextlib.nullcontext():
        job_id = unwaited_task(virtual_cluster_id).execute(task_context)

    learned = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["learned"]
    signature_hash = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["signature"]["hash"]
    runs = SqlStore(f"sqlite:///{store_path}").history(signature_hash)
    if ended:  # a quick failure is known when the task returns: learnt
        assert learned["recorded"] is True and [(o.job_id, o.oom) for o in runs] == [(job_id, True)]
    else:
        assert learned == {"recorded": False, "reason": learned["reason"]} and runs == []
        assert learned["reason"].startswith("wait_for_completion=False")
