"""Recommendation quality: configured vs VPA-style vs KRR-style vs ours, on generated histories.

Every policy runs through the same closed-loop replay (airflow_emr_sizing.backtest.replay): sized
from earlier runs only, and taught an OOM at its own size when it under-provisioned. Printed per
policy: GiB·h requested ÷ GiB·h needed, and % of runs under-provisioned (target: ours <= 1.35x
with <= 0.5 %). Baselines, as the issue describes them:

- VPA-style: per exact signature, decaying-weight p90 of peaks (24 h half-life, VPA's default) +
  15 %; after an OOM at X, at least 1.2 X.
- KRR-style: per app, max of the peaks of the last 14 days + 15 %.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from histories import generate

from airflow_emr_sizing.backtest import HistoryRun, StoreSizer, replay, summarize
from airflow_emr_sizing.recommender import NoRecommendation, Recommendation, weighted_quantile
from airflow_emr_sizing.signature import Signature
from airflow_emr_sizing.spark_conf import ExecutorSize
from airflow_emr_sizing.store import Observation

SEEDS = (7, 11, 23)
WEEKS = 20
TARGET_RATIO, TARGET_UNDER_PCT = 1.35, 0.5


def _sized(pod_mib: float, configured: ExecutorSize) -> Recommendation:
    """A recommendation of ``pod_mib`` split with the job's own overhead ratio (baselines only)."""
    extras = configured.off_heap_mib + configured.pyspark_mib
    pod = math.ceil(pod_mib)
    heap = int((pod - extras) / (1 + configured.overhead_mib / configured.heap_mib))
    return Recommendation(heap, pod - extras - heap, pod, None, pod)


class Configured:
    def size(self, run: HistoryRun, signature: Signature, configured: ExecutorSize) -> NoRecommendation:
        return NoRecommendation("configured")

    def learn(self, observation: Observation) -> None:
        pass


class VpaStyle:
    half_life_h, margin, bump = 24.0, 0.15, 1.2

    def __init__(self) -> None:
        self.peaks: dict[str, list[tuple[Any, int]]] = defaultdict(list)
        self.oom_floor: dict[str, float] = {}

    def size(self, run: HistoryRun, signature: Signature, configured: ExecutorSize) -> Any:
        samples = self.peaks.get(signature.hash)
        floor = self.oom_floor.get(signature.hash, 0.0)
        if not samples and not floor:
            return NoRecommendation("no history")
        target = 0.0
        if samples:
            now = run.started_at
            weights = [0.5 ** ((now - t).total_seconds() / 3600 / self.half_life_h) for t, _ in samples]
            target = weighted_quantile([p for _, p in samples], weights, 0.9) * (1 + self.margin)
        return _sized(max(target, floor), configured)

    def learn(self, o: Observation) -> None:
        if o.oom and o.pod_memory_mib:
            self.oom_floor[o.signature_hash] = max(
                self.oom_floor.get(o.signature_hash, 0), self.bump * o.pod_memory_mib
            )
        elif o.peak_pod_memory_mib:
            self.peaks[o.signature_hash].append((o.started_at, o.peak_pod_memory_mib))


class KrrStyle:
    window, margin = timedelta(days=14), 0.15

    def __init__(self) -> None:
        self.peaks: dict[str, list[tuple[Any, int]]] = defaultdict(list)

    def size(self, run: HistoryRun, signature: Signature, configured: ExecutorSize) -> Any:
        recent = [p for t, p in self.peaks.get(run.app_name, []) if t >= run.started_at - self.window]
        if not recent:
            return NoRecommendation("no history")
        return _sized(max(recent) * (1 + self.margin), configured)

    def learn(self, o: Observation) -> None:
        if o.peak_pod_memory_mib:
            self.peaks[o.app_name].append((o.started_at, o.peak_pod_memory_mib))


def evaluate(name: str, make: Any, runs: list[HistoryRun]) -> dict[str, Any]:
    started = time.perf_counter()
    summary = summarize(replay(runs, make(), "Asia/Seoul", "KR"))
    summary["seconds"] = time.perf_counter() - started
    return summary


def main(
    verbose: bool = False, only: str | None = None, seeds: tuple[int, ...] = SEEDS
) -> tuple[str, float, float]:
    policies = {"configured": Configured, "VPA-style": VpaStyle, "KRR-style": KrrStyle, "ours": StoreSizer}
    if only:
        policies = {only: policies[only]}
    totals: dict[str, dict[str, float]] = {n: defaultdict(float) for n in policies}
    per_app: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for seed in seeds:
        runs = [HistoryRun.from_json(r) for r in generate(seed, WEEKS)]
        for name, make in policies.items():
            s = evaluate(name, make, runs)
            side = s["configured"] if name == "configured" else s["sized"]
            totals[name]["requested"] += side["requested_pod_gib_hours"]
            totals[name]["need"] += s["need"]["used_pod_gib_hours"]
            totals[name]["under"] += side.get("under_provisioned_runs", side.get("oom_runs", 0))
            totals[name]["runs"] += s["runs"]
            totals[name]["seconds"] += s["seconds"]
            for app, a in s["by_app"].items():
                side = a["configured"] if name == "configured" else a["sized"]
                per_app[app][name].append(
                    (side["ratio_to_need"], side.get("under_provisioned_runs", side.get("oom_runs")))
                )
    print(f"[recommender] {len(SEEDS)} histories x {WEEKS} weeks, 7 jobs, Asia/Seoul, KR holidays")
    print(f"[recommender] {'policy':<11} {'requested/need':>15} {'under-provisioned':>18} {'runs/s':>8}")
    for name, t in totals.items():
        ratio = t["requested"] / t["need"]
        print(f"[recommender] {name:<11} {ratio:>14.3f}x {100 * t['under'] / t['runs']:>17.2f}% "
              f"{t['runs'] / t['seconds']:>8.0f}")  # fmt: skip
    if verbose:
        for app, by in per_app.items():
            cells = "  ".join(
                f"{n}: {sum(r for r, _ in v) / len(v):.2f}x/{sum(u for _, u in v)}" for n, v in by.items()
            )
            print(f"   {app:<20} {cells}")
    ours = totals.get("ours")
    if ours is None:
        return "recommendation quality", 0.0, TARGET_RATIO
    ratio, under = ours["requested"] / ours["need"], 100 * ours["under"] / ours["runs"]
    ok = ratio <= TARGET_RATIO and under <= TARGET_UNDER_PCT
    print(
        f"[recommender] ours: {ratio:.3f}x need, {under:.2f}% under-provisioned -> "
        f"{'ok' if ok else 'OVER TARGET'}"
    )
    return "recommendation quality, GiB*h requested / needed", ratio, TARGET_RATIO


if __name__ == "__main__":
    main(verbose="-v" in sys.argv, only="ours" if "--ours" in sys.argv else None,
         seeds=(7,) if "--quick" in sys.argv else SEEDS)  # fmt: skip
