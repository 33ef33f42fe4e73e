"""Shared benchmark plumbing: an isolated Airflow, interleaved timing, robust summaries."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

BENCH_HOME = Path(__file__).resolve().parents[1] / ".bench"


def setup_airflow() -> None:
    import os

    from airflow_emr_sizing.testing import isolated_airflow

    isolated_airflow(BENCH_HOME / "airflow")
    os.environ["AIRFLOW_EMR_SIZING_CACHE_DIR"] = str(BENCH_HOME / "cache")


def interleaved(
    baseline: Callable[[], object], candidate: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median seconds of each, measured alternately so drift hits both equally.

    The garbage collector runs between measurements, not inside them (as ``timeit`` does).
    """
    base, cand = [], []
    for _ in range(rounds):
        for function, samples in ((baseline, base), (candidate, cand)):
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            measured = function()
            elapsed = time.perf_counter() - start
            gc.enable()
            samples.append(measured if isinstance(measured, float) else elapsed)
    return statistics.median(base), statistics.median(cand)
