"""Run every benchmark: ``python benchmarks/run.py`` (or ``make bench``).

Each benchmark measures the package against a baseline in the same run, interleaved, and prints
the ratio next to its target. Targets are checked here, never in unit tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest
import bench_eventlog
import bench_parse
import bench_presubmit
import bench_recommender
import bench_store_lookup


def main() -> int:
    # (name, ratio, target, higher_is_better)
    results = [
        (*bench_presubmit.main(), False),
        (*bench_parse.main(), False),
        *((*r, False) for r in bench_store_lookup.main()),
        (*bench_recommender.main(), False),
        (*bench_backtest.main(), True),
        *bench_eventlog.main(),
    ]
    print()
    for name, ratio, target, higher in results:
        ok = ratio >= target if higher else ratio <= target
        verdict = "ok" if ok else ("UNDER TARGET" if higher else "OVER TARGET")
        print(f"{name:<55} {ratio:6.3f}x  (target {'>=' if higher else '<='} {target:.2f}x)  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
