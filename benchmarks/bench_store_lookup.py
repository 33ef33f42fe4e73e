"""Store lookup at scale: ``plan.recommend_from_store`` with 1M observations in the store vs 10k.

What the operator runs at submit time (the bounded history read of one signature, then the
recommendation), timed against a store of 10,000 observations (the signature under test has 1,000
of them) and one of 1,000,000 (the signature has 10,000), interleaved. The read is an index range
scan of the newest ``HISTORY_LIMIT`` rows, so the target is growth <= 2x. Measured on a real
PostgreSQL (started from the machine's server binaries, bulk-loaded with COPY) and on SQLite.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from common import BENCH_HOME, interleaved

TARGET = 2.0
SIZES = ((10_000, 1_000), (1_000_000, 10_000))  # (observations in the store, of the signature)
SIGNATURES, APPS = 1_000, 50
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
COLUMNS = ("job_id", "signature_hash", "app_name", "started_at", "resource_spec", "state", "oom",
           "pod_memory_mib", "peak_pod_memory_mib", "cpu_used_cores_p90", "source", "app_key",
           "spec_key")  # fmt: skip


def rows(total: int, own: int, signature_hash: str) -> Iterator[tuple[Any, ...]]:
    """The signature's rows spread evenly through time among everybody else's."""
    from airflow_emr_sizing.sql_store import _digest

    every = total // own
    keys = {name: _digest(name) for name in ["dw-blog-load", *(f"app-{a}" for a in range(APPS))]}
    spec, spec_key = "dra-off-exec-10", _digest("dra-off-exec-10")
    for i in range(total):
        mine = i % every == 0
        app = "dw-blog-load" if mine else f"app-{i % APPS}"
        yield (
            f"jr-{i:08d}", signature_hash if mine else f"s1-other{i % SIGNATURES:04d}", app,
            T0 + timedelta(minutes=i), spec, "COMPLETED", False, 9011, 3000 + (i * 7919) % 2000,
            1.0 + (i % 10) / 10, "bench", keys[app], spec_key,
        )  # fmt: skip


def load_postgres(url: str, total: int, own: int, signature_hash: str) -> None:
    import sqlalchemy as sa

    from airflow_emr_sizing.sql_store import SqlStore

    store = SqlStore(url)
    started = time.perf_counter()
    raw = store._engine.raw_connection()
    try:
        copy_in = f"COPY emr_sizing_observations ({', '.join(COLUMNS)}) FROM STDIN"
        with raw.driver_connection.cursor() as cursor, cursor.copy(copy_in) as copy:  # type: ignore[union-attr]
            for row in rows(total, own, signature_hash):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with store._engine.begin() as conn:
        conn.execute(sa.text("ANALYZE emr_sizing_observations"))
    print(
        f"[store-lookup] PostgreSQL: loaded {total:,} observations in {time.perf_counter() - started:.0f} s"
    )


def load_sqlite(path: str, total: int, own: int, signature_hash: str) -> None:
    import sqlalchemy as sa

    from airflow_emr_sizing.sql_store import SqlStore, observations

    store = SqlStore(f"sqlite:///{path}")
    with store._engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(observations)).scalar_one() == total:
            return  # built by an earlier run
    started = time.perf_counter()
    with store._engine.begin() as conn:
        conn.execute(observations.delete())
        chunk: list[dict[str, Any]] = []
        for row in rows(total, own, signature_hash):
            chunk.append(dict(zip(COLUMNS, row, strict=True)))
            if len(chunk) == 50_000:
                conn.execute(observations.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(observations.insert(), chunk)
    print(f"[store-lookup] SQLite: loaded {total:,} observations in {time.perf_counter() - started:.0f} s")


def measure(name: str, urls: list[str], signature: Any) -> tuple[str, float, float]:
    from airflow_emr_sizing.plan import SizingOptions, recommend_from_store
    from airflow_emr_sizing.recommender import Recommendation
    from airflow_emr_sizing.spark_conf import executor_size, read_job_conf
    from airflow_emr_sizing.sql_store import SqlStore

    conf = "--conf spark.executor.instances=10 --conf spark.executor.memory=8g --conf spark.executor.cores=4"
    current = executor_size(read_job_conf({"sparkSubmitJobDriver": {"sparkSubmitParameters": conf}}, None))
    options = SizingOptions(app_name="dw-blog-load")
    small, large = (SqlStore(url) for url in urls)
    for store in (small, large):  # warm the pool and the page cache; check the answer is real
        assert isinstance(recommend_from_store(store, signature, current, options), Recommendation)
    base, cand = interleaved(
        lambda: recommend_from_store(small, signature, current, options),
        lambda: recommend_from_store(large, signature, current, options),
        rounds=400,
    )
    ratio = cand / base
    print(
        f"[store-lookup] {name}: recommend_from_store {base * 1e3:.3f} ms with {SIZES[0][0]:,} "
        f"observations, {cand * 1e3:.3f} ms with {SIZES[1][0]:,}, growth {ratio:.3f}x"
    )
    return f"store lookup {name}, 1M vs 10k observations", ratio, TARGET


def main() -> list[tuple[str, float, float]]:
    from airflow_emr_sizing.signature import build_signature
    from airflow_emr_sizing.testing_postgres import ThrowawayPostgres, find_postgres_bin

    signature = build_signature("dw-blog-load", T0, "Asia/Seoul", {"spark.executor.instances": "10"})
    BENCH_HOME.mkdir(parents=True, exist_ok=True)
    results = []
    sqlite_urls = []
    for total, own in SIZES:
        path = str(BENCH_HOME / f"store-lookup-{total}.db")
        load_sqlite(path, total, own, signature.hash)
        sqlite_urls.append(f"sqlite:///{path}")
    if find_postgres_bin() is None:
        print("[store-lookup] PostgreSQL server binaries not found: PostgreSQL not measured", file=sys.stderr)
    else:
        with ThrowawayPostgres() as server:
            urls = []
            for total, own in SIZES:
                urls.append(server.create_database(f"lookup_{total}"))
                load_postgres(urls[-1], total, own, signature.hash)
            results.append(measure("PostgreSQL", urls, signature))
    results.append(measure("SQLite", sqlite_urls, signature))
    return results


if __name__ == "__main__":
    sys.exit(0 if all(ratio <= target for _, ratio, target in main()) else 1)
