"""recommend() latency: the store-to-recommendation step with 10k vs 1M observations of the app.

Times ``plan.recommend_from_store`` (what the operator runs at submit time: two bounded index
range scans, then the recommender) on SQLite stores holding the same app's hourly history, 10k
and 1M runs deep. Bounded reads mean the depth must not matter: target growth <= 2x.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timezone

from big_store import APP, SPEC, store_path
from common import setup_airflow

TARGET = 2.0


def main() -> tuple[str, float, float]:
    setup_airflow()
    from airflow_emr_sizing.plan import SizingOptions, recommend_from_store
    from airflow_emr_sizing.recommender import Recommendation
    from airflow_emr_sizing.signature import build_signature
    from airflow_emr_sizing.spark_conf import ExecutorSize
    from airflow_emr_sizing.sql_store import SqlStore

    now = datetime.now(timezone.utc).replace(minute=5, second=0, microsecond=0)
    signature = build_signature(APP, now, "Asia/Seoul", SPEC, "KR")
    current = ExecutorSize(8192, 819, 0, 0, 4, 4.0, 10)
    options = SizingOptions(app_name=APP)
    stores = {rows: SqlStore(f"sqlite:///{store_path(rows, now)}") for rows in (10_000, 1_000_000)}
    timings: dict[int, list[float]] = {rows: [] for rows in stores}
    for _ in range(5):  # warm
        for store in stores.values():
            assert isinstance(recommend_from_store(store, signature, current, options, now), Recommendation)
    for _ in range(60):
        for rows, store in stores.items():
            start = time.perf_counter()
            recommend_from_store(store, signature, current, options, now)
            timings[rows].append(time.perf_counter() - start)
    small, large = (statistics.median(timings[rows]) for rows in (10_000, 1_000_000))
    ratio = large / small
    print(f"[recommend] SQLite, recommend_from_store: 10k runs {small * 1e3:.2f} ms, "
          f"1M runs {large * 1e3:.2f} ms, "
          f"growth {ratio:.2f}x")  # fmt: skip
    return "recommend() latency, 1M vs 10k observations (SQLite)", ratio, TARGET


if __name__ == "__main__":
    sys.exit(0 if main()[1] <= TARGET else 1)
