"""A seeded generator of realistic EMR-on-EKS run histories (the backtest's input format).

Seven Spark jobs of a data warehouse in Seoul, each with one pattern the recommender must handle:

=====================  =======================================================================
app                    pattern
=====================  =======================================================================
dw-blog-load           hourly, business-hours peak, quieter nights, weekends and holidays
dw-daily-agg           daily at 02:30, Monday catch-up, month-start spike
dw-clickstream         hourly, heavy-tailed: 1 % of runs need 1.2-1.6x the usual
dw-orders              hourly, regime shift: needs 1.4x from week 11 on
dw-user-sessions       hourly, spec change: 6 -> 12 executors in week 9, each needing less
dw-recsys-features     every 3 hours, dynamic allocation (2-30 executors)
dw-ml-scoring          every 2 hours, PySpark (Python RSS), needs grow 1.5 % a week
=====================  =======================================================================

Configs are what teams write: generous static sizes. Need = the largest executor pod working set
of the run. ``python benchmarks/histories.py --seed 7 --weeks 20 > history.jsonl``
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 1, 5, tzinfo=SEOUL)  # a Monday; 20 weeks cover Seollal, Mar 1, May 5 and June 3


def hour_profile(hour: int) -> float:
    """Load by hour of day for a Korean business: quiet nights, a lunch dip, a 14-16h peak."""
    curve = {0: 0.78, 1: 0.75, 2: 0.74, 3: 0.74, 4: 0.75, 5: 0.77, 6: 0.8, 7: 0.85, 8: 0.92, 9: 1.0, 10: 1.05,
             11: 1.08, 12: 1.0, 13: 1.08, 14: 1.15, 15: 1.15, 16: 1.12, 17: 1.05, 18: 0.97, 19: 0.92,
             20: 0.9, 21: 0.87, 22: 0.84, 23: 0.8}  # fmt: skip
    return curve[hour]


@dataclass
class Job:
    app: str
    every_hours: int
    first_hour: int
    base_mib: float
    conf: dict[str, str]
    entry: str = "jar"
    sigma: float = 0.07
    daily_shape: bool = True
    duration_s: tuple[float, float] = (900, 1800)
    heap_share: float = 0.72
    cpu_at_peak: float = 2.2
    extra: dict[str, Any] = field(default_factory=dict)


def _jobs() -> list[Job]:
    def conf(memory: str, cores: int, instances: int | None = 10, **more: str) -> dict[str, str]:
        values = {"spark.executor.memory": memory, "spark.executor.cores": str(cores)}
        if instances is not None:
            values |= {"spark.executor.instances": str(instances), "spark.dynamicAllocation.enabled": "false"}
        return values | more

    return [
        Job("dw-blog-load", 1, 0, 3000, conf("8g", 4)),
        Job(
            "dw-daily-agg",
            24,
            2,
            9000,
            conf("20g", 4, 20),
            daily_shape=False,
            duration_s=(3600, 7200),
            extra={"monday": 1.25, "month_start": 1.3},
        ),
        Job("dw-clickstream", 1, 0, 4000, conf("10g", 4, 12), sigma=0.09, extra={"spikes": 0.01}),
        Job("dw-orders", 1, 0, 2500, conf("8g", 4, 8), extra={"shift_week": 11, "shift": 1.4}),
        Job("dw-user-sessions", 1, 0, 5000, conf("12g", 4, 6), extra={"spec_week": 9}),
        Job(
            "dw-recsys-features",
            3,
            1,
            3500,
            conf(
                "8g",
                4,
                None,
                **{
                    "spark.dynamicAllocation.enabled": "true",
                    "spark.dynamicAllocation.minExecutors": "2",
                    "spark.dynamicAllocation.maxExecutors": "30",
                },
            ),
            sigma=0.09,
            extra={"dra": True},
        ),
        Job(
            "dw-ml-scoring",
            2,
            0,
            4500,
            conf("6g", 2, 10, **{"spark.executor.pyspark.memory": "2g"}),
            entry="py",
            heap_share=0.45,
            cpu_at_peak=1.4,
            extra={"growth_per_week": 0.015},
        ),
    ]


def _holidays() -> set[Any]:
    import holidays

    return set(holidays.country_holidays("KR", years=range(2026, 2028)))


def generate(seed: int = 7, weeks: int = 20, start: datetime = START) -> Iterator[dict[str, Any]]:
    """Yield runs (dicts in the backtest's input format) in start order for each job."""
    rng = random.Random(seed)
    holidays = _holidays()
    for job in _jobs():
        yield from _runs(job, rng, holidays, weeks, start)


def _runs(
    job: Job, rng: random.Random, holidays: set[Any], weeks: int, start: datetime
) -> Iterator[dict[str, Any]]:
    hours = weeks * 7 * 24
    for offset in range(job.first_hour, hours, job.every_hours):
        local = start + timedelta(hours=offset, minutes=5)
        week = offset / (24 * 7)
        holiday = local.date() in holidays
        calm = 0.85 if local.weekday() >= 5 else 1.0
        calm = 0.8 if holiday else calm
        need = job.base_mib * (hour_profile(local.hour) if job.daily_shape else 1.0) * calm
        conf = dict(job.conf)
        executors = int(conf.get("spark.executor.instances", "0")) or None
        extra = job.extra
        if "monday" in extra and local.weekday() == 0:
            need *= extra["monday"]
        if "month_start" in extra and local.day == 1:
            need *= extra["month_start"]
        if "shift_week" in extra and week >= extra["shift_week"]:
            need *= extra["shift"]
        if "spec_week" in extra and week >= extra["spec_week"]:
            conf |= {"spark.executor.instances": "12", "spark.executor.memory": "8g"}
            executors = 12
            need *= 0.55
        if "growth_per_week" in extra:
            need *= (1 + extra["growth_per_week"]) ** week
        if extra.get("dra"):
            executors = max(2, min(30, round(30 * hour_profile(local.hour) * calm * rng.uniform(0.6, 1.0))))
        need *= rng.lognormvariate(0, job.sigma)
        if rng.random() < extra.get("spikes", 0):
            need *= rng.uniform(1.2, 1.6)
        load = need / job.base_mib
        run = {
            "run_id": f"{job.app}-{local:%Y%m%dT%H%M}",
            "app_name": job.app,
            "started_at": local.isoformat(),
            "duration_s": round(rng.uniform(*job.duration_s) * (0.6 + 0.4 * min(load, 2))),
            "spark_conf": conf,
            "executors": executors or int(conf["spark.executor.instances"]),
            "peak_pod_memory_mib": round(need),
            "peak_heap_mib": round(need * job.heap_share * rng.uniform(0.9, 1.05)),
            "cpu_used_cores_p90": round(
                min(
                    float(conf["spark.executor.cores"]),
                    job.cpu_at_peak * math.sqrt(load) * rng.uniform(0.8, 1.15),
                ),
                2,
            ),
            "oom": False,
        }
        if job.entry == "py":
            run["entry_point"] = "s3://dw-jobs/ml/score.py"
        yield run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--weeks", type=int, default=20)
    args = parser.parse_args(argv)
    for run in generate(args.seed, args.weeks):
        sys.stdout.write(json.dumps(run) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
