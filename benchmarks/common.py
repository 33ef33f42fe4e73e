"""Shared benchmark plumbing: an isolated Airflow, interleaved timing, robust summaries."""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
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


def import_ms(modules: Iterable[str], *, after: Iterable[str] = ("airflow.sdk",), rounds: int = 7) -> float:
    """Median milliseconds a new process takes to import ``modules`` once ``after`` is imported.

    Module imports happen once per process, so the per-operator measurements leave them out; this
    shows them. Bytecode is written and used, as an installed package has it.
    """
    return fresh_process_ms(f"import {', '.join(modules)}", setup=f"import {', '.join(after)}", rounds=rounds)


def fresh_process_ms(
    statement: str, *, setup: str, rounds: int = 7, env: dict[str, str] | None = None
) -> float:
    """Median milliseconds ``statement`` takes in a new process, after ``setup`` ran there."""
    code = (
        f"import time\n{setup}\nstart = time.perf_counter()\n{statement}\n"
        "print((time.perf_counter() - start) * 1e3)"
    )
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples = []
    for _ in range(rounds + 1):  # the first run writes the bytecode
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        samples.append(float(out.stdout.split()[-1]))
    return statistics.median(samples[1:])
