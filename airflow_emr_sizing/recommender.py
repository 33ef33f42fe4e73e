"""Recommend an executor size from a signature's history (v0: enough to close the loop).

Policy: a high percentile of the peak pod memory the signature's runs really used, plus a safety
margin; never below a size that has already OOMed (bumped as VPA does, max(1.2·X, X + 100 MiB));
clamped to the user's bounds. The pod target is split into heap and overhead keeping the job's own
overhead ratio and Spark's minimum overhead. Too little history is an answer, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_emr_sizing.spark_conf import ExecutorSize
from airflow_emr_sizing.store import Observation

__all__ = ["Bounds", "NoRecommendation", "Recommendation", "RecommenderSettings", "percentile", "recommend"]

MIN_OVERHEAD_MIB = 384
#: Spark refuses executor memory below 1.5 x its 300 MiB reserved memory (UnifiedMemoryManager).
MIN_HEAP_MIB = 450
_MEMORY_STEP_MIB = 64
_CPU_STEP = 0.05


@dataclass(frozen=True)
class RecommenderSettings:
    """Knobs of the v0 policy."""

    min_samples: int = 3
    percentile: float = 0.95
    margin: float = 0.15
    cpu_percentile: float = 0.9
    cpu_margin: float = 0.2
    min_cores: float = 0.25
    oom_bump: float = 1.2
    oom_min_step_mib: int = 100

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if not 0 < self.percentile <= 1 or not 0 < self.cpu_percentile <= 1:
            raise ValueError("percentiles must be in (0, 1]")


@dataclass(frozen=True)
class Bounds:
    """User limits on what may be injected: executor heap (MiB) and CPU request (cores)."""

    min_heap_mib: int | None = None
    max_heap_mib: int | None = None
    min_cores: float | None = None
    max_cores: float | None = None


@dataclass(frozen=True)
class Recommendation:
    executor_memory_mib: int
    executor_memory_overhead_mib: int
    pod_memory_mib: int
    executor_request_cores: float | None
    basis: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "executor_memory_mib": self.executor_memory_mib,
            "executor_memory_overhead_mib": self.executor_memory_overhead_mib,
            "pod_memory_mib": self.pod_memory_mib,
            "executor_request_cores": self.executor_request_cores,
        }


@dataclass(frozen=True)
class NoRecommendation:
    """Why there is no recommendation (the job then runs at its configured size)."""

    reason: str
    samples: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of a non-empty sequence."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def recommend(
    history: Sequence[Observation],
    current: ExecutorSize,
    bounds: Bounds = Bounds(),
    settings: RecommenderSettings = RecommenderSettings(),
) -> Recommendation | NoRecommendation:
    """Recommend an executor size for the next run of a signature.

    :param history: the signature's observations, newest first.
    :param current: the size the job is configured with (its overhead ratio and fixed extras).
    """
    peaks = [o.peak_pod_memory_mib for o in history if o.peak_pod_memory_mib is not None and not o.oom]
    oom_sizes = [o.pod_memory_mib for o in history if o.oom and o.pod_memory_mib is not None]
    oom_floor = max((_oom_bump(size, settings) for size in oom_sizes), default=0)
    if len(peaks) < settings.min_samples and not oom_floor:
        return NoRecommendation(
            f"{len(peaks)} usable sample(s), need {settings.min_samples}", samples=len(peaks)
        )
    basis: dict[str, Any] = {"level": "exact", "samples": len(peaks)}
    target = 0
    if len(peaks) >= settings.min_samples:
        observed = percentile(peaks, settings.percentile)
        target = math.ceil(observed * (1 + settings.margin))
        basis.update(
            percentile=settings.percentile, margin=settings.margin, observed_peak_mib=round(observed)
        )
    if oom_floor > target:
        basis["oom_floor_mib"] = oom_floor
        target = oom_floor
    target = _round_up(target, _MEMORY_STEP_MIB)

    heap, overhead, clamped = _split(target, current, bounds)
    if clamped:
        basis["clamped"] = clamped
    cores = _recommend_cores(history, current, bounds, settings, basis)
    return Recommendation(
        executor_memory_mib=heap,
        executor_memory_overhead_mib=overhead,
        pod_memory_mib=heap + overhead + current.off_heap_mib + current.pyspark_mib,
        executor_request_cores=cores,
        basis=basis,
    )


def _oom_bump(size_mib: int, settings: RecommenderSettings) -> int:
    return math.ceil(max(size_mib * settings.oom_bump, size_mib + settings.oom_min_step_mib))


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _split(target_pod_mib: int, current: ExecutorSize, bounds: Bounds) -> tuple[int, int, list[str]]:
    """Split a pod target into heap + overhead with the job's overhead ratio, then clamp the heap."""
    extras = current.off_heap_mib + current.pyspark_mib
    ratio = current.overhead_mib / current.heap_mib if current.heap_mib else 0.1
    room = max(target_pod_mib - extras, MIN_HEAP_MIB + MIN_OVERHEAD_MIB)
    heap = math.floor(room / (1 + ratio))
    if room - heap < MIN_OVERHEAD_MIB:
        heap = room - MIN_OVERHEAD_MIB
    heap = max(heap, MIN_HEAP_MIB)
    clamped: list[str] = []
    if bounds.min_heap_mib is not None and heap < bounds.min_heap_mib:
        heap, clamped = bounds.min_heap_mib, [*clamped, "min_executor_memory"]
    if bounds.max_heap_mib is not None and heap > bounds.max_heap_mib:
        heap, clamped = bounds.max_heap_mib, [*clamped, "max_executor_memory"]
    overhead = max(room - heap, MIN_OVERHEAD_MIB) if not clamped else max(int(heap * ratio), MIN_OVERHEAD_MIB)
    return heap, overhead, clamped


def _recommend_cores(
    history: Sequence[Observation],
    current: ExecutorSize,
    bounds: Bounds,
    settings: RecommenderSettings,
    basis: dict[str, Any],
) -> float | None:
    used = [o.cpu_used_cores_p90 for o in history if o.cpu_used_cores_p90 is not None]
    if len(used) < settings.min_samples:
        return None
    wanted = percentile(used, settings.cpu_percentile) * (1 + settings.cpu_margin)
    floor = bounds.min_cores if bounds.min_cores is not None else settings.min_cores
    ceiling = min(float(current.cores), bounds.max_cores if bounds.max_cores is not None else math.inf)
    cores = min(max(math.ceil(wanted / _CPU_STEP) * _CPU_STEP, floor), ceiling)
    basis["cpu_samples"] = len(used)
    return round(cores, 3)
