"""The recommender: levels, spread, drift, OOM handling, split, CPU, bounds and node fit."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_emr_sizing.recommender import (
    MIN_HEAP_MIB,
    MIN_OVERHEAD_MIB,
    Bounds,
    NodeShape,
    NoRecommendation,
    Policy,
    Recommendation,
    RunContext,
    cpu_step_millis,
    day_type,
    recommend,
    weighted_quantile,
)
from airflow_emr_sizing.spark_conf import ExecutorSize
from airflow_emr_sizing.store import Observation

NOW = datetime(2026, 3, 6, 5, 5, tzinfo=timezone.utc)  # Friday 14:05 in Seoul, hour 14 in these tests
JVM_8G = ExecutorSize(
    heap_mib=8192, overhead_mib=819, off_heap_mib=0, pyspark_mib=0, cores=4, request_cores=4.0, instances=10
)


def run(
    hours_ago: float,
    peak: int | None = 3000,
    *,
    dow: int | None = None,
    hour: int | None = None,
    holiday: bool = False,
    oom: bool = False,
    pod: int | None = 9011,
    predicted: int | None = None,
    level: str | None = None,
    drift: float | None = None,
    cpu: float | None = None,
    heap: int | None = None,
    n: int = 0,
) -> Observation:
    started = NOW - timedelta(hours=hours_ago)
    local = started + timedelta(hours=9)  # the tests' days and hours are Seoul's
    return Observation(
        job_id=f"jr-{hours_ago}-{n}",
        signature_hash="s1-x",
        app_name="app",
        started_at=started,
        day_of_week=local.isoweekday() % 7 if dow is None else dow,
        hour=local.hour if hour is None else hour,
        holiday=holiday,
        resource_spec="dra-off-exec-10",
        oom=oom,
        state="FAILED" if oom else "COMPLETED",
        pod_memory_mib=pod,
        peak_pod_memory_mib=None if oom else peak,
        peak_heap_mib=heap,
        cpu_used_cores_p90=cpu,
        predicted_peak_mib=predicted,
        predicted_level=level,
        predicted_drift=drift,
    )


def context(pool: list[Observation], history: list[Observation] | None = None, **kw: Any) -> RunContext:
    pool = sorted(pool, key=lambda o: o.started_at, reverse=True)
    exact = history if history is not None else [o for o in pool if o.day_of_week == 5 and o.hour == 14]
    args: dict[str, Any] = {"now": NOW, "day_of_week": 5, "hour": 14, "holiday": False, "current": JVM_8G}
    return RunContext(history=exact, pool=pool, **{**args, **kw})


def weekly(peaks: list[int], **kw: Any) -> list[Observation]:
    """The same Friday 14:05 on consecutive weeks, newest first."""
    return [run(24 * 7 * (i + 1), p, n=i, **kw) for i, p in enumerate(peaks)]


def hourly(days: int, peak_at: Any, **kw: Any) -> list[Observation]:
    """Every hour of the last ``days`` days; ``peak_at(observation_time)`` gives the peak."""
    runs = []
    for h in range(1, days * 24 + 1):
        local = NOW + timedelta(hours=9 - h)
        runs.append(run(h, peak_at(local), n=h, **kw))
    return runs


# --- helpers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "weights", "q", "expected"),
    [
        ([1, 2, 3, 4], [1, 1, 1, 1], 0.5, 2),
        ([1, 2, 3, 4], [1, 1, 1, 5], 0.5, 4),
        ([5, 1, 3], [1, 1, 1], 1.0, 5),
        ([10, 20], [3, 1], 0.75, 10),
        ([10, 20], [3, 1], 0.76, 20),
    ],
)
def test_weighted_quantile(values: list[float], weights: list[float], q: float, expected: float) -> None:
    assert weighted_quantile(values, weights, q) == expected


@pytest.mark.parametrize(
    ("dow", "holiday", "kind"),
    [(1, False, "weekday"), (6, False, "weekend"), (0, False, "weekend"), (3, True, "holiday")],
)
def test_day_type(dow: int, holiday: bool, kind: str) -> None:
    assert day_type(dow, holiday) == kind


# --- no recommendation ----------------------------------------------------------------------------


def test_no_history_is_a_value_with_a_reason() -> None:
    result = recommend(context([]))

    assert isinstance(result, NoRecommendation)
    assert "need 3" in result.reason


def test_only_old_history_says_so() -> None:
    old = [run(24 * 7 * (10 + i), 3000, n=i) for i in range(5)]

    result = recommend(context(old))

    assert isinstance(result, NoRecommendation)
    assert "none in the last 42 days" in result.reason


# --- level ----------------------------------------------------------------------------------------


def test_exact_level_follows_the_hour_profile_and_the_weekday() -> None:
    # hour 14 needs 4000, other hours 2000; Fridays need 25 % more at every hour
    def peak(local: datetime) -> int:
        base = 4000 if local.hour == 14 else 2000
        friday = 1.25 if local.isoweekday() == 5 else 1.0
        return int(base * friday) if local.isoweekday() <= 5 else int(base * 0.8)

    result = recommend(context(hourly(14, peak)))

    assert isinstance(result, Recommendation)
    assert result.basis["level"] == "exact"
    assert result.predicted_peak_mib == pytest.approx(5000, rel=0.01)


def test_sparse_signatures_back_off_to_coarser_levels() -> None:
    only_other_days = [run(24 * d, 3000, n=d) for d in (1, 2, 3)]  # Thu, Wed, Tue at 14:05

    result = recommend(context(only_other_days, history=[]))

    assert isinstance(result, Recommendation)
    assert result.basis["level"] == "hour+daytype"


def test_holidays_borrow_from_rest_days_at_the_same_hour() -> None:
    weekends = [run(24 * (6 + 7 * w), 2000, n=w) for w in range(3)]  # Saturdays at 14:05
    weekdays = [run(24 * d, 4000, n=100 + d) for d in (1, 2, 3)]

    result = recommend(context(weekends + weekdays, history=[], holiday=True))

    assert isinstance(result, Recommendation)
    assert result.basis["level"] == "hour+restday"
    assert result.predicted_peak_mib == pytest.approx(2000, rel=0.01)


def test_recent_runs_outweigh_old_ones() -> None:
    history = weekly([4000, 4000, 2000, 2000, 2000])  # the two newest weeks are higher

    result = recommend(context(history))

    assert isinstance(result, Recommendation)
    assert result.predicted_peak_mib > 2000 * (4000 / 2000) ** 0.5  # past the geometric midpoint


def daily_with_tiny_runs(days: int, tiny_days: tuple[int, ...]) -> list[Observation]:
    """A daily 14:05 job needing about 6000 MiB (a few % of scatter) over the last ``days`` days,
    except on ``tiny_days`` (days ago), whose runs processed almost nothing and peaked at 537 MiB."""
    return [
        run(24 * d, 537 if d in tiny_days else int(6000 * math.exp(0.05 * math.sin(3 * d))), n=d)
        for d in range(1, days + 1)
    ]


@pytest.mark.parametrize("tiny_days", [(7,), (7, 6), (14, 13)])
def test_a_few_tiny_runs_do_not_drag_the_level_down(tiny_days: tuple[int, ...]) -> None:
    # last Friday (7 days ago) and Saturday (6) barely ran; this Friday needs what Fridays need
    history = daily_with_tiny_runs(40, tiny_days)
    usual = [o.peak_pod_memory_mib or 0 for o in history if o.peak_pod_memory_mib != 537]

    result = recommend(context(history))

    assert isinstance(result, Recommendation)
    assert result.basis["level"] == "exact"
    assert result.predicted_peak_mib > 0.9 * 6000
    assert result.pod_memory_mib > max(usual)


def test_tiny_runs_cost_no_ooms_in_the_closed_loop() -> None:
    # the reported case: 90 days of a ~6000 MiB daily job, tiny runs on days 60 and 61; every run
    # is sized from the ones before it and the closed loop learns an OOM where it under-sized
    from airflow_emr_sizing.backtest import HistoryRun, StoreSizer, replay

    conf = {"spark.executor.memory": "8g", "spark.executor.instances": "10",
            "spark.dynamicAllocation.enabled": "false"}  # fmt: skip
    start = datetime(2026, 1, 5, 14, tzinfo=timezone(timedelta(hours=9)))
    runs = [
        HistoryRun(f"r{d}", "app", start + timedelta(days=d), conf, executors=10,
                   peak_pod_memory_mib=537 if d in (60, 61) else int(6000 * math.exp(0.05 * math.sin(3 * d))))
        for d in range(90)
    ]  # fmt: skip

    under = [o.run.run_id for o in replay(runs, StoreSizer(), "Asia/Seoul") if o.under_provisioned]

    assert under == []


@pytest.mark.parametrize("tiny_hours", [6, 8])
def test_a_stretch_of_tiny_runs_is_not_a_trend_to_follow_down(tiny_hours: int) -> None:
    """An outage of a few hours (half the drift window of empty runs) must not shrink the next runs."""
    from airflow_emr_sizing.backtest import HistoryRun, StoreSizer, replay

    conf = {"spark.executor.memory": "8g", "spark.executor.instances": "10",
            "spark.dynamicAllocation.enabled": "false"}  # fmt: skip
    start = datetime(2026, 1, 5, 0, tzinfo=timezone.utc)
    tiny = range(24 * 28 + 3, 24 * 28 + 3 + tiny_hours)
    runs = [
        HistoryRun(f"r{h}", "app", start + timedelta(hours=h), conf, executors=10,
                   peak_pod_memory_mib=537 if h in tiny else int(6000 * math.exp(0.05 * math.sin(3 * h))))
        for h in range(24 * 32)
    ]  # fmt: skip

    under = [o.run.run_id for o in replay(runs, StoreSizer(), "UTC") if o.under_provisioned]

    assert under == []


@pytest.mark.parametrize(
    ("peak", "pod"),
    [
        (9000 * 1024 * 1024, None),  # a peak in bytes written as MiB, pod size unknown
        (9000 * 1024, 9011),  # in KiB: far above what its own pod could hold
        (25 * 1024 * 1024, 30 * 1024 * 1024),  # above any EC2 instance's memory
    ],
)
def test_a_peak_that_cannot_have_been_measured_is_left_out_and_said(peak: int, pod: int | None) -> None:
    good = weekly([3000, 3100, 3200, 3050])
    bad = run(24 * 7 * 5 - 1, peak, pod=pod, n=99)

    clean, polluted = recommend(context(good)), recommend(context([*good, bad], history=[*good, bad]))

    assert isinstance(clean, Recommendation) and isinstance(polluted, Recommendation)
    assert polluted.pod_memory_mib == clean.pod_memory_mib
    assert polluted.basis["implausible_peaks"] == 1 and "implausible_peaks" not in clean.basis


def test_peaks_up_to_a_few_times_their_pod_still_count() -> None:
    """Summed peaks of separate processes may pass the pod's size; only the impossible is left out."""
    without = recommend(context(weekly([3000, 3100, 3200, 3050], pod=3500)))

    result = recommend(context(weekly([3000, 3100, 3200, 3050, 12000], pod=3500)))

    assert isinstance(result, Recommendation) and isinstance(without, Recommendation)
    assert "implausible_peaks" not in result.basis
    assert result.pod_memory_mib > without.pod_memory_mib


def test_left_out_peaks_are_counted_when_there_is_no_recommendation() -> None:
    runs = weekly([3000, 9000 * 1024 * 1024], pod=None)

    result = recommend(context(runs))

    assert isinstance(result, NoRecommendation) and result.implausible_peaks == 1


def test_an_oom_of_an_impossible_pod_sets_no_floor_nor_error() -> None:
    impossible = run(2, oom=True, pod=9000 * 1024 * 1024, predicted=3000, level="exact", n=98)
    runs = [*weekly([3000, 3100, 3200, 3050]), impossible]

    result = recommend(context(runs, history=runs))

    assert isinstance(result, Recommendation) and "oom_floor_mib" not in result.basis
    assert result.pod_memory_mib < 9000


# --- spread ---------------------------------------------------------------------------------------


def test_with_few_errors_the_default_spread_applies() -> None:
    result = recommend(context(weekly([3000, 3000, 3000])))

    assert isinstance(result, Recommendation)
    assert (result.basis["spread"], result.basis["spread_from"]) == (0.5, "default")
    assert result.pod_memory_mib >= 3000 * 1.5


def test_spread_is_learnt_from_prediction_errors() -> None:
    # 200 hourly runs predicted at 3000 whose peaks scatter by about 5 %
    pool = [
        run(h, int(3000 * math.exp(0.05 * math.sin(h))), predicted=3000, level="exact", n=h)
        for h in range(1, 200)
    ]

    result = recommend(context(pool))

    assert isinstance(result, Recommendation)
    assert result.basis["spread_from"] in ("fitted", "empirical")
    assert 0.03 < result.basis["spread"] < 0.2
    assert result.pod_memory_mib < 3000 * 1.3


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-0.3, 0.3), min_size=40, max_size=120), st.floats(0.001, 0.2), st.floats(0.001, 0.2)
)
def test_more_risk_never_means_more_memory(errors: list[float], risk_a: float, risk_b: float) -> None:
    pool = [
        run(h + 1, int(3000 * math.exp(e)), predicted=3000, level="exact", n=h) for h, e in enumerate(errors)
    ]
    low, high = sorted((risk_a, risk_b))

    safer = recommend(context(pool), Policy(risk=low))
    riskier = recommend(context(pool), Policy(risk=high))

    assert isinstance(safer, Recommendation) and isinstance(riskier, Recommendation)
    assert safer.pod_memory_mib >= riskier.pod_memory_mib


# --- drift and OOM --------------------------------------------------------------------------------


def test_a_step_change_across_the_app_is_followed_at_once() -> None:
    # every hour was predicted at 3000 and the last 12 runs needed 4200: levels lag by 40 %
    before = [run(h, 3000, predicted=3000, level="exact", n=h) for h in range(13, 200)]
    after = [run(h, 4200, predicted=3000, level="exact", n=h) for h in range(1, 13)]

    result = recommend(context(before + after))

    assert isinstance(result, Recommendation)
    assert result.basis["drift"] == pytest.approx(0.4, abs=0.01)
    assert result.pod_memory_mib > 4200


def test_noise_is_not_drift() -> None:
    pool = [run(h, 3000 + (60 if h % 2 else -60), predicted=3000, level="exact", n=h) for h in range(1, 200)]

    result = recommend(context(pool))

    assert isinstance(result, Recommendation)
    assert "drift" not in result.basis


@settings(max_examples=60, deadline=None)
@given(st.integers(1000, 40000), st.lists(st.integers(500, 30000), min_size=0, max_size=8))
def test_never_below_a_size_that_oomed(oom_size: int, peaks: list[int]) -> None:
    history = [run(1, None, oom=True, pod=oom_size, n=999), *weekly(peaks)]

    result = recommend(context(history, history=history))

    assert isinstance(result, Recommendation)
    assert result.pod_memory_mib >= max(1.2 * oom_size, oom_size + 100)


def test_an_oom_in_one_signature_raises_its_siblings_for_a_while() -> None:
    quiet = [run(h, 3000, predicted=3000, level="exact", n=h, hour=(14 + h) % 24) for h in range(2, 200)]
    oom = run(1, None, oom=True, pod=3600, predicted=3000, level="exact", hour=13)

    raised = recommend(context([oom, *quiet], history=weekly([3000] * 4)))
    later = recommend(context([oom, *quiet], history=weekly([3000] * 4), now=NOW + timedelta(days=4)))

    assert isinstance(raised, Recommendation) and isinstance(later, Recommendation)
    assert raised.basis["sibling_oom_factor"] == pytest.approx(3600 * 1.2 / 3000, rel=0.01)
    assert "sibling_oom_factor" not in later.basis


# --- split, CPU, bounds, node fit -----------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(200, 60000), min_size=3, max_size=8),
    st.one_of(st.none(), st.integers(450, 20000)),
    st.one_of(st.none(), st.integers(450, 40000)),
    st.one_of(st.none(), st.floats(0.1, 2)),
    st.one_of(st.none(), st.floats(0.5, 8)),
)
def test_bounds_and_spark_minimums_always_hold(
    peaks: list[int], low: int | None, high: int | None, min_cores: float | None, max_cores: float | None
) -> None:
    if low is not None and high is not None and low > high:
        low, high = high, low
    bounds = Bounds(min_heap_mib=low, max_heap_mib=high, min_cores=min_cores, max_cores=max_cores)
    history = weekly(peaks, cpu=1.5, pod=None)  # any peak, whatever the pod

    result = recommend(context(history, bounds=bounds))

    assert isinstance(result, Recommendation)
    if low is not None:
        assert result.executor_memory_mib >= low
    if high is not None:
        assert result.executor_memory_mib <= high
    if low is None or low >= MIN_HEAP_MIB:
        assert result.executor_memory_mib >= min(MIN_HEAP_MIB, high or MIN_HEAP_MIB)
    assert result.executor_memory_overhead_mib >= MIN_OVERHEAD_MIB
    assert result.pod_memory_mib == result.executor_memory_mib + result.executor_memory_overhead_mib
    assert result.executor_request_cores is not None
    assert result.executor_request_cores <= JVM_8G.cores
    if max_cores is not None:
        assert result.executor_request_cores <= max_cores + 1e-9  # millicores: rounded down to fit
    if min_cores is not None and (max_cores is None or min_cores <= max_cores):
        assert result.executor_request_cores >= min(min_cores, JVM_8G.cores) - 0.001  # whole millicores


def test_heap_follows_observed_heap_peaks() -> None:
    history = weekly([4000, 4000, 4000, 4000], heap=2000)  # heap is half the pod

    result = recommend(context(history))

    assert isinstance(result, Recommendation)
    share = result.executor_memory_mib / result.pod_memory_mib
    assert 0.5 < share <= 0.56  # half, with its 10 % margin
    assert result.executor_memory_mib >= 2000


def test_python_memory_stays_as_configured() -> None:
    pyspark = ExecutorSize(
        heap_mib=6144,
        overhead_mib=2457,
        off_heap_mib=0,
        pyspark_mib=2048,
        cores=2,
        request_cores=2.0,
        instances=10,
    )

    result = recommend(context(weekly([5000, 5000, 5000]), current=pyspark))

    assert isinstance(result, Recommendation)
    assert result.pod_memory_mib == result.executor_memory_mib + result.executor_memory_overhead_mib + 2048


def test_cpu_follows_used_cores_with_a_margin_and_a_ceiling() -> None:
    light = recommend(context(weekly([3000] * 5, cpu=1.0)))
    heavy = recommend(context(weekly([3000] * 5, cpu=3.9)))
    unknown = recommend(context(weekly([3000] * 5)))

    assert isinstance(light, Recommendation) and isinstance(heavy, Recommendation)
    assert light.executor_request_cores == pytest.approx(1.2)
    assert heavy.executor_request_cores == 4.0  # never above spark.executor.cores
    assert isinstance(unknown, Recommendation) and unknown.executor_request_cores is None


def test_node_fit_fills_a_node_with_whole_executors() -> None:
    node = NodeShape(allocatable_memory_mib=61_000, allocatable_cores=15.5, name="m5.4xlarge")
    plain = recommend(context(weekly([4500] * 5, cpu=1.0)))
    fitted = recommend(context(weekly([4500] * 5, cpu=1.0)), Policy(node=node))

    assert isinstance(plain, Recommendation) and isinstance(fitted, Recommendation)
    per_node = fitted.basis["node_fit"]["executors_per_node"]
    assert per_node == 61_000 // plain.pod_memory_mib
    assert fitted.pod_memory_mib >= plain.pod_memory_mib
    assert per_node * fitted.pod_memory_mib <= 61_000
    assert fitted.basis["node_fit"]["stranded_memory_mib"] < fitted.pod_memory_mib


def test_node_fit_never_exceeds_a_node() -> None:
    node = NodeShape(allocatable_memory_mib=8_000, allocatable_cores=4, name="small")

    result = recommend(context(weekly([9000] * 5)), Policy(node=node))

    assert isinstance(result, Recommendation)
    assert result.pod_memory_mib <= 8_000


# --- guarantees under every combination (found by an independent review) -------------------------


@settings(max_examples=400, deadline=None)
@given(
    peaks=st.lists(st.integers(300, 40_000), min_size=3, max_size=5),  # within the 6-week lookback
    oom_at=st.one_of(st.none(), st.integers(1_000, 30_000)),
    low=st.one_of(st.none(), st.integers(450, 20_000)),
    high=st.one_of(st.none(), st.integers(450, 30_000)),
    cpu=st.one_of(st.none(), st.floats(0.1, 12)),
    request=st.floats(0.5, 12),
    pyspark=st.sampled_from([0, 2048, 6144]),
    node_memory=st.integers(4_000, 64_000),
    node_cores=st.floats(2, 16),
)
def test_node_fit_keeps_every_guarantee_or_declines(
    peaks: list[int],
    oom_at: int | None,
    low: int | None,
    high: int | None,
    cpu: float | None,
    request: float,
    pyspark: int,
    node_memory: int,
    node_cores: float,
) -> None:
    if low is not None and high is not None and low > high:
        low, high = high, low
    current = ExecutorSize(8192, 819, 0, pyspark, 16, round(request, 3), 10)
    history = [run(24 * 7 * (i + 2), peak, n=i, cpu=cpu, pod=None) for i, peak in enumerate(peaks)]
    if oom_at is not None:  # last Friday's run of this signature OOMed
        history = [run(24 * 7, oom=True, pod=oom_at, n=99), *history]
    node = NodeShape(node_memory, node_cores)

    result = recommend(context(history, current=current, bounds=Bounds(low, high)), Policy(node=node))

    if isinstance(result, NoRecommendation):
        assert "node" in result.reason
        return
    cores = result.executor_request_cores or current.request_cores
    assert result.pod_memory_mib <= node_memory and cores <= node_cores
    assert result.pod_memory_mib == result.executor_memory_mib + result.executor_memory_overhead_mib + pyspark
    assert low is None or result.executor_memory_mib >= low
    assert high is None or result.executor_memory_mib <= high
    assert (
        result.executor_memory_mib >= MIN_HEAP_MIB and result.executor_memory_overhead_mib >= MIN_OVERHEAD_MIB
    )
    if oom_at is not None and high is None:
        assert result.pod_memory_mib > oom_at  # never again a size that OOMed


def test_node_fit_never_raises_cpu_past_a_node_nor_inflates_memory() -> None:
    """The review's case: a CPU-hungry job once grew to a whole node's memory and 8 of 7.5 cores."""
    current = ExecutorSize(8192, 992, 0, 0, 8, 7.0, 10)
    node = NodeShape(30_000, 7.5)

    plain = recommend(context(weekly([8000] * 5, cpu=7.0), current=current))
    result = recommend(context(weekly([8000] * 5, cpu=7.0), current=current), Policy(node=node))

    assert isinstance(plain, Recommendation) and isinstance(result, Recommendation)
    assert plain.executor_request_cores == 8.0 and result.executor_request_cores == 7.5
    assert result.pod_memory_mib <= plain.pod_memory_mib * 1.25  # one per node: grown at most 25 %


def test_cpu_bounds_hold_without_cpu_history() -> None:
    capped = recommend(context(weekly([3000] * 5), bounds=Bounds(max_cores=1.0)))
    raised = recommend(context(weekly([3000] * 5), bounds=Bounds(min_cores=0.5)))

    assert isinstance(capped, Recommendation) and capped.executor_request_cores == 1.0
    assert isinstance(raised, Recommendation) and raised.executor_request_cores is None  # 4 is within


def test_max_executor_memory_caps_the_pod_and_ooms_do_not_grow_it() -> None:
    """The bound is the heap's, and the overhead shrinks with it: an OOM cannot ratchet the pod."""
    bounds = Bounds(max_heap_mib=4096)
    first = recommend(context(weekly([14_000] * 5), bounds=bounds))
    assert isinstance(first, Recommendation) and first.executor_memory_mib == 4096
    history = weekly([14_000] * 5)
    for i in range(3):  # each sized run OOMs at the capped size
        history = [run(1 + i, oom=True, pod=first.pod_memory_mib, n=50 + i), *history]
        again = recommend(context(history, bounds=bounds))
        assert isinstance(again, Recommendation)
        assert again.pod_memory_mib == first.pod_memory_mib

    assert first.executor_memory_overhead_mib < 4096 * 0.5  # in the job's proportion, not the rest


WEEKDAYS_AT_14 = [d for d in range(1, 15) if d % 7 not in (5, 6)]  # the last ten weekdays, 14:05


@pytest.mark.parametrize("odd", [None, 0, 4, 9])
def test_tied_peaks_do_not_collapse_the_spread(odd: int | None) -> None:
    """Ten runs whose scatter is all ties (one odd run at most): it says nothing about the tail."""
    peaks = [4500 if k == odd else 3000 for k in range(10)]
    runs = [run(24 * day, peak, n=day) for day, peak in zip(WEEKDAYS_AT_14, peaks, strict=True)]

    result = recommend(context(runs))

    assert isinstance(result, Recommendation) and result.basis["samples"] == 10
    assert result.pod_memory_mib >= max(peaks) and result.pod_memory_mib >= 3000 * 1.2


def test_the_result_does_not_depend_on_the_order_of_runs_that_started_together() -> None:
    """Two runs at one instant, where the drift window (newest 12 errors) cuts between them."""
    pool = [run(24 * d + 1, 3600 if d < 7 else 2400, predicted=3000, n=d) for d in range(1, 12)]
    pool += [run(24 * d + 1, 3000, predicted=3000, n=d) for d in range(13, 20)]
    twins = [run(24 * 12 + 1, 3600, predicted=3000, n=100), run(24 * 12 + 1, 2400, predicted=3000, n=101)]

    one, other = recommend(context([*pool, *twins])), recommend(context([*pool, *reversed(twins)]))

    assert one == other


def test_the_reason_counts_each_run_once() -> None:
    old = weekly([3000] * 5)[2:]  # 3 to 5 weeks old: within the store's lookback, on both lists
    result = recommend(context(old, history=old), Policy(lookback_days=7))

    assert isinstance(result, NoRecommendation)
    assert result.reason.startswith("3 past run(s)")


@given(st.integers(min_value=1, max_value=4000))
def test_a_cpu_request_on_a_step_stays_on_it(steps: int) -> None:
    assert cpu_step_millis(steps * 0.05) == steps * 50  # 0.55 / 0.05 is 11.000000000000002 in floats


@given(st.floats(min_value=0.001, max_value=200, allow_nan=False))
def test_a_cpu_request_rounds_up_to_the_next_step_never_down(cores: float) -> None:
    millis = cpu_step_millis(cores)
    assert millis % 50 == 0
    assert cores * 1000 - 1e-3 <= millis < cores * 1000 + 50


@pytest.mark.parametrize(
    ("bounds", "cores"), [(Bounds(min_cores=2.007), 2.007), (Bounds(max_cores=1.001), 1.001)]
)
def test_cpu_bounds_are_held_to_the_millicore(bounds: Bounds, cores: float) -> None:
    # 2.007 * 1000 is 2007.0000000000002 and 1.001 * 1000 is 1000.9999999999999 in floats
    result = recommend(context(weekly([3000] * 5, cpu=1.0), bounds=bounds))

    assert isinstance(result, Recommendation) and result.executor_request_cores == cores
