"""Recommend an executor size for the next run of a signature, from the runs before it.

The policy, in the order it is applied:

1. **Level** — the typical need of this run: a recency-weighted mean of the log peak pod memory
   of past runs at the finest level that has enough of them: the exact signature (same weekday,
   hour and holiday flag), else the same hour on the same kind of day (weekday / weekend /
   holiday), else the same kind of day, else the whole app with this executor spec. Runs far
   below their group's median (a run that processed almost no data) count as only a few robust
   deviations below it, so a few tiny runs cannot drag the level down; higher runs count in full.
2. **Spread** — how far above its level a run may go: the recency-weighted ``1 - risk`` quantile
   of the app's own *prediction errors* (log of peak ÷ the level predicted when the run was
   planned, or, for a run that OOMed, of the bumped size ÷ prediction). Errors measured out of
   sample include the level's own estimation error, lag behind trends, heavy tails and step
   changes, which is what makes the risk knob mean what it says. Until an app has enough errors,
   a conservative default spread is used.
3. **OOM** — a run that OOMed at size X needed more: its signature is never again sized below
   max(1.2·X, X + 100 MiB) (as VPA does), and for a few days every sibling signature of the app
   is raised by the same relative amount, so a regime shift costs one OOM, not one per bucket.
4. **Split** — the pod target is split into heap (``spark.executor.memory``) and overhead from
   observed heap peaks when known, else the job's own ratio, keeping Spark's minimum overhead.
5. **CPU** — the request follows the p90 of used cores with a margin, never above
   ``spark.executor.cores`` and never below a floor.
6. **Bounds and node fit** — the user's bounds (a capped heap caps the overhead in proportion);
   when a node shape is given, the size is rounded up so whole executors fill a node (nothing
   stranded), and never above what a node holds (no recommendation when it cannot be cut to one).

Peaks that cannot have been measured (above ``_PLAUSIBLE_OVER_POD`` times the run's own pod memory,
which Kubernetes enforces, or above any EC2 instance's memory: a unit mix-up in a store written by
hand) are left out and counted in the basis as ``implausible_peaks``.

"No recommendation" is a value with a reason, not an exception.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any, NamedTuple

from airflow_emr_sizing.quantities import MIN_EXECUTOR_MEMORY_MIB
from airflow_emr_sizing.spark_conf import ExecutorSize
from airflow_emr_sizing.store import Observation

__all__ = [
    "LEVELS",
    "MIN_HEAP_MIB",
    "MIN_OVERHEAD_MIB",
    "Bounds",
    "NoRecommendation",
    "NodeShape",
    "Policy",
    "Recommendation",
    "RunContext",
    "cpu_step_millis",
    "day_type",
    "implausible_note",
    "recommend",
    "weighted_quantile",
]

MIN_OVERHEAD_MIB = 384
MIN_HEAP_MIB = MIN_EXECUTOR_MEMORY_MIB
_MEMORY_STEP_MIB = 32
#: CPU requests are whole steps of this many millicores.
_CPU_STEP_MILLIS = 50
_Z = NormalDist()
#: Errors needed in the tail beyond a quantile for it to be estimated from data alone.
_TAIL_SUPPORT = 2.0
#: Standard errors a median of recent errors must be from zero to count as drift.
_DRIFT_CLEAR = 3.0
#: Smaller drifts are not worth correcting (log; about 3 %).
_MIN_DRIFT = 0.03
#: A downward drift is the lag this share of recent runs is below (the median for an upward one):
#: missing a need is an OOM, over-sizing only waste.
_DOWN_AGREEMENT = 0.75
#: An OOM at X says the need was above X; its error counts as if the need were this much more.
_OOM_EXCESS = 1.05
#: A run more than this many robust standard deviations below its group's median counts as only
#: that far below when levels are averaged (see _floored).
_LOW_CLIP = 3.0
#: Runs a level needs before their scatter says anything about the spread.
_MIN_SCATTER_SAMPLES = 8
#: A pod is killed at its memory limit; the event log's peaks of separate processes (JVM, Python,
#: others) add up to at most a few times it. Unit mix-ups are 1024 times off.
_PLAUSIBLE_OVER_POD = 4
#: The memory of the largest EC2 instance (24 TiB): no executor pod ever had more.
_LARGEST_POD_MIB = 24 * 1024 * 1024

#: From finest to coarsest. A rest day is a weekend day or a public holiday.
LEVELS = ("exact", "hour+daytype", "hour+restday", "hour", "app")


@dataclass(frozen=True)
class NodeShape:
    """What one node offers executors (e.g. a Karpenter instance type minus daemonsets)."""

    allocatable_memory_mib: int
    allocatable_cores: float
    name: str = "node"


@dataclass(frozen=True)
class Policy:
    """The recommender's knobs; the defaults are what the README's backtest figures use.

    :param risk: acceptable share of runs whose need exceeds the recommendation (under-provisioned).
    :param margin: extra headroom on top of the ``1 - risk`` quantile.
    """

    risk: float = 0.005
    margin: float = 0.02
    min_samples: int = 3
    lookback_days: float = 42
    level_half_life_days: float = 14
    error_half_life_days: float = 10
    min_errors: int = 30
    fallback_spread: float = 0.5
    oom_bump: float = 1.2
    oom_min_step_mib: int = 100
    oom_sibling_days: float = 1
    drift_runs: int = 12
    cpu_quantile: float = 0.9
    cpu_margin: float = 0.2
    min_cores: float = 0.25
    heap_margin: float = 0.1
    node: NodeShape | None = None
    #: Node fit grows a pod by at most this share to fill a node.
    node_fit_max_growth: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.risk < 0.5:
            raise ValueError(f"risk must be in (0, 0.5), got {self.risk}")
        if self.margin < 0 or self.min_samples < 1 or self.min_errors < 1:
            raise ValueError("margin must be >= 0, min_samples and min_errors >= 1")


@dataclass(frozen=True)
class Bounds:
    """User limits on what may be injected: executor heap (MiB) and CPU request (cores)."""

    min_heap_mib: int | None = None
    max_heap_mib: int | None = None
    min_cores: float | None = None
    max_cores: float | None = None


@dataclass(frozen=True)
class RunContext:
    """What the recommender knows about the run to size."""

    now: datetime
    day_of_week: int
    hour: int
    holiday: bool
    current: ExecutorSize
    #: The exact signature's runs, newest first.
    history: Sequence[Observation]
    #: The app's runs with the same executor spec (all signatures), newest first.
    pool: Sequence[Observation] = ()
    bounds: Bounds = field(default_factory=Bounds)


@dataclass(frozen=True)
class Recommendation:
    executor_memory_mib: int
    executor_memory_overhead_mib: int
    pod_memory_mib: int
    executor_request_cores: float | None
    #: The point estimate of the need (MiB, drift included), recorded with the run: the errors of
    #: these estimates are what the spread is learnt from.
    predicted_peak_mib: int
    #: The drift correction (log) in that estimate, recorded too: errors net of it show the lag.
    predicted_drift: float = 0.0
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
    #: Past runs left out for a peak that cannot be true.
    implausible_peaks: int = 0


def day_type(day_of_week: int, holiday: bool) -> str:
    """``holiday``, ``weekend`` (Saturday 6, Sunday 0) or ``weekday``."""
    if holiday:
        return "holiday"
    return "weekend" if day_of_week in (0, 6) else "weekday"


def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` of the total (a step function)."""
    pairs = sorted(zip(values, weights, strict=True))
    threshold = q * sum(weights)
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= threshold - 1e-12:
            return value
    return pairs[-1][0]


def recommend(context: RunContext, policy: Policy = Policy()) -> Recommendation | NoRecommendation:
    """Recommend the next run's executor size; see the module docstring for the policy."""
    since = context.now - timedelta(days=policy.lookback_days)
    runs, implausible = _runs(context, since, policy)
    oom_floor = max(
        (_bump(o.pod_memory_mib or 0, policy) for o in context.history
         if o.oom and o.pod_memory_mib and o.pod_memory_mib <= _LARGEST_POD_MIB and o.started_at >= since),
        default=0,
    )  # fmt: skip

    level, log_point, samples = _level(context, runs, policy)
    if level is None:
        if not oom_floor:
            known = len({o.job_id for o in (*context.pool, *context.history) if o.peak_pod_memory_mib})
            reason = (
                f"{known} past run(s) with known usage, none in the last {policy.lookback_days:g} days"
                if known and not runs
                else f"{len(samples)} usable run(s) at any level, need {policy.min_samples}"
            )
            return NoRecommendation(reason, samples=len(samples), implausible_peaks=implausible)
        level, log_point, samples = "oom", math.log(oom_floor), ()
    basis: dict[str, Any] = {"level": level, "samples": len(samples)}
    if implausible:
        basis["implausible_peaks"] = implausible

    errors = _errors(runs, day_type(context.day_of_week, context.holiday), policy)
    drift = _drift(errors, policy)
    predicted = math.exp(log_point + drift)
    spread, spread_basis = _spread(_calibration(errors, level, policy), samples, log_point, policy)
    basis.update(spread_basis)
    if drift:
        basis["drift"] = round(math.expm1(drift), 4)
    target = predicted * math.exp(spread) * (1 + policy.margin)
    sibling = _sibling_oom_factor(errors, context.now, policy)
    if sibling > 1 and predicted * sibling * (1 + policy.margin) > target:
        target = predicted * sibling * (1 + policy.margin)
        basis["sibling_oom_factor"] = round(sibling, 3)
    if oom_floor > target:
        target = float(oom_floor)
        basis["oom_floor_mib"] = oom_floor
    basis.update(risk=policy.risk, margin=policy.margin, predicted_peak_mib=round(predicted))

    heap, overhead, pod = _split(_round_up(target, _MEMORY_STEP_MIB), runs, context, policy, basis)
    cores = _cores(runs, context, policy, basis)
    if policy.node is not None:
        fitted = _fit_node(
            heap, overhead, pod, cores or context.current.request_cores, oom_floor, context, policy, basis
        )
        if isinstance(fitted, str):
            return NoRecommendation(fitted, samples=len(samples), implausible_peaks=implausible)
        heap, overhead, pod = fitted
    return Recommendation(heap, overhead, pod, cores, round(predicted), drift, basis)


class _Run(NamedTuple):
    """A past run with what every step needs computed once (a tuple: hundreds per call)."""

    o: Observation
    kind: str | None
    level_weight: float
    error_weight: float
    #: log of the peak, for runs that completed with a known peak.
    log_peak: float | None


#: Newest first, ties broken by job id as the stores do: the result must not depend on input order.
_STARTED_AT = operator.attrgetter("started_at", "job_id")


def implausible_note(count: int) -> str:
    """What to tell a user whose store holds ``count`` runs with a peak that cannot be true."""
    return (
        f"{count} past run(s) left out: a peak above {_PLAUSIBLE_OVER_POD} times their own pod's memory "
        "or above any node's, which cannot have been measured (wrong data in the store?)"
    )


def _runs(context: RunContext, since: datetime, policy: Policy) -> tuple[list[_Run], int]:
    """The pool plus exact-signature runs it lacks, within the lookback, newest first; and how
    many of them have a peak that cannot be true (then counted as unknown)."""
    seen = {o.job_id for o in context.pool}
    merged = [*context.pool, *(o for o in context.history if o.job_id not in seen)]
    merged.sort(key=_STARTED_AT, reverse=True)
    now, oldest = context.now.timestamp(), since.timestamp()
    level_rate = math.log(2) / (policy.level_half_life_days * 86400)
    error_rate = math.log(2) / (policy.error_half_life_days * 86400)
    exp, log = math.exp, math.log
    runs = []
    implausible = 0
    for o in merged:  # hundreds per submission: written flat
        started = o.started_at.timestamp()
        if started < oldest:
            break
        age = now - started if now > started else 0.0
        peak = o.peak_pod_memory_mib
        pod = o.pod_memory_mib
        if peak and peak > (min(pod * _PLAUSIBLE_OVER_POD, _LARGEST_POD_MIB) if pod else _LARGEST_POD_MIB):
            implausible += 1
            peak = None
        runs.append(
            _Run(
                o,
                None if o.day_of_week is None else day_type(o.day_of_week, bool(o.holiday)),
                exp(-level_rate * age),
                exp(-error_rate * age),
                log(peak) if peak and not o.oom else None,
            )
        )
    return runs, implausible


def _floored(runs: Sequence[_Run]) -> list[float]:
    """The runs' log peaks, each raised to at least the group's median less a few robust deviations.

    A run that processed almost no data (a backfill of an empty partition, a rerun that found its
    work done) peaks far below the others and says nothing about the next run's need; in a mean it
    would drag the level, and the spread, learnt from runs above their predictions, would not cover
    that. Raising such runs to the edge of the group's normal scatter (one-sided winsorizing) keeps
    the mean's accuracy for normal runs while a few tiny ones move it by at most a few deviations.
    High runs are kept as they are: they are needs, and missing them is an OOM.
    """
    values = [r.log_peak or 0.0 for r in runs]
    weights = [r.level_weight for r in runs]
    median = weighted_quantile(values, weights, 0.5)
    scale = 1.4826 * weighted_quantile([abs(v - median) for v in values], weights, 0.5)
    floor = median - _LOW_CLIP * scale
    return [v if v > floor else floor for v in values]


def _center(runs: Sequence[_Run], values: Sequence[float] | None = None) -> float:
    """Recency-weighted mean of log peaks (floored, see :func:`_floored`): with a handful of runs
    it errs less than a median."""
    values = _floored(runs) if values is None else values
    weights = [r.level_weight for r in runs]
    return sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)


def _level(
    context: RunContext, runs: Sequence[_Run], policy: Policy
) -> tuple[str | None, float, Sequence[_Run]]:
    """The finest level with enough runs, and its log point estimate of the need."""
    usable = [r for r in runs if r.log_peak is not None]
    kind = day_type(context.day_of_week, context.holiday)
    structured = _hour_and_weekday(context, usable, kind, policy)
    if structured is not None:
        return structured

    def at(level: str, r: _Run) -> bool:
        if level == "app":
            return True
        if r.o.hour != context.hour:
            return False
        if level == "exact":
            return r.o.day_of_week == context.day_of_week and bool(r.o.holiday) == context.holiday
        if level == "hour+daytype":
            return r.kind == kind
        if level == "hour+restday":
            return kind != "weekday" and r.kind in ("weekend", "holiday")
        return True  # "hour"

    for level in LEVELS:
        samples = [r for r in usable if at(level, r)]
        if len(samples) >= policy.min_samples:
            return level, _center(samples), samples
    return None, 0.0, usable


def _hour_and_weekday(
    context: RunContext, usable: Sequence[_Run], kind: str, policy: Policy
) -> tuple[str, float, Sequence[_Run]] | None:
    """The exact signature's level as hour profile + weekday offset, from many more runs.

    An exact signature sees one run a week; the same hour on the same kind of day sees five, and
    the weekday's own offset (Monday catch-up, Friday peaks) shows in every hour of that weekday.
    Holidays keep their own level.
    """
    if kind == "holiday":
        return None
    groups: dict[tuple[int | None, str | None], list[_Run]] = {}
    for r in usable:
        groups.setdefault((r.o.hour, r.kind), []).append(r)
    own = groups.get((context.hour, kind), [])
    if len(own) < policy.min_samples:
        return None
    offsets, weights = [], []
    point = 0.0
    for key, group in groups.items():
        if key[1] != kind or len(group) < policy.min_samples:
            continue
        values = _floored(group)
        center = _center(group, values)
        if key == (context.hour, kind):
            point = center
        for r, value in zip(group, values, strict=True):
            if r.o.day_of_week == context.day_of_week and r.kind == kind:
                offsets.append(value - center)
                weights.append(r.level_weight)
    if len(offsets) < policy.min_samples:
        return "hour+daytype", point, own
    return "exact", point + sum(w * v for w, v in zip(weights, offsets, strict=True)) / sum(weights), own


class _Error(NamedTuple):
    run: _Run
    #: log(need / predicted); for an OOM, from just above the size that OOMed.
    value: float
    #: The same against the level alone (the drift correction added back): how far levels lag.
    lag: float


def _errors(runs: Sequence[_Run], kind: str, policy: Policy) -> list[_Error]:
    """The prediction errors that speak for this run, newest first.

    Rest days (weekends, holidays) are rarer and odder than weekdays: their misses should not
    widen every weekday's spread nor shift its level, so each kind of day learns from its own
    errors when it has enough of them.
    """
    errors = []
    for r in runs:
        o = r.o
        if not o.predicted_peak_mib or o.predicted_peak_mib > _LARGEST_POD_MIB:
            continue
        if r.log_peak is not None:
            value = r.log_peak - math.log(o.predicted_peak_mib)
        elif o.oom and o.pod_memory_mib and o.pod_memory_mib <= _LARGEST_POD_MIB:
            value = math.log(o.pod_memory_mib * _OOM_EXCESS / o.predicted_peak_mib)
        else:
            continue
        errors.append(_Error(r, value, value + (o.predicted_drift or 0.0)))
    rest = kind != "weekday"
    same = [e for e in errors if (e.run.kind != "weekday") == rest]
    return same if len(same) >= policy.min_errors else errors


def _drift(errors: Sequence[_Error], policy: Policy) -> float:
    """How far the levels lag right now: the median lag of the last few runs, when it is clear.

    A step change or a trend shows as a run of same-signed errors across the app's signatures
    long before each signature's own level catches up; correcting by it makes one regime shift
    cost one OOM instead of weeks of misses (or of wide margins). A median within noise of zero
    is noise, and correcting by it would only add its own error.
    """
    window = [e.lag for e in errors[: policy.drift_runs]]
    if len(window) < policy.drift_runs // 2:
        return 0.0
    ones = [1.0] * len(window)
    median = weighted_quantile(window, ones, 0.5)
    scale = 1.4826 * weighted_quantile([abs(v - median) for v in window], ones, 0.5)
    if median < 0:  # downwards only when most recent runs agree: a few empty ones are not a trend
        median = min(weighted_quantile(window, ones, _DOWN_AGREEMENT), 0.0)
    clear = abs(median) > _DRIFT_CLEAR * scale / math.sqrt(len(window))
    return median if clear and abs(median) >= _MIN_DRIFT else 0.0


def _calibration(errors: Sequence[_Error], level: str, policy: Policy) -> Sequence[_Error]:
    """The errors to learn the spread from: of predictions made at this level, if enough.

    A level estimated from the exact signature misses less than an app-wide one, so a prediction
    is calibrated on its own kind where possible.
    """
    same_level = [e for e in errors if e.run.o.predicted_level == level]
    return same_level if len(same_level) >= policy.min_errors else errors


def _spread(
    errors: Sequence[_Error], samples: Sequence[_Run], log_point: float, policy: Policy
) -> tuple[float, dict[str, Any]]:
    """How far above its level a run may go, in log space (never below zero).

    From the prediction errors when there are enough of them: the empirical ``1 - risk``
    quantile where the data supports it (about ``2 / risk`` errors), else the larger of the
    highest quantile it supports and a normal tail fitted robustly (median, MAD) — one odd run
    must not dictate the spread for weeks. Before that, from how the level's own runs scatter,
    with Student-t widening for small samples, capped by the default spread, and never below the
    level's own highest run.
    """
    if len(errors) < policy.min_errors:
        fallback = math.log1p(policy.fallback_spread)
        default = {
            "spread": round(policy.fallback_spread, 4),
            "spread_from": "default",
            "errors": len(errors),
        }
        if len(samples) < _MIN_SCATTER_SAMPLES:
            return fallback, default
        deviations = [(r.log_peak or 0.0) - log_point for r in samples]
        scale = 1.4826 * weighted_quantile([abs(d) for d in deviations], [1.0] * len(deviations), 0.5)
        if scale < 1e-6:  # most runs tie: their scatter says nothing about the tail
            return fallback, default
        n = len(samples)
        spread = min(_student_t(1 - policy.risk, n - 1) * scale * math.sqrt(1 + 1 / n), fallback)
        # never below what the level's own runs needed: they are needs, not noise
        spread = max(spread, *deviations)
        return spread, {
            "spread": round(math.expm1(spread), 4),
            "spread_from": "scatter",
            "errors": len(errors),
        }
    values = [e.value for e in errors]
    weights = [e.run.error_weight for e in errors]
    effective = sum(weights) ** 2 / sum(w * w for w in weights)
    supported = max(policy.risk, _TAIL_SUPPORT / effective)
    spread = weighted_quantile(values, weights, 1 - supported)
    how = "empirical"
    if supported > policy.risk:
        center = weighted_quantile(values, weights, 0.5)
        scale = 1.4826 * weighted_quantile([abs(v - center) for v in values], weights, 0.5)
        fitted = center + _Z.inv_cdf(1 - policy.risk) * scale * math.sqrt(1 + 1 / effective)
        if fitted > spread:
            spread, how = fitted, "fitted"
    spread = max(spread, 0.0)
    return spread, {"spread": round(math.expm1(spread), 4), "spread_from": how, "errors": len(errors)}


def _student_t(q: float, dof: int) -> float:
    """Student-t quantile (Cornish-Fisher expansion around the normal; ample for dof >= 5)."""
    z = _Z.inv_cdf(q)
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


def _sibling_oom_factor(errors: Sequence[_Error], now: datetime, policy: Policy) -> float:
    """How much a recent OOM anywhere in the app says its predictions fell short (1 = none)."""
    since = now.timestamp() - policy.oom_sibling_days * 86400
    factor = 1.0
    for e in errors:
        o = e.run.o
        if o.started_at.timestamp() < since:
            break
        if o.oom and o.pod_memory_mib and o.predicted_peak_mib:
            factor = max(factor, _bump(o.pod_memory_mib, policy) / o.predicted_peak_mib)
    return factor


def _bump(size_mib: int, policy: Policy) -> int:
    return math.ceil(max(size_mib * policy.oom_bump, size_mib + policy.oom_min_step_mib))


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _split(
    target_pod_mib: int,
    runs: Sequence[_Run],
    context: RunContext,
    policy: Policy,
    basis: dict[str, Any],
) -> tuple[int, int, int]:
    """Heap + overhead for a pod target: heap from heap peaks when known, else the job's ratio."""
    current, bounds = context.current, context.bounds
    extras = current.off_heap_mib + current.pyspark_mib
    room = max(target_pod_mib - extras, MIN_HEAP_MIB + MIN_OVERHEAD_MIB)
    shares = [
        r.o.peak_heap_mib / r.o.peak_pod_memory_mib
        for r in runs
        if r.log_peak is not None and r.o.peak_heap_mib and r.o.peak_pod_memory_mib
    ]
    if len(shares) >= policy.min_samples:
        share = min(weighted_quantile(shares, [1.0] * len(shares), 0.9) * (1 + policy.heap_margin), 1.0)
        heap = math.floor(target_pod_mib * share)
        basis["heap_share"] = round(share, 3)
    else:
        ratio = current.overhead_mib / current.heap_mib if current.heap_mib else 0.1
        heap = math.floor(room / (1 + ratio))
    heap = max(min(heap, room - MIN_OVERHEAD_MIB), MIN_HEAP_MIB)
    overhead = max(room - heap, MIN_OVERHEAD_MIB)
    if bounds.min_heap_mib is not None and heap < bounds.min_heap_mib:
        heap, overhead = bounds.min_heap_mib, max(room - bounds.min_heap_mib, MIN_OVERHEAD_MIB)
        basis["clamped"] = ["min_executor_memory"]
    elif bounds.max_heap_mib is not None and heap > bounds.max_heap_mib:
        # the overhead shrinks with the heap: the bound caps the pod, and an OOM cannot grow it
        overhead = max(math.floor(overhead * bounds.max_heap_mib / heap), MIN_OVERHEAD_MIB)
        heap = bounds.max_heap_mib
        basis["clamped"] = ["max_executor_memory"]
    return heap, overhead, heap + overhead + extras


def _cores(runs: Sequence[_Run], context: RunContext, policy: Policy, basis: dict[str, Any]) -> float | None:
    """The CPU request, in whole millicores (what Kubernetes keeps), within floor and ceiling."""
    used = [r.o.cpu_used_cores_p90 for r in runs if r.o.cpu_used_cores_p90 is not None]
    bounds, current, node = context.bounds, context.current, policy.node
    ceiling = min(
        float(current.cores),
        bounds.max_cores if bounds.max_cores is not None else math.inf,
        current.limit_cores if current.limit_cores is not None else math.inf,
        node.allocatable_cores if node is not None else math.inf,
    )
    if len(used) < policy.min_samples:
        # nothing to follow: the request stays as written, unless the user's bounds exclude it
        low = bounds.min_cores if bounds.min_cores is not None else 0.0
        high = bounds.max_cores if bounds.max_cores is not None else math.inf
        if low <= current.request_cores <= high:
            return None
        wanted, floor = min(max(current.request_cores, low), high), low
    else:
        wanted = weighted_quantile(used, [1.0] * len(used), policy.cpu_quantile) * (1 + policy.cpu_margin)
        floor = bounds.min_cores if bounds.min_cores is not None else policy.min_cores
        basis["cpu_samples"] = len(used)
    floor_millis, ceiling_millis = math.ceil(_millicores(floor)), math.floor(_millicores(ceiling))
    millis = min(max(cpu_step_millis(wanted), floor_millis), ceiling_millis)
    return max(millis, 1) / 1000


def cpu_step_millis(cores: float) -> int:
    """``cores`` rounded up to a whole CPU step, in millicores; one already on a step stays there
    (``0.55 / 0.05`` is 11.000000000000002 in floats, which would round up a step)."""
    return math.ceil(_millicores(cores) / _CPU_STEP_MILLIS) * _CPU_STEP_MILLIS


def _millicores(cores: float) -> float:
    """``cores`` in millicores, to a micro-core: below any float error (4.03 cores is 4030m, not
    4030.0000000000005m, which would round up to 4031m)."""
    return round(cores * 1000, 3)


def _fit_node(
    heap: int,
    overhead: int,
    pod: int,
    cores: float,
    oom_floor: int,
    context: RunContext,
    policy: Policy,
    basis: dict[str, Any],
) -> tuple[int, int, int] | str:
    """Grow the pod so whole executors fill a node (nothing stranded); never beyond one node.

    A pod bigger than a node is cut to one (heap first, then overhead): it could never be
    scheduled. Returns why no size fits a node when even that cannot be done within the bounds
    and above a size that OOMed; the job then runs as written.
    """
    node = policy.node
    assert node is not None
    if cores > node.allocatable_cores:
        return f"the CPU request ({cores:g}) is above a node's {node.allocatable_cores:g} cores"
    if pod > node.allocatable_memory_mib:
        excess = pod - node.allocatable_memory_mib
        heap_cut = min(excess, max(heap - max(MIN_HEAP_MIB, context.bounds.min_heap_mib or 0), 0))
        overhead_cut = min(excess - heap_cut, max(overhead - MIN_OVERHEAD_MIB, 0))
        if heap_cut + overhead_cut < excess or node.allocatable_memory_mib < oom_floor:
            return (
                f"an executor needs {max(pod - heap_cut - overhead_cut, oom_floor)} MiB within its "
                f"bounds and past OOMs, more than a node's {node.allocatable_memory_mib} MiB"
            )
        basis["node_fit"] = {"node": node.name, "executors_per_node": 1, "capped_to_node": True}
        return heap - heap_cut, overhead - overhead_cut, pod - excess
    by_memory = node.allocatable_memory_mib // pod
    by_cpu = int(node.allocatable_cores // cores) if cores else by_memory
    per_node = min(by_memory, by_cpu)
    filled = node.allocatable_memory_mib // per_node
    grow = min(filled - pod, int(pod * policy.node_fit_max_growth))
    bounded_heap = heap + grow
    if context.bounds.max_heap_mib is not None:
        bounded_heap = min(bounded_heap, max(context.bounds.max_heap_mib, heap))
    grow = bounded_heap - heap
    basis["node_fit"] = {
        "node": node.name,
        "executors_per_node": per_node,
        "limited_by": "cpu" if by_cpu < by_memory else "memory",
        "added_mib": grow,
        "stranded_memory_mib": node.allocatable_memory_mib - per_node * (pod + grow),
    }
    return heap + grow, overhead, pod + grow
