"""plan_sizing: what goes into the request, and that trouble never reaches the job."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from airflow_emr_sizing.exceptions import SizingConfigError, SparkConfError, StoreError
from airflow_emr_sizing.plan import SizingOptions, plan_sizing
from airflow_emr_sizing.signature import build_signature
from airflow_emr_sizing.store import InMemoryStore, MetricsStore, Observation

RUN = pendulum.datetime(2026, 3, 6, 14, tz="Asia/Seoul")
DRIVER = {
    "sparkSubmitJobDriver": {
        "entryPoint": "s3://jobs/load.jar",
        "sparkSubmitParameters": "--class Load --conf spark.executor.instances=10 --executor-memory 8g",
    }
}
OVERRIDES = {"applicationConfiguration": [{"classification": "spark-defaults", "properties": {"a": "b"}}]}
LABEL = "spark.kubernetes.executor.label.emr-sizing-signature"


def seeded_store(peaks: list[int], **fields: Any) -> InMemoryStore:
    signature = build_signature("load", RUN, "Asia/Seoul", {"spark.executor.instances": "10"})
    return InMemoryStore(
        [
            Observation.of(
                signature,
                job_id=f"jr-{i}",
                started_at=RUN - timedelta(days=7 * (i + 1)),
                peak_pod_memory_mib=peak,
                **fields,
            )
            for i, peak in enumerate(peaks)
        ]
    )


def plan(store: MetricsStore | None = None, **options: Any) -> Any:
    opts = SizingOptions(**{"app_name": "load", "timezone": "Asia/Seoul", "dry_run": False, **options})
    return plan_sizing(
        DRIVER, OVERRIDES, RUN, opts, lambda: store if store is not None else InMemoryStore(), now=RUN
    )


def test_initial_mode_writes_memory_overhead_and_label() -> None:
    result = plan(seeded_store([3000, 3100, 3200, 3300]))

    assert result.values["spark.executor.memory"] == f"{result.audit.recommendation['executor_memory_mib']}m"
    assert result.values["spark.executor.memoryOverhead"].endswith("m")
    assert result.values[LABEL] == result.signature.hash
    assert result.audit.applied is True
    assert result.audit.injected["spark.executor.memory"] == {
        "before": "8g",
        "after": result.values["spark.executor.memory"],
        "where": "parameters",
    }
    assert result.audit.reason is None


def test_dry_run_writes_nothing_but_reports_everything() -> None:
    result = plan(seeded_store([3000, 3100, 3200]), dry_run=True)

    assert result.values == {}
    assert result.audit.applied is False
    assert result.audit.recommendation is not None
    assert "spark.executor.memory" in result.audit.to_json()["would_inject"]
    assert "injected" not in result.audit.to_json()


def test_mode_off_writes_only_the_label() -> None:
    result = plan(seeded_store([3000, 3100, 3200]), mode="off")

    assert set(result.values) == {LABEL, LABEL.replace("executor", "driver")}
    assert result.audit.recommendation is not None
    assert "mode off" in result.audit.reason


def test_too_little_history_keeps_sizes_but_labels_pods() -> None:
    result = plan(seeded_store([3000]))

    assert "spark.executor.memory" not in result.values
    assert LABEL in result.values
    assert result.audit.reason == "no recommendation: 1 usable run(s) at any level, need 3"


@pytest.mark.parametrize(
    ("peaks", "sized"),
    [([3000, 3100, 3200, 3000 * 1024 * 1024], True), ([3000, 3000 * 1024 * 1024], False)],
)
def test_a_peak_that_cannot_be_true_is_left_out_with_a_warning(peaks: list[int], sized: bool) -> None:
    result = plan(seeded_store(peaks))  # e.g. a store written by hand with bytes for MiB

    assert ("spark.executor.memory" in result.values) is sized
    assert result.audit.basis["implausible_peaks"] == 1
    (warning,) = result.audit.warnings
    assert warning.startswith("1 past run(s) left out: a peak above 4 times their own pod's memory")
    assert result.audit.degraded is False


class BrokenStore(InMemoryStore):
    def history(self, *args: Any, **kwargs: Any) -> list[Observation]:
        raise StoreError("cannot read history from sqlite:///x: disk I/O error")


class SlowStore(InMemoryStore):
    def history(self, *args: Any, **kwargs: Any) -> list[Observation]:
        time.sleep(5)
        return []


class CrashingStore(InMemoryStore):
    def history(self, *args: Any, **kwargs: Any) -> list[Observation]:
        raise KeyError("surprise")


@pytest.mark.parametrize(
    ("store", "reason"),
    [
        (BrokenStore(), "disk I/O error"),
        (SlowStore(), "metrics store lookup took longer than 0.2s"),
        (CrashingStore(), "sizing failed: KeyError"),
    ],
)
def test_store_trouble_submits_the_request_as_written(store: MetricsStore, reason: str) -> None:
    started = time.monotonic()
    result = plan(store, store_timeout=0.2)

    assert time.monotonic() - started < 2
    assert result.values == {}
    assert result.audit.applied is False
    assert reason in result.audit.reason
    assert result.audit.signature["key"] == "load-day-5-hour-14-dra-off-exec-10"


def test_unopenable_store_submits_as_written() -> None:
    def refuse() -> MetricsStore:
        raise StoreError("cannot open store sqlite:////nope/x.db: unable to open database file")

    opts = SizingOptions(app_name="load", dry_run=False)
    result = plan_sizing(DRIVER, OVERRIDES, RUN, opts, refuse)

    assert result.values == {}
    assert "unable to open database file" in result.audit.reason


def test_malformed_spark_conf_is_the_users_error_when_applying() -> None:
    bad = {"sparkSubmitJobDriver": {"entryPoint": "x.jar", "sparkSubmitParameters": "--executor-memory 4.5g"}}
    with pytest.raises(SparkConfError, match=r"spark.executor.memory='4.5g'.*fractional"):
        plan_sizing(bad, None, RUN, SizingOptions(app_name="x", dry_run=False), InMemoryStore)


def test_malformed_spark_conf_in_dry_run_is_reported_not_raised() -> None:
    bad = {"sparkSubmitJobDriver": {"entryPoint": "x.jar", "sparkSubmitParameters": "--executor-memory 4.5g"}}
    result = plan_sizing(bad, None, RUN, SizingOptions(app_name="x", dry_run=True), InMemoryStore)

    assert result.values == {}
    assert "fractional" in result.audit.reason


def test_unknown_holiday_country_names_the_field() -> None:
    with pytest.raises(SizingConfigError, match="holiday_country='XX'"):
        plan(holiday_country="XX")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "auto"}, "sizing_mode"),
        ({"label_key": "bad key!"}, "label_key"),
        ({"store_timeout": 0}, "store_timeout"),
    ],
)
def test_invalid_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(SizingConfigError, match=field):
        SizingOptions(app_name="x", **options)


def test_yunikorn_pod_template_refuses_sizing_with_a_reason() -> None:
    overrides = {
        "applicationConfiguration": [
            {
                "classification": "spark-defaults",
                "properties": {
                    "spark.kubernetes.scheduler.name": "yunikorn",
                    "spark.kubernetes.executor.podTemplateFile": "s3://t/executor.yaml",
                },
            }
        ]
    }
    opts = SizingOptions(app_name="load", timezone="Asia/Seoul", dry_run=False)
    result = plan_sizing(DRIVER, overrides, RUN, opts, lambda: seeded_store([3000, 3100, 3200]), now=RUN)

    assert result.values == {}
    assert "YuniKorn" in result.audit.reason


def test_a_properties_file_refuses_sizing_with_a_reason() -> None:
    """Spark then reads that file, not spark-defaults: the executor size may be set where we cannot see."""
    driver = {
        "sparkSubmitJobDriver": {
            "entryPoint": "s3://jobs/load.jar",
            "sparkSubmitParameters": "--properties-file /etc/app.conf --conf spark.executor.instances=10",
        }
    }
    opts = SizingOptions(app_name="load", timezone="Asia/Seoul", dry_run=False)
    result = plan_sizing(driver, None, RUN, opts, lambda: seeded_store([3000, 3100, 3200]), now=RUN)

    assert result.values == {}
    assert "--properties-file /etc/app.conf" in result.audit.reason


def test_cpu_request_never_exceeds_the_jobs_cpu_limit() -> None:
    """Kubernetes rejects a pod whose CPU request is above its limit: no executor would start."""
    driver = {
        "sparkSubmitJobDriver": {
            "entryPoint": "s3://jobs/load.jar",
            "sparkSubmitParameters": "--conf spark.executor.instances=10 --conf spark.executor.cores=4 "
            "--conf spark.kubernetes.executor.request.cores=1 "
            "--conf spark.kubernetes.executor.limit.cores=1500m",
        }
    }
    opts = SizingOptions(app_name="load", timezone="Asia/Seoul", dry_run=False)
    store = seeded_store([3000, 3100, 3200, 3300], cpu_used_cores_p90=3.2)

    result = plan_sizing(driver, None, RUN, opts, lambda: store, now=RUN)

    assert result.audit.recommendation["executor_request_cores"] == 1.5
    assert result.values["spark.kubernetes.executor.request.cores"] == "1500m"


def test_without_event_log_metrics_a_job_that_logs_events_still_logs_into_its_runs_folder() -> None:
    folder = "s3://b/logs/d/t/r/1/"
    made: list[str] = []
    logging = "--conf spark.eventLog.enabled=true --conf spark.executor.instances=10"
    driver = {"sparkSubmitJobDriver": {"entryPoint": "x.py", "sparkSubmitParameters": logging}}
    options = SizingOptions(app_name="load", dry_run=False, event_log_dir=folder, event_log_metrics=False)

    result = plan_sizing(driver, None, RUN, options, InMemoryStore, make_event_log_dir=made.append)

    assert result.values["spark.eventLog.dir"] == folder
    assert made == [folder]  # Spark does not start when the folder it logs into is missing
    assert not {"spark.eventLog.logStageExecutorMetrics", "spark.executor.processTreeMetrics.enabled"} & set(
        result.values
    )


def test_without_event_log_metrics_a_job_without_event_logging_gets_no_folder_made() -> None:
    made: list[str] = []
    options = SizingOptions(
        app_name="load", dry_run=False, event_log_dir="s3://b/l/", event_log_metrics=False
    )

    result = plan_sizing(DRIVER, None, RUN, options, InMemoryStore, make_event_log_dir=made.append)

    assert not [key for key in result.values if key.startswith("spark.eventLog")]
    assert made == []
