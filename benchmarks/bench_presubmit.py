"""Pre-submit overhead: sized vs plain EmrContainerOperator.execute() against the same moto backend.

The sized operator reads a SQLite store holding 1M observations of the job (hourly runs, each
with its usage and the estimate it was planned with, so the recommender does its full work); both
operators submit through the same moto server and do not wait for completion, so
the difference is what sizing adds before StartJobRun. Each measurement runs from the call of
``execute()`` to the moment StartJobRun has returned (work after submission, like recording the
signature mapping, does not delay the job and is left out; the whole ``execute()`` is printed too).

The target is measured per task, as Airflow runs them: every task try is a new process with a new
operator, AWS client and store connection, so each round builds new operators and drops this
package's per-process caches (the on-disk holiday cache stays, as it does on a worker). The
steady-state cost with everything reused (one HTTP call as the baseline) is printed as well, and
so is what the first ``execute()`` of a process adds once: importing the sizing modules.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from big_store import sqlite_store
from common import fresh_process_ms, import_ms, interleaved, setup_airflow

TARGET = 1.10
TOTAL_ROWS = 1_000_000


class _TaskInstance:
    task_id, map_index = "bench", -1

    def xcom_push(self, key: str, value: Any) -> None:
        self.last = value


def main() -> tuple[str, float, float]:
    setup_airflow()
    import pendulum
    from airflow.providers.amazon.aws.hooks.emr import EmrContainerHook
    from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as Plain

    from airflow_emr_sizing.operators.emr import EmrContainerOperator as Sized
    from airflow_emr_sizing.testing import MotoEmrContainers

    moto = MotoEmrContainers().start()
    try:
        now = pendulum.now("UTC").replace(minute=5, second=0, microsecond=0)
        logical_date = now
        os.environ["AIRFLOW__EMR_SIZING__STORE_PATH"] = sqlite_store(TOTAL_ROWS, now)

        job = {
            "name": "dw-blog-load",
            "virtual_cluster_id": moto.create_virtual_cluster(),
            "execution_role_arn": "arn:aws:iam::123456789012:role/job",
            "release_label": "emr-7.2.0-latest",
            "job_driver": {
                "sparkSubmitJobDriver": {
                    "entryPoint": "s3://jobs/load.py",
                    "sparkSubmitParameters": "--conf spark.executor.instances=10 "
                    "--conf spark.executor.memory=8g --conf spark.executor.cores=4 "
                    "--conf spark.dynamicAllocation.enabled=false",
                }
            },
            "aws_conn_id": None,
            "region_name": "us-east-1",
            "wait_for_completion": False,
        }
        sizing = {"dry_run": False, "timezone": "Asia/Seoul", "holiday_country": "KR"}
        context: dict[str, Any] = {"ti": _TaskInstance(), "logical_date": logical_date}
        submitted: list[float] = []
        original_submit = EmrContainerHook.submit_job

        def timed_submit(hook: Any, *args: Any, **kwargs: Any) -> Any:
            job_id = original_submit(hook, *args, **kwargs)
            submitted.append(time.perf_counter())
            return job_id

        def until_submitted(make: Any) -> Any:
            def run() -> float:
                task = make()  # built when the task process parses the DAG file, before execute()
                start = time.perf_counter()
                task.execute(context)
                return submitted[-1] - start

            return run

        def whole_execute(make: Any) -> Any:
            def run() -> float:
                task = make()
                start = time.perf_counter()
                task.execute(context)
                return time.perf_counter() - start

            return run

        def plain_task() -> Any:
            return Plain(task_id="plain", **job)

        def sized_task() -> Any:
            forget_process_caches()
            return Sized(task_id="sized", **sizing, **job)

        def logged_task() -> Any:  # also makes the run's event-log folder before submitting
            forget_process_caches()
            return Sized(task_id="sized", **sizing, **job, event_log_dir="s3://bench-logs/spark-events")

        EmrContainerHook.submit_job = timed_submit
        for _ in range(3):  # warm imports and the on-disk holiday cache
            until_submitted(plain_task)(), until_submitted(sized_task)()
        assert context["ti"].last["applied"], context["ti"].last
        base, cand = interleaved(until_submitted(plain_task), until_submitted(sized_task), rounds=160)
        whole_base, whole_cand = interleaved(whole_execute(plain_task), whole_execute(sized_task), rounds=40)
        plain, sized = plain_task(), Sized(task_id="sized", **sizing, **job)
        warm_base, warm_cand = interleaved(
            until_submitted(lambda: plain), until_submitted(lambda: sized), rounds=100
        )
        moto.create_bucket("bench-logs")
        unlogged, logged = interleaved(until_submitted(sized_task), until_submitted(logged_task), rounds=30)
        folder_ms = (logged - unlogged) * 1e3
    finally:
        EmrContainerHook.submit_job = original_submit
        moto.stop()
    ratio = cand / base
    print(
        f"[presubmit] per task, execute() until StartJobRun returned: plain {base * 1e3:.2f} ms, "
        f"sized {cand * 1e3:.2f} ms (+{(cand - base) * 1e3:.2f} ms), {TOTAL_ROWS:,} observations "
        f"in the store, ratio {ratio:.3f}"
    )
    print(
        f"[presubmit] per task, whole execute(): plain {whole_base * 1e3:.2f} ms, sized "
        f"{whole_cand * 1e3:.2f} ms, ratio {whole_cand / whole_base:.3f}"
    )
    print(
        f"[presubmit] steady state, operators reused: plain {warm_base * 1e3:.2f} ms, sized "
        f"{warm_cand * 1e3:.2f} ms (+{(warm_cand - warm_base) * 1e3:.2f} ms), "
        f"ratio {warm_cand / warm_base:.3f}"
    )
    loaded = sorted(
        name
        for name in sys.modules
        if name.startswith("airflow_emr_sizing.") and not name.startswith("airflow_emr_sizing.testing")
    )
    at_execute = import_ms(loaded, after=("airflow.sdk", "airflow_emr_sizing.operators.emr"))
    print(
        f"[presubmit] once per task process, not in the figures above: the first execute() imports "
        f"this package's sizing modules, {at_execute:.1f} ms"
    )
    print(
        f"[presubmit] with event_log_dir, not in the figures above: creating the run's event-log "
        f"folder first (an S3 client on the task's AWS session, and one PutObject), +{folder_ms:.1f} ms"
    )
    cold_holidays = fresh_process_ms(
        "holiday_calendar.is_holiday(date(2026, 11, 30), 'KR')",
        setup="import os, tempfile\nfrom datetime import date\ncache = tempfile.TemporaryDirectory()\n"
        "os.environ['AIRFLOW_EMR_SIZING_CACHE_DIR'] = cache.name\n"
        "import airflow.sdk, airflow_emr_sizing.operators.emr\n"  # as in a task process
        "from airflow_emr_sizing import holiday_calendar",
    )
    print(
        f"[presubmit] once per machine or pod whose holiday cache is empty (each new pod on "
        f"KubernetesExecutor, unless `emr-sizing holidays` filled it): KR holidays, {cold_holidays:.1f} ms"
    )
    return "pre-submit per task, sized vs plain (1M observations)", ratio, TARGET


def forget_process_caches() -> None:
    """What a new task process starts without: pooled store engines and connections, prepared
    reads, in-memory holiday dates, parsed confs."""
    from airflow_emr_sizing import holiday_calendar, spark_conf, sql_store

    for engine in sql_store._engines.values():
        engine.dispose()
    sql_store._engines.clear()
    for reader in (r for readers in sql_store._idle_readers.values() for r in readers):
        reader.close()
    sql_store._idle_readers.clear()
    sql_store._schema_ready.clear()
    sql_store._driver_reads.cache_clear()
    sql_store._sqlite_dialect.cache_clear()
    sql_store._sqlite_file_args.cache_clear()
    holiday_calendar.holiday_dates.cache_clear()
    spark_conf._settings_from_params.cache_clear()


if __name__ == "__main__":
    sys.exit(0 if main()[1] <= TARGET else 1)
