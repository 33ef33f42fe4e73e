"""Large stores for the benchmarks: one app's hourly history, as deep as asked.

Rows are what the operator records: every run with its signature parts, its usage and the
estimate it was planned with, ending at the moment given, so the recommender does its full work.
SQLite files are kept in ``.bench/`` and rebuilt when the schema, size or hour changes (the file
they replace is removed: at 1M rows it is ~800 MB).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from common import BENCH_HOME

APP = "dw-blog-load"
SPEC = {"spark.executor.instances": "10", "spark.dynamicAllocation.enabled": "false"}


def rows(count: int, now: datetime) -> Iterator[dict[str, Any]]:
    """``count`` hourly runs of APP ending at ``now``, newest first, as the store writes them."""
    from airflow_emr_sizing.signature import build_signature
    from airflow_emr_sizing.sql_store import _row_of
    from airflow_emr_sizing.store import Observation

    top = now.replace(minute=5, second=0, microsecond=0)
    for i in range(count):
        started = top - timedelta(hours=i + 1)
        signature = build_signature(APP, started, "Asia/Seoul", SPEC, "KR")
        need = 3000 * (1.2 if 9 <= signature.hour < 19 else 0.8) * math.exp(0.07 * math.sin(i * 1.7))
        yield _row_of(
            Observation.of(
                signature,
                job_id=f"jr-{i:08d}",
                started_at=started,
                pod_memory_mib=4800,
                heap_mib=3700,
                request_cores=2.0,
                executors=10,
                duration_s=1200.0,
                peak_pod_memory_mib=round(need),
                peak_heap_mib=round(need * 0.7),
                cpu_used_cores_p90=1.5,
                source="bench",
                predicted_peak_mib=round(need * math.exp(-0.05 * math.cos(i))),
                predicted_level="exact",
                predicted_drift=0.0,
            )
        )


def sqlite_store(count: int, now: datetime) -> str:
    """The path of an SQLite store holding :func:`rows` (built once per schema, size and hour)."""
    import sqlalchemy as sa

    from airflow_emr_sizing.sql_store import SCHEMA_VERSION, SqlStore, observations

    columns = ",".join(c.name for c in observations.columns)
    tag = hashlib.sha256(f"{SCHEMA_VERSION}{columns}{now:%Y%m%d%H}".encode()).hexdigest()[:10]
    path = BENCH_HOME / f"store-{count}-{tag}.db"
    BENCH_HOME.mkdir(parents=True, exist_ok=True)
    store = SqlStore(f"sqlite:///{path}")
    with store._engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(observations)).scalar_one() >= count:
            return str(path)
    for stale in BENCH_HOME.glob(f"store-{count}-*.db*"):  # other hours' files: ~800 MB each at 1M
        if not stale.name.startswith(path.name):
            stale.unlink()
    started = time.perf_counter()
    with store._engine.begin() as conn:
        chunk: list[dict[str, Any]] = []
        for row in rows(count, now):
            chunk.append(row)
            if len(chunk) == 20_000:
                conn.execute(observations.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(observations.insert(), chunk)
    store.close()
    os.sync()  # so that writing back ~800 MB does not run under the measurements that follow
    print(f"[store] SQLite: wrote {count:,} observations in {time.perf_counter() - started:.0f} s")
    return str(path)


def load_postgres(url: str, count: int, now: datetime) -> None:
    """Bulk-load :func:`rows` into a PostgreSQL store with COPY."""
    import sqlalchemy as sa

    from airflow_emr_sizing.sql_store import SqlStore, observations

    store = SqlStore(url)
    names = [c.name for c in observations.columns]
    started = time.perf_counter()
    raw = store._engine.raw_connection()
    try:
        copy_in = f"COPY emr_sizing_observations ({', '.join(names)}) FROM STDIN"
        with raw.driver_connection.cursor() as cursor, cursor.copy(copy_in) as copy:  # type: ignore[union-attr]
            for row in rows(count, now):
                copy.write_row([row[name] for name in names])
        raw.commit()
    finally:
        raw.close()
    with store._engine.begin() as conn:
        conn.execute(sa.text("ANALYZE emr_sizing_observations"))
    print(f"[store] PostgreSQL: loaded {count:,} observations in {time.perf_counter() - started:.0f} s")
