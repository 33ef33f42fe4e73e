"""What sizing would have done on a run history: a closed-loop replay (contracts/backtest.md).

Runs are replayed in start order. Each is signed exactly as the operator signs it, sized from the
runs before it only, and then teaches the sizer what it would really have seen: its usage if the
size was enough, or an OOM at that size if it was not (never the true peak of a run that died).
The same replay drives the benchmark's baselines, so every policy is judged by one loop.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from itertools import groupby
from typing import Any, Protocol

from pendulum.parsing.iso8601 import parse_iso8601

from airflow_emr_sizing.exceptions import EmrSizingError
from airflow_emr_sizing.plan import SizingOptions, recommend_from_store
from airflow_emr_sizing.recommender import Bounds, NoRecommendation, Policy, Recommendation
from airflow_emr_sizing.signature import Signature, build_signature
from airflow_emr_sizing.spark_conf import ExecutorSize, executor_size, read_job_conf
from airflow_emr_sizing.store import InMemoryStore, Observation

__all__ = [
    "HistoryError",
    "HistoryRun",
    "RunOutcome",
    "Sizer",
    "StoreSizer",
    "parse_history",
    "replay",
    "summarize",
]

_ISO_8601_CHARACTERS = re.compile(r"[0-9A-Za-z:.,+-]+( [0-9A-Za-z:.,+-]+)?")
_BEYOND_NANOSECONDS = re.compile(r"([.,][0-9]{9})[0-9]+")
_PYTHON_MARKERS = ("spark.executor.pyspark.memory", "spark.submit.pyFiles", "spark.pyspark.python")


class HistoryError(EmrSizingError, ValueError):
    """A run-history line that cannot be read; names the line."""


@dataclass(frozen=True)
class HistoryRun:
    """One line of the run-history input."""

    run_id: str
    app_name: str
    started_at: datetime
    spark_conf: dict[str, str]
    executors: int
    duration_s: float = 3600.0
    peak_pod_memory_mib: int | None = None
    peak_heap_mib: int | None = None
    cpu_used_cores_p90: float | None = None
    oom: bool = False
    #: Optional (an extension): the job's main resource, to tell Python apps (Spark's 0.4 factor).
    entry_point: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> HistoryRun:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("run_id", "app_name", "started_at", "spark_conf") if k not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        started = _started_at(data["started_at"])
        conf = data["spark_conf"]
        if not isinstance(conf, dict):
            raise ValueError("spark_conf is not an object")
        conf = {str(key): _conf_value(str(key), value) for key, value in conf.items()}
        for name in ("run_id", "app_name"):
            if not isinstance(data[name], str) or not data[name]:
                raise ValueError(f"{name} is not a non-empty string: {data[name]!r}")
        oom = data.get("oom", False)
        if not isinstance(oom, bool):
            raise ValueError(f"oom is not true or false: {oom!r}")
        entry_point = data.get("entry_point")
        # a bad Spark value ("1.5g" memory, "ten" instances) is this line's fault: raised here, it
        # gets the line number, and the operator's parser names the key and the value
        configured = _configured(conf, entry_point)
        return cls(
            run_id=data["run_id"],
            app_name=data["app_name"],
            started_at=started,
            spark_conf=conf,
            executors=_or(
                _optional(int, data.get("executors"), "executors", zero=True, whole=True),
                _or(configured.instances, 1),  # spark.executor.instances as Spark reads it
            ),
            duration_s=_or(_optional(float, data.get("duration_s"), "duration_s", zero=True), 3600.0),
            # needs: a fraction of a MiB rounds up, or a pod just too small would look big enough
            peak_pod_memory_mib=_optional(math.ceil, data.get("peak_pod_memory_mib"), "peak_pod_memory_mib"),
            peak_heap_mib=_optional(math.ceil, data.get("peak_heap_mib"), "peak_heap_mib"),
            cpu_used_cores_p90=_optional(
                float, data.get("cpu_used_cores_p90"), "cpu_used_cores_p90", zero=True
            ),
            oom=oom,
            entry_point=entry_point,
        )

    def configured(self) -> ExecutorSize:
        """The executor pod its own spark_conf requests, as Spark on Kubernetes computes it."""
        return _configured(self.spark_conf, self.entry_point)


def _configured(spark_conf: dict[str, str], entry_point: str | None) -> ExecutorSize:
    """The executor pod ``spark_conf`` requests, read by the operator's own Spark-conf parser."""
    python = any(key in spark_conf for key in _PYTHON_MARKERS)
    entry = entry_point or ("main.py" if python else "main.jar")
    conf = read_job_conf(
        {"sparkSubmitJobDriver": {"entryPoint": entry}},
        {"applicationConfiguration": [{"classification": "spark-defaults", "properties": spark_conf}]},
    )
    return executor_size(conf)


def _conf_value(key: str, value: Any) -> str:
    """A spark_conf value as Spark's string: a JSON number or boolean as its JSON text (10 is
    "10", true is "true", as Spark spells it), never ``str()``'s "None", "True" or a dict's repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise ValueError(
        f"spark_conf {key!r} must be a string, number or boolean, not {json.dumps(value, default=repr)}"
    )


def _or(value: Any, default: Any) -> Any:
    """``value`` unless absent (a given zero is kept: a local-mode run has no executor pods)."""
    return default if value is None else value


def _started_at(value: Any) -> datetime:
    """An aware ``started_at``, read by pendulum's pure-Python ISO-8601 parser rather than
    ``datetime.fromisoformat``, whose accepted forms change between Python 3.10 and 3.11, or
    ``pendulum.parse``, whose compiled parser before pendulum 3.2 refuses ordinal and week dates
    that fall on a month's last day.

    Only ASCII letters, digits and ``:.,+-`` (and one space between date and time) get that far:
    the parser reads any Unicode digit, and before pendulum 3.2 a trailing newline. Upper-cased:
    RFC 3339 allows a lower-case ``t`` and ``z``, pendulum reads only capitals. Digits of a second
    beyond the nanosecond, which pendulum refuses, are dropped as those beyond the microsecond are.
    """
    try:
        if not (isinstance(value, str) and _ISO_8601_CHARACTERS.fullmatch(value)):
            raise TypeError(type(value).__name__)
        moment = parse_iso8601(_BEYOND_NANOSECONDS.sub(r"\1", value.upper()))
        # an offset of a day or more, which pendulum allows, is datetime's ValueError
        offset = moment.utcoffset() if isinstance(moment, datetime) else None
    except (ValueError, TypeError, OverflowError) as err:  # OverflowError: 10**20 hours, say
        raise ValueError(f"started_at {value!r} is not an ISO-8601 date and time") from err
    if not isinstance(moment, datetime):  # a date, a time or a duration
        raise ValueError(f"started_at {value!r} is not a date and time")
    if offset is None:
        raise ValueError(f"started_at {value!r} has no UTC offset")
    # a plain datetime, as before: nothing downstream gets pendulum's arithmetic by accident
    return datetime(*moment.timetuple()[:6], moment.microsecond, tzinfo=dt_timezone(offset))


def _optional(
    kind: Callable[[float], Any], value: Any, name: str, *, zero: bool = False, whole: bool = False
) -> Any:
    """A positive finite number (or zero, when ``zero``) converted by ``kind``, or ``None`` when absent.

    ``whole`` refuses a fraction (3.0 is whole): a count that ``int`` truncated would be a guess.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is not a number: {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(
            f"{name} must be a {'non-negative' if zero else 'positive'} finite number: {value!r}"
        )
    if whole and value != int(value):
        raise ValueError(f"{name} is not a whole number: {value!r}")
    return kind(value)


def parse_history(lines: Iterable[str], *, skip_invalid: bool = False) -> tuple[list[HistoryRun], int]:
    """Read JSON Lines; return the runs and the number of invalid lines skipped.

    Without ``skip_invalid`` the first malformed line raises :class:`HistoryError` naming it.
    """
    runs, invalid = [], 0
    seen: dict[str, int] = {}  # run_id -> its line: a run counted twice would skew every figure
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            run = HistoryRun.from_json(json.loads(line))
            if run.run_id in seen:
                raise ValueError(f"run_id {run.run_id!r} repeats line {seen[run.run_id]}")
            seen[run.run_id] = number
            runs.append(run)
        except (ValueError, TypeError, EmrSizingError) as err:
            if not skip_invalid:
                raise HistoryError(f"line {number}: {err}") from err
            invalid += 1
    return runs, invalid


class Sizer(Protocol):
    """A sizing policy under replay: asked before each run, told what the run showed."""

    def size(
        self, run: HistoryRun, signature: Signature, configured: ExecutorSize
    ) -> Recommendation | NoRecommendation: ...

    def learn(self, observation: Observation) -> None: ...


class StoreSizer:
    """This package's recommender, fed and queried through a store exactly as the operator does.

    It never reads ``[emr_sizing]``: the command line resolves a task's policy and passes it, and
    the benchmarks' figures stay those of the defaults whatever the machine's configuration.
    """

    def __init__(self, policy: Policy | None = None, bounds: Bounds | None = None) -> None:
        self.store = InMemoryStore()
        self.options = SizingOptions(
            app_name="backtest", policy=policy or Policy(), bounds=bounds or Bounds()
        )

    def size(
        self, run: HistoryRun, signature: Signature, configured: ExecutorSize
    ) -> Recommendation | NoRecommendation:
        return recommend_from_store(self.store, signature, configured, self.options, run.started_at)

    def learn(self, observation: Observation) -> None:
        self.store.record(observation)


@dataclass
class RunOutcome:
    run: HistoryRun
    signature: Signature
    configured: ExecutorSize
    recommendation: Recommendation | None
    basis: dict[str, Any] = field(default_factory=dict)

    @property
    def pod_memory_mib(self) -> int:
        """What the run's executor pods would have requested."""
        return self.recommendation.pod_memory_mib if self.recommendation else self.configured.pod_memory_mib

    @property
    def under_provisioned(self) -> bool:
        """The run's need exceeded the size it would have had (recommended, or its own if none).

        Exactly the contract's rule (``contracts/backtest.md``), which other tools count by: the
        need is ``peak_pod_memory_mib``, also for a run with ``oom`` (whose measured peak is only a
        lower bound of its need: the README says to read such counts as optimistic); a run without
        a peak has no known need and is never counted.
        """
        peak = self.run.peak_pod_memory_mib
        return peak is not None and self.pod_memory_mib < peak

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,
            "signature_key": self.signature.key,
            "signature_hash": self.signature.hash,
            "recommended": self.recommendation.to_json() if self.recommendation else None,
            "basis": self.basis,
            "under_provisioned": self.under_provisioned,
        }


def replay(
    runs: Iterable[HistoryRun],
    sizer: Sizer,
    timezone: str = "UTC",
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
) -> Iterator[RunOutcome]:
    """Size each run from the ones before it and feed back what it would have shown.

    Runs that start at the same moment are all sized before any of them is learnt: none of them
    started earlier than another, so none may see another's outcome (contracts/backtest.md).
    """
    ordered = sorted(runs, key=lambda r: (r.started_at, r.run_id))
    for _, together in groupby(ordered, key=lambda r: r.started_at):
        outcomes = [_sized(run, sizer, timezone, holiday_country, holiday_subdivision) for run in together]
        for outcome in outcomes:
            sizer.learn(_observation(outcome))
        yield from outcomes


def _sized(
    run: HistoryRun,
    sizer: Sizer,
    timezone: str,
    holiday_country: str | None,
    holiday_subdivision: str | None,
) -> RunOutcome:
    """The run sized from what ``sizer`` has learnt so far; learning from it is the caller's."""
    signature = build_signature(
        run.app_name, run.started_at, timezone, run.spark_conf, holiday_country, holiday_subdivision
    )
    configured = run.configured()
    result = sizer.size(run, signature, configured)
    if isinstance(result, NoRecommendation):
        return RunOutcome(run, signature, configured, None, {"level": None, "samples": result.samples,
                                                            "reason": result.reason})  # fmt: skip
    return RunOutcome(run, signature, configured, result, result.basis)


def _observation(outcome: RunOutcome) -> Observation:
    """What the sizer would really have learnt from the run (an OOM hides the true peak)."""
    run, rec = outcome.run, outcome.recommendation
    oom = outcome.under_provisioned
    return Observation.of(
        outcome.signature,
        job_id=run.run_id,
        started_at=run.started_at,
        state="FAILED" if oom else "COMPLETED",
        oom=oom,
        pod_memory_mib=outcome.pod_memory_mib,
        heap_mib=rec.executor_memory_mib if rec else outcome.configured.heap_mib,
        request_cores=(rec.executor_request_cores if rec else None) or outcome.configured.request_cores,
        executors=run.executors,
        duration_s=run.duration_s,
        peak_pod_memory_mib=None if oom else run.peak_pod_memory_mib,
        peak_heap_mib=None if oom else run.peak_heap_mib,
        cpu_used_cores_p90=run.cpu_used_cores_p90,
        predicted_peak_mib=rec.predicted_peak_mib if rec else None,
        predicted_level=rec.basis.get("level") if rec else None,
        predicted_drift=rec.predicted_drift if rec else None,
        source="backtest",
    )


def _gib_hours(pod_mib: float, run: HistoryRun) -> float:
    return pod_mib / 1024 * run.executors * run.duration_s / 3600


def summarize(outcomes: Iterable[RunOutcome]) -> dict[str, Any]:
    """The contract's summary, plus ratios to the need and a per-app breakdown."""
    total: dict[str, Any] = _empty()
    apps: dict[str, dict[str, Any]] = defaultdict(_empty)
    for outcome in outcomes:
        for bucket in (total, apps[outcome.run.app_name]):
            _add(bucket, outcome)
    return {**_finish(total), "by_app": {app: _finish(bucket) for app, bucket in sorted(apps.items())}}


def _empty() -> dict[str, Any]:
    return {"runs": 0, "recommended_runs": 0, "configured_gibh": 0.0, "configured_oom": 0, "sized_gibh": 0.0,
            "under": 0, "need_gibh": 0.0, "configured_gibh_known": 0.0, "sized_gibh_known": 0.0}  # fmt: skip


def _add(bucket: dict[str, Any], outcome: RunOutcome) -> None:
    run = outcome.run
    configured = _gib_hours(outcome.configured.pod_memory_mib, run)
    sized = _gib_hours(outcome.pod_memory_mib, run)
    bucket["runs"] += 1
    bucket["recommended_runs"] += outcome.recommendation is not None
    bucket["configured_gibh"] += configured
    bucket["sized_gibh"] += sized
    bucket["under"] += outcome.under_provisioned
    peak = run.peak_pod_memory_mib
    bucket["configured_oom"] += run.oom or (peak is not None and outcome.configured.pod_memory_mib < peak)
    if peak is not None:
        bucket["need_gibh"] += _gib_hours(peak, run)
        bucket["configured_gibh_known"] += configured
        bucket["sized_gibh_known"] += sized


def _finish(bucket: dict[str, Any]) -> dict[str, Any]:
    runs, need = bucket["runs"], bucket["need_gibh"]

    def ratio(value: float) -> float | None:
        return round(value / need, 4) if need else None

    return {
        "runs": runs,
        "recommended_runs": bucket["recommended_runs"],
        "configured": {
            "requested_pod_gib_hours": round(bucket["configured_gibh"], 2),
            "oom_runs": bucket["configured_oom"],
            "ratio_to_need": ratio(bucket["configured_gibh_known"]),
        },
        "sized": {
            "requested_pod_gib_hours": round(bucket["sized_gibh"], 2),
            "under_provisioned_runs": bucket["under"],
            "under_provisioned_pct": round(100 * bucket["under"] / runs, 3) if runs else 0.0,
            "ratio_to_need": ratio(bucket["sized_gibh_known"]),
        },
        "need": {"used_pod_gib_hours": round(need, 2)},
        "savings_pct": round(100 * (1 - bucket["sized_gibh"] / bucket["configured_gibh"]), 2)
        if bucket["configured_gibh"]
        else 0.0,
    }
