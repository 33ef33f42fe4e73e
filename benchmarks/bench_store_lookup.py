"""recommend() at scale: ``plan.recommend_from_store`` with 1M observations in the store vs 10k.

What the operator runs at submit time (two bounded index range scans — the signature's runs and
its app's — then the recommender), on stores holding the same app's hourly history 10k and 1M
runs deep, interleaved. Bounded reads mean depth must not matter: target growth <= 2x. Measured
on SQLite and on a real PostgreSQL (started from the machine's server binaries, loaded with COPY).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from big_store import APP, SPEC, load_postgres, sqlite_store
from common import interleaved, setup_airflow

TARGET = 2.0
SIZES = (10_000, 1_000_000)


def measure(name: str, urls: list[str], signature: Any, now: datetime) -> tuple[str, float, float]:
    from airflow_emr_sizing.plan import SizingOptions, recommend_from_store
    from airflow_emr_sizing.recommender import Recommendation
    from airflow_emr_sizing.spark_conf import ExecutorSize
    from airflow_emr_sizing.sql_store import SqlStore

    current = ExecutorSize(8192, 819, 0, 0, 4, 4.0, 10)
    options = SizingOptions(app_name=APP)
    small, large = (SqlStore(url) for url in urls)
    for store in (small, large):  # warm the pool and the page cache; check the answer is real
        assert isinstance(recommend_from_store(store, signature, current, options, now), Recommendation)
    base, cand = interleaved(
        lambda: recommend_from_store(small, signature, current, options, now),
        lambda: recommend_from_store(large, signature, current, options, now),
        rounds=200,
    )
    ratio = cand / base
    print(
        f"[store-lookup] {name}: recommend_from_store {base * 1e3:.2f} ms with {SIZES[0]:,} "
        f"observations, {cand * 1e3:.2f} ms with {SIZES[1]:,}, growth {ratio:.3f}x"
    )
    return f"recommend() {name}, 1M vs 10k observations", ratio, TARGET


def main() -> list[tuple[str, float, float]]:
    setup_airflow()
    from airflow_emr_sizing.signature import build_signature
    from airflow_emr_sizing.testing_postgres import ThrowawayPostgres, find_postgres_bin

    now = datetime.now(timezone.utc).replace(minute=5, second=0, microsecond=0)
    signature = build_signature(APP, now, "Asia/Seoul", SPEC, "KR")
    results = [measure("SQLite", [f"sqlite:///{sqlite_store(n, now)}" for n in SIZES], signature, now)]
    if find_postgres_bin() is None:
        print("[store-lookup] PostgreSQL server binaries not found: PostgreSQL not measured", file=sys.stderr)
        return results
    with ThrowawayPostgres() as server:
        urls = []
        for count in SIZES:
            urls.append(server.create_database(f"lookup_{count}"))
            load_postgres(urls[-1], count, now)
        results.append(measure("PostgreSQL", urls, signature, now))
    return results


if __name__ == "__main__":
    sys.exit(0 if all(ratio <= target for _, ratio, target in main()) else 1)
