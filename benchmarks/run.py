"""Run every benchmark: ``python benchmarks/run.py`` (or ``make bench``).

Each benchmark measures the package against a baseline in the same run, interleaved, and prints
the ratio next to its target. Targets are checked here, never in unit tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_parse
import bench_presubmit
import bench_store_lookup


def main() -> int:
    results = [bench_presubmit.main(), bench_parse.main(), *bench_store_lookup.main()]
    print()
    for name, ratio, target in results:
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"{name:<55} {ratio:6.3f}x  (target <= {target:.2f}x)  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
