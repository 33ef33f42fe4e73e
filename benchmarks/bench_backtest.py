"""Backtest speed: ``emr-sizing backtest``'s replay of 100k runs on 2 cores ("minutes, not hours").

Seven generated 20-week histories (49 jobs, ~115k runs: at least the 100k asked for) replayed
through the recommender as the command does. Printed: runs per second and minutes; the ratio is
a 10-minute budget over the time taken (>= 1 meets it).
"""

from __future__ import annotations

import sys
import time

from histories import generate

BUDGET_S = 600.0
SEEDS = (1, 2, 3, 4, 5, 6, 7)


def main() -> tuple[str, float, float]:
    from airflow_emr_sizing.backtest import HistoryRun, StoreSizer, replay, summarize

    runs = [
        HistoryRun.from_json({**r, "app_name": f"{r['app_name']}-{seed}", "run_id": f"{r['run_id']}-{seed}"})
        for seed in SEEDS
        for r in generate(seed, 20)
    ]
    started = time.perf_counter()
    summary = summarize(replay(runs, StoreSizer(), "Asia/Seoul", "KR"))
    elapsed = time.perf_counter() - started
    print(
        f"[backtest] {summary['runs']:,} runs replayed in {elapsed / 60:.1f} min "
        f"({summary['runs'] / elapsed:,.0f} runs/s); sized {summary['sized']['ratio_to_need']:.3f}x need, "
        f"{summary['sized']['under_provisioned_pct']:.2f}% under-provisioned"
    )
    return f"backtest of {len(runs) // 1000}k runs, 10-min budget / time taken", BUDGET_S / elapsed, 1.0


if __name__ == "__main__":
    sys.exit(0 if main()[1] >= 1.0 else 1)
