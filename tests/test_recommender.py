"""The v0 recommender: percentile of peaks plus margin, OOM floor, bounds, heap/overhead split, CPU."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.recommender import (
    Bounds,
    NoRecommendation,
    Recommendation,
    RecommenderSettings,
    percentile,
    recommend,
)
from airflow_emr_sizing.spark_conf import ExecutorSize
from airflow_emr_sizing.store import Observation

T0 = datetime(2026, 3, 6, 5, 0, tzinfo=timezone.utc)
JVM_4G = ExecutorSize(
    heap_mib=4096, overhead_mib=409, off_heap_mib=0, pyspark_mib=0, cores=4, request_cores=4.0, instances=10
)


def obs(
    peak: int | None = None,
    *,
    oom: bool = False,
    pod: int | None = None,
    cpu: float | None = None,
    n: int = 0,
) -> Observation:
    return Observation(
        job_id=f"job-{n}-{peak}-{oom}-{pod}-{cpu}",
        signature_hash="s1-x",
        app_name="app",
        started_at=T0,
        oom=oom,
        pod_memory_mib=pod,
        peak_pod_memory_mib=peak,
        cpu_used_cores_p90=cpu,
    )


def reference_percentile(values: list[float], q: float) -> float:
    """numpy.percentile(values, 100 * q) with the default 'linear' method."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


# --- percentile -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([10, 20, 30, 40, 50], 0.95, 48.0),  # position 3.8: 40 + 0.8 * 10
        ([5], 0.9, 5.0),
        ([3, 1, 2], 0.0, 1.0),
        ([3, 1, 2], 1.0, 3.0),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9.1),  # position 8.1
        ([100, 200], 0.25, 125.0),
        ([40, 10, 30, 20], 0.75, 32.5),  # sorted first; position 2.25: 30 + 0.25 * 10
        ([7, 7, 7], 0.95, 7.0),
    ],
)
def test_percentile_known_values(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@given(
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_percentile_matches_linear_interpolation(values: list[int], q: float) -> None:
    result = percentile(values, q)
    assert result == pytest.approx(reference_percentile(values, q), rel=1e-9, abs=1e-6)
    assert min(values) <= result <= max(values)


# --- no recommendation ----------------------------------------------------------------------------


def test_no_history() -> None:
    result = recommend([], JVM_4G)
    assert isinstance(result, NoRecommendation)
    assert result.samples == 0


def test_below_min_samples() -> None:
    history = [
        obs(3000, n=1),
        obs(3100, n=2),
        obs(None, n=3),  # no usage known
        obs(9000, oom=True, n=4),  # OOM runs' peaks are not samples (and no pod size: no floor)
    ]
    result = recommend(history, JVM_4G)
    assert isinstance(result, NoRecommendation)
    assert result.samples == 2
    assert "2" in result.reason and "3" in result.reason


def test_min_samples_setting() -> None:
    assert isinstance(
        recommend([obs(1000, n=1)], JVM_4G, settings=RecommenderSettings(min_samples=1)), Recommendation
    )
    with pytest.raises(ValueError):
        RecommenderSettings(min_samples=0)


# --- memory ---------------------------------------------------------------------------------------


def test_known_recommendation() -> None:
    result = recommend([obs(3000, n=1), obs(3200, n=2), obs(3100, n=3)], JVM_4G)
    assert isinstance(result, Recommendation)
    # p95 of [3000, 3100, 3200]: position 1.9 -> 3100 + 0.9 * 100 = 3190
    # 3190 * 1.15 = 3668.5 -> 3669 -> next multiple of 64: 58 * 64 = 3712
    assert result.pod_memory_mib == 3712
    # heap = floor(3712 / (1 + 409/4096)) = 3374 leaves 338 < 384 of overhead, so overhead is 384
    assert result.executor_memory_overhead_mib == 384
    assert result.executor_memory_mib == 3712 - 384
    assert result.executor_request_cores is None
    assert result.basis["samples"] == 3


def test_split_keeps_the_overhead_ratio() -> None:
    current = ExecutorSize(8192, 819, 0, 0, 4, 4.0, 10)
    result = recommend([obs(9000, n=1), obs(9500, n=2), obs(10000, n=3)], current)
    assert isinstance(result, Recommendation)
    # p95: 9500 + 0.9 * 500 = 9950; * 1.15 = 11442.5 -> 11443 -> 179 * 64 = 11456
    assert result.pod_memory_mib == 11456
    heap = math.floor(11456 / (1 + 819 / 8192))
    assert result.executor_memory_mib == heap
    assert result.executor_memory_overhead_mib == 11456 - heap
    assert result.executor_memory_overhead_mib >= 384


def test_extras_are_kept_on_top_of_heap_and_overhead() -> None:
    current = ExecutorSize(4096, 1638, 512, 1024, 2, 2.0, None)  # python app with off-heap
    result = recommend([obs(8000, n=1), obs(8000, n=2), obs(8000, n=3)], current)
    assert isinstance(result, Recommendation)
    # 8000 * 1.15 = 9200 -> 144 * 64 = 9216 for the pod; heap + overhead get 9216 - 1536 = 7680
    assert result.pod_memory_mib == 9216
    assert result.executor_memory_mib + result.executor_memory_overhead_mib == 7680
    assert result.executor_memory_mib == math.floor(7680 / (1 + 1638 / 4096))


def test_oom_floor_beats_lower_peaks() -> None:
    history = [obs(2000, n=1), obs(2000, n=2), obs(2000, n=3), obs(oom=True, pod=4505, n=4)]
    result = recommend(history, JVM_4G)
    assert isinstance(result, Recommendation)
    # max(1.2 * 4505, 4505 + 100) = 5406 -> 85 * 64 = 5440
    assert result.pod_memory_mib == 5440
    assert result.basis["oom_floor_mib"] == 5406


def test_oom_floor_small_pod_uses_the_minimum_step() -> None:
    result = recommend([obs(oom=True, pod=400, n=1)], JVM_4G)
    assert isinstance(result, Recommendation)
    assert result.basis["oom_floor_mib"] == 500  # max(480, 400 + 100)


PEAKS = st.lists(st.integers(min_value=1, max_value=200_000), min_size=3, max_size=12)
CURRENT = st.builds(
    ExecutorSize,
    heap_mib=st.integers(min_value=512, max_value=128 * 1024),
    overhead_mib=st.integers(min_value=0, max_value=64 * 1024),
    off_heap_mib=st.sampled_from([0, 0, 512, 2048, 3000]),
    pyspark_mib=st.sampled_from([0, 0, 1024, 333]),
    cores=st.integers(min_value=1, max_value=16),
    request_cores=st.just(1.0),
    instances=st.none(),
)


@given(PEAKS, CURRENT, st.sampled_from([0.5, 0.9, 0.95, 1.0]), st.sampled_from([0.0, 0.1, 0.15, 0.5]))
def test_pod_target_covers_percentile_plus_margin(
    peaks: list[int], current: ExecutorSize, q: float, margin: float
) -> None:
    config = RecommenderSettings(percentile=q, margin=margin)
    result = recommend([obs(p, n=i) for i, p in enumerate(peaks)], current, settings=config)
    assert isinstance(result, Recommendation)
    wanted = reference_percentile(peaks, q) * (1 + margin)
    extras = current.off_heap_mib + current.pyspark_mib
    assert result.pod_memory_mib >= wanted - 1e-6
    assert result.executor_memory_mib + result.executor_memory_overhead_mib + extras == result.pod_memory_mib
    assert result.executor_memory_overhead_mib >= 384
    if wanted - extras > 1024:  # above the minimum executor size: exactly the rounded target
        assert result.pod_memory_mib % 64 == 0
        assert result.pod_memory_mib < wanted + 64 + 1


@given(st.integers(min_value=1, max_value=500_000), CURRENT, st.lists(st.integers(1, 400_000), max_size=5))
def test_an_oom_forces_a_bigger_pod(oom_size: int, current: ExecutorSize, peaks: list[int]) -> None:
    history = [obs(oom=True, pod=oom_size, n=0)] + [obs(p, n=i + 1) for i, p in enumerate(peaks)]
    result = recommend(history, current)
    assert isinstance(result, Recommendation)
    assert result.pod_memory_mib >= max(1.2 * oom_size, oom_size + 100)
    assert result.pod_memory_mib > oom_size
    extras = current.off_heap_mib + current.pyspark_mib
    assert result.executor_memory_mib + result.executor_memory_overhead_mib + extras == result.pod_memory_mib
    assert result.executor_memory_overhead_mib >= 384


@given(CURRENT)
def test_recommended_heap_is_one_spark_accepts(current: ExecutorSize) -> None:
    # Spark refuses executor memory below 1.5 x 300 MiB of reserved memory (UnifiedMemoryManager).
    result = recommend([obs(100, n=1), obs(120, n=2), obs(110, n=3)], current)
    assert isinstance(result, Recommendation)
    assert result.executor_memory_mib >= 450
    assert result.executor_memory_overhead_mib >= 384


def test_small_job_with_large_explicit_overhead_keeps_a_valid_heap() -> None:
    current = ExecutorSize(1024, 2048, 0, 0, 1, 1.0, None)  # --executor-memory 1g, memoryOverhead 2g
    result = recommend([obs(300, n=1), obs(300, n=2), obs(300, n=3)], current)
    assert isinstance(result, Recommendation)
    assert result.executor_memory_mib >= 450


HEAP_BOUNDS = st.tuples(st.integers(256, 64 * 1024), st.integers(256, 64 * 1024)).map(sorted)


@settings(max_examples=200)
@given(
    PEAKS,
    st.lists(st.integers(1, 300_000), max_size=2),
    CURRENT,
    st.one_of(st.none(), HEAP_BOUNDS),
    st.booleans(),
    st.booleans(),
)
def test_heap_bounds_always_hold(
    peaks: list[int],
    ooms: list[int],
    current: ExecutorSize,
    heap_bounds: list[int] | None,
    use_min: bool,
    use_max: bool,
) -> None:
    low, high = heap_bounds or (None, None)
    bounds = Bounds(min_heap_mib=low if use_min else None, max_heap_mib=high if use_max else None)
    history = [obs(p, n=i) for i, p in enumerate(peaks)] + [
        obs(oom=True, pod=s, n=100 + i) for i, s in enumerate(ooms)
    ]
    result = recommend(history, current, bounds)
    assert isinstance(result, Recommendation)
    if bounds.min_heap_mib is not None:
        assert result.executor_memory_mib >= bounds.min_heap_mib
    if bounds.max_heap_mib is not None:
        assert result.executor_memory_mib <= bounds.max_heap_mib
    extras = current.off_heap_mib + current.pyspark_mib
    assert result.executor_memory_mib + result.executor_memory_overhead_mib + extras == result.pod_memory_mib
    assert result.executor_memory_overhead_mib >= 384
    if bounds == Bounds():
        assert "clamped" not in result.basis


def test_max_heap_clamp_is_reported() -> None:
    result = recommend([obs(20000, n=i) for i in range(3)], JVM_4G, Bounds(max_heap_mib=8192))
    assert isinstance(result, Recommendation)
    assert result.executor_memory_mib == 8192
    assert result.executor_memory_overhead_mib == max(int(8192 * 409 / 4096), 384)
    assert result.basis["clamped"] == ["max_executor_memory"]


def test_min_heap_clamp_is_reported() -> None:
    result = recommend([obs(1000, n=i) for i in range(3)], JVM_4G, Bounds(min_heap_mib=3072))
    assert isinstance(result, Recommendation)
    assert result.executor_memory_mib == 3072
    assert result.executor_memory_overhead_mib == 384  # max(int(3072 * 409 / 4096) = 306, 384)
    assert result.basis["clamped"] == ["min_executor_memory"]


# --- CPU ------------------------------------------------------------------------------------------


def test_cpu_none_without_enough_cpu_samples() -> None:
    history = [obs(3000, n=1, cpu=1.0), obs(3000, n=2, cpu=1.2), obs(3000, n=3)]
    result = recommend(history, JVM_4G)
    assert isinstance(result, Recommendation)
    assert result.executor_request_cores is None
    assert "cpu_samples" not in result.basis


@pytest.mark.parametrize(
    ("bounds", "cores", "expected"),
    [
        # p90 of [1.0, 1.2, 1.4]: position 1.8 -> 1.36; * 1.2 = 1.632 -> next 0.05 step: 1.65
        (Bounds(), 4, 1.65),
        (Bounds(max_cores=1.5), 4, 1.5),
        (Bounds(min_cores=2.0), 4, 2.0),
        (Bounds(), 1, 1.0),  # never above spark.executor.cores
        (Bounds(min_cores=3.0), 2, 2.0),
    ],
)
def test_cpu_recommendation(bounds: Bounds, cores: int, expected: float) -> None:
    current = ExecutorSize(4096, 409, 0, 0, cores, float(cores), None)
    history = [obs(3000, n=1, cpu=1.0), obs(3000, n=2, cpu=1.2), obs(3000, n=3, cpu=1.4)]
    result = recommend(history, current, bounds)
    assert isinstance(result, Recommendation)
    assert result.executor_request_cores == pytest.approx(expected)
    assert result.basis["cpu_samples"] == 3


def test_cpu_floor_for_idle_executors() -> None:
    history = [obs(3000, n=i, cpu=0.01) for i in range(3)]
    result = recommend(history, JVM_4G)
    assert isinstance(result, Recommendation)
    assert result.executor_request_cores == pytest.approx(0.25)


MILLICORES = st.integers(min_value=1, max_value=16_000).map(lambda m: m / 1000)


@settings(max_examples=200)
@given(
    st.lists(st.floats(min_value=0.0, max_value=32.0, allow_nan=False), min_size=3, max_size=10),
    st.integers(min_value=1, max_value=16),
    st.one_of(st.none(), MILLICORES),
    st.one_of(st.none(), MILLICORES),
)
def test_cores_bounds_always_hold(
    used: list[float], cores: int, min_cores: float | None, max_cores: float | None
) -> None:
    floor = min_cores if min_cores is not None else RecommenderSettings().min_cores
    ceiling = min(float(cores), max_cores if max_cores is not None else math.inf)
    if floor > ceiling:
        return
    current = ExecutorSize(4096, 409, 0, 0, cores, float(cores), None)
    history = [obs(3000, n=i, cpu=c) for i, c in enumerate(used)]
    result = recommend(history, current, Bounds(min_cores=min_cores, max_cores=max_cores))
    assert isinstance(result, Recommendation)
    got = result.executor_request_cores
    assert got is not None
    assert floor <= got <= ceiling
    wanted = reference_percentile(used, 0.9) * 1.2
    assert got >= min(wanted, ceiling) - 1e-9
