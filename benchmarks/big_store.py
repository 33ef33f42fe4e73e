"""Large SQLite stores for the benchmarks: one app's hourly history, as deep as asked.

Rows are what the operator records: every run with its signature parts, its usage and the
estimate it was planned with, ending at the moment given, so the recommender does its full work.
Files are kept in ``.bench/`` and rebuilt when the schema or the size changes.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime, timedelta
from typing import Any

from common import BENCH_HOME

APP = "dw-blog-load"
SPEC = {"spark.executor.instances": "10", "spark.dynamicAllocation.enabled": "false"}


def store_path(rows: int, now: datetime) -> str:
    """A store of ``rows`` hourly runs of APP ending at ``now`` (built once per schema and day)."""
    import sqlalchemy as sa

    from airflow_emr_sizing.sql_store import SCHEMA_VERSION, SqlStore, observations

    columns = ",".join(c.name for c in observations.columns)
    tag = hashlib.sha256(f"{SCHEMA_VERSION}{columns}{now:%Y%m%d%H}".encode()).hexdigest()[:10]
    path = BENCH_HOME / f"store-{rows}-{tag}.db"
    BENCH_HOME.mkdir(parents=True, exist_ok=True)
    store = SqlStore(f"sqlite:///{path}")
    with store._engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(observations)).scalar_one() >= rows:
            return str(path)
    started = time.perf_counter()
    chunk: list[dict[str, Any]] = []
    with store._engine.begin() as conn:
        for i in range(rows):
            chunk.append(_row(i, now))
            if len(chunk) == 20_000:
                conn.execute(observations.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(observations.insert(), chunk)
    print(f"[store] wrote {rows:,} observations in {time.perf_counter() - started:.0f} s")
    return str(path)


def _row(i: int, now: datetime) -> dict[str, Any]:
    from airflow_emr_sizing.signature import build_signature

    started = now.replace(minute=5, second=0, microsecond=0) - timedelta(hours=i + 1)
    signature = build_signature(APP, started, "Asia/Seoul", SPEC, "KR")
    need = 3000 * (1.2 if 9 <= signature.hour < 19 else 0.8) * math.exp(0.07 * math.sin(i * 1.7))
    return {
        "job_id": f"jr-{i:08d}",
        "signature_hash": signature.hash,
        "app_name": APP,
        "started_at": started,
        "day_of_week": signature.day_of_week,
        "hour": signature.hour,
        "holiday": signature.holiday,
        "resource_spec": signature.resource_spec,
        "state": "COMPLETED",
        "oom": False,
        "pod_memory_mib": 4800,
        "heap_mib": 3700,
        "request_cores": 2.0,
        "executors": 10,
        "duration_s": 1200.0,
        "peak_pod_memory_mib": round(need),
        "peak_heap_mib": round(need * 0.7),
        "cpu_used_cores_p90": 1.5,
        "failure_reason": None,
        "source": "bench",
        "predicted_peak_mib": round(need * math.exp(-0.05 * math.cos(i))),
        "predicted_level": "exact",
        "predicted_drift": 0.0,
    }
