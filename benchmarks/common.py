"""Shared benchmark plumbing: an isolated Airflow, interleaved timing, robust summaries."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

BENCH_HOME = Path(__file__).resolve().parents[1] / ".bench"


def setup_airflow() -> None:
    from airflow_emr_sizing.testing import isolated_airflow

    isolated_airflow(BENCH_HOME / "airflow")


def interleaved(
    baseline: Callable[[], object], candidate: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median seconds of each, measured alternately so drift hits both equally."""
    base, cand = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        baseline()
        base.append(time.perf_counter() - start)
        start = time.perf_counter()
        candidate()
        cand.append(time.perf_counter() - start)
    return statistics.median(base), statistics.median(cand)
