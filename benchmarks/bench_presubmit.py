"""Pre-submit overhead: sized vs plain EmrContainerOperator.execute() against the same moto backend.

The sized operator reads a SQLite store holding 1M observations (the signature under test has 10k
of them); both operators submit through the same moto server and do not wait for completion, so
the difference is exactly what sizing adds before StartJobRun. Operators are reused across rounds
so the AWS client is built once for both (the strictest comparison: the baseline is one HTTP call).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from common import BENCH_HOME, interleaved, setup_airflow

TARGET = 1.10
TOTAL_ROWS = 1_000_000
TARGET_SIGNATURE_ROWS = 10_000
SIGNATURES = 1_000


class _TaskInstance:
    task_id, map_index = "bench", -1

    def xcom_push(self, key: str, value: Any) -> None:
        self.last = value


def build_store(path: str, signature_hash: str) -> None:
    """Write TOTAL_ROWS observations once; reused by later runs (checked by row count)."""
    import sqlalchemy as sa

    from airflow_emr_sizing.sql_store import SqlStore, observations

    store = SqlStore(f"sqlite:///{path}")
    engine = store._engine
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(observations)).scalar_one() >= TOTAL_ROWS:
            return
    started = time.perf_counter()
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    chunk: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(TOTAL_ROWS):
            own = i < TARGET_SIGNATURE_ROWS
            chunk.append(
                {
                    "job_id": f"jr-{i:07d}",
                    "signature_hash": signature_hash if own else f"s1-other{i % SIGNATURES:04d}",
                    "app_name": "dw-blog-load" if own else f"app-{i % 50}",
                    "started_at": t0 + timedelta(minutes=i),
                    "state": "COMPLETED",
                    "oom": False,
                    "pod_memory_mib": 9011,
                    "peak_pod_memory_mib": 3000 + (i * 7919) % 2000,
                    "cpu_used_cores_p90": 1.0 + (i % 10) / 10,
                    "source": "bench",
                }
            )
            if len(chunk) == 50_000:
                conn.execute(observations.insert(), chunk)
                chunk = []
    print(f"[presubmit] wrote {TOTAL_ROWS:,} observations in {time.perf_counter() - started:.0f} s")


def main() -> tuple[str, float, float]:
    setup_airflow()
    import pendulum
    from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as Plain

    from airflow_emr_sizing.operators.emr import EmrContainerOperator as Sized
    from airflow_emr_sizing.signature import build_signature
    from airflow_emr_sizing.testing import MotoEmrContainers

    moto = MotoEmrContainers().start()
    try:
        logical_date = pendulum.datetime(2026, 3, 6, 14, tz="Asia/Seoul")
        spec = {"spark.executor.instances": "10", "spark.dynamicAllocation.enabled": "false"}
        signature = build_signature("dw-blog-load", logical_date, "Asia/Seoul", spec, "KR")
        store_path = str(BENCH_HOME / "store-1m.db")
        build_store(store_path, signature.hash)
        os.environ["AIRFLOW__EMR_SIZING__STORE_PATH"] = store_path

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
        plain = Plain(task_id="plain", **job)
        sized = Sized(task_id="sized", dry_run=False, timezone="Asia/Seoul", holiday_country="KR", **job)
        context: dict[str, Any] = {"ti": _TaskInstance(), "logical_date": logical_date}
        for _ in range(5):  # warm: AWS clients, store engine, holiday calendar
            plain.execute(context)
            sized.execute(context)
        assert context["ti"].last["applied"], context["ti"].last
        base, cand = interleaved(lambda: plain.execute(context), lambda: sized.execute(context), rounds=150)
    finally:
        moto.stop()
    ratio = cand / base
    print(
        f"[presubmit] execute() to StartJobRun: plain {base * 1e3:.2f} ms, sized {cand * 1e3:.2f} ms "
        f"(+{(cand - base) * 1e3:.2f} ms) with {TOTAL_ROWS:,} observations in the store, ratio {ratio:.3f}"
    )
    return "pre-submit, sized vs plain execute() (1M observations)", ratio, TARGET


if __name__ == "__main__":
    sys.exit(0 if main()[1] <= TARGET else 1)
