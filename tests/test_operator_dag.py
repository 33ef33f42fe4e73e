"""The sized operator run for real: Airflow's dag.test() against EMR on EKS served by moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_emr_sizing.audit import AUDIT_XCOM_KEY
from airflow_emr_sizing.signature import build_signature
from airflow_emr_sizing.spark_conf import executor_size, read_job_conf
from airflow_emr_sizing.sql_store import SqlStore
from airflow_emr_sizing.store import Observation

pytestmark = pytest.mark.integration
RUN_AT = pendulum.datetime(2026, 9, 25, 14, 5, tz="Asia/Seoul")  # Chuseok, a Korean public holiday
SPEC = {"spark.executor.instances": "10"}


def seed(store_path: Path, peaks: list[int], **fields: Any) -> str:
    signature = build_signature("dw-blog-load", RUN_AT, "Asia/Seoul", SPEC, "KR")
    store = SqlStore(f"sqlite:///{store_path}")
    now = pendulum.now("UTC")  # the recommender weighs history from the wall clock
    for i, peak in enumerate(peaks):
        started = now.subtract(weeks=i + 1)
        store.record(
            Observation.of(
                signature, job_id=f"seed-{i}", started_at=started, peak_pod_memory_mib=peak, **fields
            )
        )
    return signature.hash


def run(dag: Any, moto_emr: Any, vc: str, state: str = "COMPLETED", after_s: float = 0, **conf: Any) -> Any:
    from airflow_emr_sizing.testing import run_dag

    with moto_emr.finish_runs(state, after_s=after_s, state_details=conf.pop("state_details", None)):
        return run_dag(dag, logical_date=RUN_AT, run_conf={"virtual_cluster_id": vc, **conf})


def _amazon_version() -> tuple[int, ...]:
    from airflow.providers.amazon import __version__

    return tuple(int(part) for part in __version__.split(".")[:2])


def sent_request(moto_emr: Any, job_id: str) -> Any:
    job_run = moto_emr.backend.job_runs[job_id]
    return read_job_conf(job_run.job_driver, job_run.configuration_overrides)


def test_sync_run_is_sized_labelled_audited_and_recorded(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    signature_hash = seed(store_path, [3000, 3200, 3100, 3300])

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id)

    assert result.state == "success"
    audit = result.xcom("load", AUDIT_XCOM_KEY)
    job_id = result.xcom("load")
    sent = sent_request(moto_emr, job_id)
    assert audit["signature"]["key"] == "dw-blog-load-day-5-hour-14-holiday-dra-off-exec-10"
    assert audit["signature"]["hash"] == signature_hash
    assert sent.get("spark.executor.memory") == f"{audit['recommendation']['executor_memory_mib']}m" != "8g"
    assert sent.get("spark.kubernetes.executor.label.emr-sizing-signature") == signature_hash
    assert sent.get("spark.kubernetes.driver.label.emr-sizing-signature") == signature_hash
    assert sent.get("spark.sql.shuffle.partitions") == "64"
    assert audit["applied"] is True

    (recorded,) = [
        o for o in SqlStore(f"sqlite:///{store_path}").history(signature_hash) if o.job_id == job_id
    ]
    assert (recorded.state, recorded.oom) == ("COMPLETED", False)
    assert (
        recorded.pod_memory_mib
        == executor_size(sent).pod_memory_mib
        == audit["recommendation"]["pod_memory_mib"]
    )
    # the estimate it was planned with is kept: its error is what the spread is learnt from
    assert (recorded.predicted_peak_mib, recorded.predicted_level) == (
        audit["basis"]["predicted_peak_mib"],
        audit["basis"]["level"],
    )
    assert audit["learned"]["observation"]["predicted_peak_mib"] == recorded.predicted_peak_mib  # as recorded


def test_deferrable_run_records_the_outcome_in_execute_complete(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    signature_hash = seed(store_path, [3000, 3200, 3100])

    result = run(dags.sized_deferrable, moto_emr, virtual_cluster_id, after_s=1.0)

    assert result.state == "success"
    job_id = result.xcom("load")
    history = SqlStore(f"sqlite:///{store_path}").history(signature_hash)
    assert [o.state for o in history if o.job_id == job_id] == ["COMPLETED"]


def test_oom_failure_is_recorded_and_the_retry_is_sized_up(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    signature_hash = seed(store_path, [3000, 3200, 3100])
    oom = "Executor 3 exited with exit code 137 (SIGKILL, possible container OOM)."
    # Before amazon 9.25 the trigger fails with the run, which dag.test() does not resume with
    # __fail__ as Airflow's triggerer does; test_operator.py's failed-trigger test covers that path.
    dag = dags.sized_deferrable if _amazon_version() >= (9, 25) else dags.sized_sync

    failed = run(dag, moto_emr, virtual_cluster_id, "FAILED", after_s=1.0, state_details=oom)

    assert failed.state == "failed"
    first = failed.xcom("load", AUDIT_XCOM_KEY)["recommendation"]["pod_memory_mib"]
    store = SqlStore(f"sqlite:///{store_path}")
    (recorded,) = [o for o in store.history(signature_hash) if o.state == "FAILED"]
    assert recorded.oom is True and recorded.pod_memory_mib == first
    assert recorded.predicted_peak_mib == failed.xcom("load", AUDIT_XCOM_KEY)["basis"]["predicted_peak_mib"]

    retried = run(dags.sized_sync, moto_emr, virtual_cluster_id)

    again = retried.xcom("load", AUDIT_XCOM_KEY)
    assert again["recommendation"]["pod_memory_mib"] >= max(1.2 * first, first + 100)
    assert "oom_floor_mib" in again["basis"] or "sibling_oom_factor" in again["basis"]


def test_dry_run_sends_the_request_as_written(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    seed(store_path, [3000, 3200, 3100])

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id, dry_run="true")

    job_run = moto_emr.backend.job_runs[result.xcom("load")]
    task = dags.sized_sync.get_task("load")
    assert job_run.job_driver == task.job_driver
    assert job_run.configuration_overrides == task.configuration_overrides
    assert result.xcom("load", AUDIT_XCOM_KEY)["recommendation"] is not None


def test_store_down_submits_unchanged_with_the_reason_in_xcom(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_PATH", str(tmp_path / "gone" / "store.db"))

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id)

    assert result.state == "success"
    job_run = moto_emr.backend.job_runs[result.xcom("load")]
    task = dags.sized_sync.get_task("load")
    assert job_run.job_driver == task.job_driver
    assert job_run.configuration_overrides == task.configuration_overrides
    audit = result.xcom("load", AUDIT_XCOM_KEY)
    assert audit["applied"] is False and "cannot open store" in audit["reason"]


def test_secrets_never_reach_xcom(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    seed(store_path, [3000, 3200, 3100])

    result = run(dags.sized_sync, moto_emr, virtual_cluster_id)

    assert result.state == "success"
    assert result.xcoms  # the audit and the job id were pushed
    assert dags.SECRET not in json.dumps(list(result.xcoms.values()), default=str)


def test_mapped_tasks_are_each_sized_by_their_own_signature(
    dags: Any, moto_emr: Any, virtual_cluster_id: str, store_path: Path
) -> None:
    """Dynamic task mapping: sizing arguments in partial(), one job per table in expand_kwargs()."""
    store = SqlStore(f"sqlite:///{store_path}")
    posts = build_signature("dw-posts-load", RUN_AT, "Asia/Seoul", SPEC, "KR")
    users = build_signature("dw-users-load", RUN_AT, "Asia/Seoul", {"spark.executor.instances": "4"}, "KR")
    now = pendulum.now("UTC")
    for i, peak in enumerate([3000, 3200, 3100]):  # history for the posts loader only
        started = now.subtract(weeks=i + 1)
        store.record(Observation.of(posts, job_id=f"seed-{i}", started_at=started, peak_pod_memory_mib=peak))

    result = run(dags.sized_mapped, moto_emr, virtual_cluster_id, event_log_dir="s3://dw-emr-logs/ev")

    assert result.state == "success"
    assert result.task_states == {"load[0]": "success", "load[1]": "success"}
    folders = set()
    for map_index, signature, sized in ((0, posts, True), (1, users, False)):
        audit = result.xcom("load", AUDIT_XCOM_KEY, map_index=map_index)
        job_id = result.xcom("load", map_index=map_index)
        sent = sent_request(moto_emr, job_id)
        folders.add(sent.get("spark.eventLog.dir"))
        assert sent.get("spark.eventLog.dir").endswith(f"/{map_index}/1/")  # each instance its own folder
        assert audit["signature"]["key"] == signature.key
        assert sent.get("spark.kubernetes.executor.label.emr-sizing-signature") == signature.hash
        assert (sent.get("spark.executor.memory") != "8g") is sized
        assert (audit["recommendation"] is not None) is sized
        assert [o.job_id for o in store.history(signature.hash) if o.job_id == job_id] == [job_id]
    assert len(folders) == 2
