"""A daily job with a few anomalously small runs, in the backtest's input format.

The case a level estimated as a plain mean gets wrong: a daily 14:00 job (Asia/Seoul) whose
executors peak around 6000 MiB, except on ``--tiny`` days (0-based), whose runs processed almost
nothing and peaked at 537 MiB. Replayed with ``emr-sizing backtest --timezone Asia/Seoul``, the
same weekdays of the following weeks must not be sized below their usual need::

    python benchmarks/tiny_runs_history.py --days 90 --tiny 60,61 > tiny.jsonl
    emr-sizing backtest tiny.jsonl --timezone Asia/Seoul --format json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

START = datetime(2026, 1, 5, 14, tzinfo=timezone(timedelta(hours=9)))  # a Monday, 14:00 in Seoul
CONF = {"spark.executor.memory": "8g", "spark.executor.cores": "4",
        "spark.executor.instances": "10", "spark.dynamicAllocation.enabled": "false"}  # fmt: skip


def generate(
    days: int = 90, tiny: frozenset[int] = frozenset({60, 61}), seed: int = 1
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for day in range(days):
        peak = 537 if day in tiny else round(6000 * rng.lognormvariate(0, 0.05))
        yield {
            "run_id": f"r{day}",
            "app_name": "dw-blog-load",
            "started_at": (START + timedelta(days=day)).isoformat(),
            "duration_s": 1200,
            "spark_conf": CONF,
            "executors": 10,
            "peak_pod_memory_mib": peak,
            "peak_heap_mib": round(peak * 0.72),
            "cpu_used_cores_p90": 2.1,
            "oom": False,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--tiny", default="60,61", help="0-based days of the small runs, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    tiny = frozenset(int(day) for day in args.tiny.split(",") if day)
    for run in generate(args.days, tiny, args.seed):
        sys.stdout.write(json.dumps(run) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
