"""Decide, for one submission, what to write into its StartJobRun request and what to report.

This is the pipeline in one place — signature → store → recommender → injection — without Airflow:
the operator calls it at execute time, and the backtest builds signatures the same way. The only
exceptions that escape are the user's own mistakes (:class:`SizingConfigError`); any other trouble
yields an empty plan (the request goes out exactly as written) and says why in the audit.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from airflow_emr_sizing.audit import Audit
from airflow_emr_sizing.exceptions import SizingConfigError, SizingRefused, SparkConfError, StoreError
from airflow_emr_sizing.injection import inject, label_conf, yunikorn_values
from airflow_emr_sizing.quantities import format_cores, format_mib
from airflow_emr_sizing.recommender import (
    Bounds,
    NoRecommendation,
    Policy,
    Recommendation,
    RunContext,
    implausible_note,
    recommend,
)
from airflow_emr_sizing.settings import MODES
from airflow_emr_sizing.signature import Signature, build_signature, is_valid_label_key
from airflow_emr_sizing.spark_conf import (
    EXECUTOR_MEMORY,
    EXECUTOR_MEMORY_OVERHEAD,
    EXECUTOR_REQUEST_CORES,
    ExecutorSize,
    executor_size,
    read_job_conf,
)
from airflow_emr_sizing.store import MetricsStore, StoreLocation

__all__ = [
    "EVENT_LOG_METRICS_CONF",
    "HISTORY_LIMIT",
    "SizingOptions",
    "SizingPlan",
    "call_with_timeout",
    "check_bounds",
    "plan_sizing",
    "recommend_from_store",
]

log = logging.getLogger(__name__)
#: Most recent runs the recommender reads: of the exact signature (its weekly runs over the
#: recommender's lookback) and of the app with the same executor spec (about eight days of an
#: hourly job). Both are bounded index range scans, however large the store grows.
HISTORY_LIMIT = 16
POOL_LIMIT = 200
T = TypeVar("T")
#: What makes executor metrics exist in an event log; set on a sized run unless the job sets them.
EVENT_LOG_METRICS_CONF = {
    "spark.eventLog.enabled": "true",
    "spark.eventLog.logStageExecutorMetrics": "true",
    "spark.executor.processTreeMetrics.enabled": "true",
}
EVENT_LOG_DIR = "spark.eventLog.dir"


@dataclass(frozen=True)
class SizingOptions:
    """One task's sizing arguments, resolved (templates rendered, defaults from ``[emr_sizing]``)."""

    app_name: str
    mode: str = "initial"
    dry_run: bool = True
    timezone: str = "UTC"
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    label_key: str = "emr-sizing-signature"
    store_timeout: float = 5.0
    bounds: Bounds = field(default_factory=Bounds)
    policy: Policy = field(default_factory=Policy)
    store: StoreLocation = field(default_factory=StoreLocation)
    #: This run's own event-log folder (run-unique), written as ``spark.eventLog.dir``.
    event_log_dir: str | None = None
    #: Turn on event logging and the executor metrics it needs (keys the job sets are kept).
    event_log_metrics: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SizingConfigError("sizing_mode", self.mode, f"expected one of {', '.join(MODES)}")
        if not is_valid_label_key(self.label_key) or self.label_key.startswith("spark-"):
            raise SizingConfigError(
                "label_key", self.label_key, "not a valid, non-reserved Kubernetes label key"
            )
        if self.store_timeout <= 0:
            raise SizingConfigError("store_timeout", self.store_timeout, "must be positive")
        if self.holiday_subdivision and not self.holiday_country:
            raise SizingConfigError(
                "holiday_subdivision", self.holiday_subdivision, "needs a holiday_country to belong to"
            )
        check_bounds(self.bounds)

    def to_json(self) -> dict[str, Any]:
        """The resolved arguments, for the audit (and for finishing the run after a deferral)."""
        return {
            "app_name": self.app_name,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "timezone": self.timezone,
            "holiday_country": self.holiday_country,
            "holiday_subdivision": self.holiday_subdivision,
            "label_key": self.label_key,
            "bounds": _shallow(self.bounds),
            "risk": self.policy.risk,
            "min_samples": self.policy.min_samples,
            "store": _shallow(self.store),
            "store_timeout": self.store_timeout,
            "event_log_dir": self.event_log_dir,
            "event_log_metrics": self.event_log_metrics,
        }


def _shallow(flat: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` of a dataclass of plain values, without its deep copies (submit path)."""
    return {f.name: getattr(flat, f.name) for f in dataclasses.fields(flat)}


def check_bounds(bounds: Bounds) -> None:
    """A lower bound above its upper bound is the user's error, named (the recommender cannot help)."""
    low, high = bounds.min_heap_mib, bounds.max_heap_mib
    if low is not None and high is not None and low > high:
        raise SizingConfigError(
            "min_executor_memory", format_mib(low), f"is above max_executor_memory ({format_mib(high)!r})"
        )
    if bounds.min_cores is not None and bounds.max_cores is not None and bounds.min_cores > bounds.max_cores:
        raise SizingConfigError(
            "min_executor_cores", bounds.min_cores, f"is above max_executor_cores ({bounds.max_cores!r})"
        )


@dataclass
class SizingPlan:
    """What to write into the request (``values``; empty = as written) and the audit to publish."""

    audit: Audit
    values: dict[str, str] = field(default_factory=dict)
    signature: Signature | None = None
    configured: ExecutorSize | None = None

    def give_up(self, reason: str) -> None:
        """Sizing cannot help this submission: it goes out exactly as written, and says why."""
        self.audit.degraded = True
        self.values = {}
        self.audit.applied = False
        self.audit.injected = {}
        self.audit.reason = reason

    @property
    def degraded(self) -> bool:
        """Sizing gave up on trouble (store, conf, limits): the request goes out exactly as written."""
        return self.audit.degraded

    def apply(
        self, job_driver: Mapping[str, Any], configuration_overrides: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Write ``values`` into (copies of) the request about to be submitted."""
        if not self.values:
            return dict(job_driver), dict(
                configuration_overrides
            ) if configuration_overrides is not None else None
        injected = inject(job_driver, configuration_overrides, self.values)
        return injected.job_driver, injected.configuration_overrides


def plan_sizing(
    job_driver: Mapping[str, Any],
    configuration_overrides: Mapping[str, Any] | None,
    run_time: datetime,
    options: SizingOptions,
    open_store: Callable[[], MetricsStore] | None = None,
    now: datetime | None = None,
    make_event_log_dir: Callable[[str], None] | None = None,
) -> SizingPlan:
    """Plan the sizing of one submission; see the module docstring for what may raise.

    :param open_store: how to reach the store; defaults to ``options.store``.
    :param make_event_log_dir: creates the folder of a run whose event logging sizing turns on
        (Spark will not start without it); without it, event logging is left as the job has it.
    :param now: the moment history is weighed from; defaults to the wall clock (not the logical
        date: a retry or a backfill must still see the runs recorded since that date).
    """
    plan = SizingPlan(Audit(mode=options.mode, dry_run=options.dry_run, arguments=options.to_json()))
    try:
        _plan(
            plan,
            job_driver,
            configuration_overrides,
            run_time,
            now or datetime.now(timezone.utc),
            options,
            open_store or options.store.open,
            make_event_log_dir,
        )
    except SparkConfError as err:
        if not options.dry_run:
            raise
        plan.give_up(f"the job's Spark conf cannot be read: {err}")
    except SizingConfigError:
        raise
    except (StoreError, SizingRefused, TimeoutError) as err:
        plan.give_up(str(err))
    except Exception as err:
        # the operator's one warning names the error; the traceback is kept for debugging
        log.debug("Sizing failed unexpectedly; the job is submitted as written", exc_info=True)
        plan.give_up(f"sizing failed: {type(err).__name__}: {err}")
    return plan


def _plan(
    plan: SizingPlan,
    job_driver: Mapping[str, Any],
    configuration_overrides: Mapping[str, Any] | None,
    run_time: datetime,
    now: datetime,
    options: SizingOptions,
    open_store: Callable[[], MetricsStore],
    make_event_log_dir: Callable[[str], None] | None,
) -> None:
    audit = plan.audit
    conf = read_job_conf(job_driver, configuration_overrides)
    if conf.properties_file is not None:
        raise SizingRefused(
            f"--properties-file {conf.properties_file} replaces spark-defaults with settings we cannot "
            "see, so the job's executor size is unknown"
        )
    signature = build_signature(
        options.app_name,
        run_time,
        options.timezone,
        conf.effective,
        options.holiday_country,
        options.holiday_subdivision,
    )
    plan.signature = signature
    audit.signature = {
        **signature.to_json(),
        "label": {"key": options.label_key, "value": signature.hash},
        "run_time": run_time.isoformat(),
        "timezone": options.timezone,
    }
    current = executor_size(conf)
    plan.configured = current
    audit.configured = {
        "executor_memory_mib": current.heap_mib,
        "executor_memory_overhead_mib": current.overhead_mib,
        "pod_memory_mib": current.pod_memory_mib,
        "executor_request_cores": current.request_cores,
        "executor_cores": current.cores,
        "executor_instances": current.instances,
    }

    def lookup() -> Recommendation | NoRecommendation:
        store = open_store()
        try:
            audit.store = store.description
            return recommend_from_store(store, signature, current, options, now)
        finally:
            store.close()

    result = call_with_timeout(lookup, options.store_timeout, "metrics store lookup")
    values: dict[str, str] = {}
    if isinstance(result, NoRecommendation):
        audit.reason = f"no recommendation: {result.reason}"
        audit.basis = {"samples": result.samples}
        if result.implausible_peaks:
            audit.basis["implausible_peaks"] = result.implausible_peaks
    else:
        audit.recommendation = result.to_json()
        audit.basis = result.basis
        if options.mode == "initial":
            values.update(_sized_values(result, current))
            values.update(yunikorn_values(conf, result.pod_memory_mib, _cores_after(result, current)))
    if implausible := audit.basis.get("implausible_peaks"):
        audit.warnings.append(implausible_note(implausible))
    values.update(label_conf(options.label_key, signature.hash))
    event_log = _event_log_values(conf.effective, options)
    if event_log and not options.dry_run:
        event_log = _with_event_log_dir(event_log, conf.effective, options, make_event_log_dir, audit)
    values.update(event_log)
    injected = inject(job_driver, configuration_overrides, values)
    audit.injected = {
        c.key: {"before": c.before, "after": c.after, "where": c.where} for c in injected.changes
    }
    if options.dry_run:
        audit.reason = audit.reason or (
            "dry run: reported only, the request is submitted as written (no label, no event log: "
            "sizing_mode='off' with dry_run=False learns from runs without resizing them)"
        )
        return
    if options.mode == "off" and not isinstance(result, NoRecommendation):
        audit.reason = "mode off: the recommendation is reported, only the signature label is applied"
    plan.values = values
    audit.applied = bool(injected.changes)


def _event_log_values(effective: Mapping[str, str], options: SizingOptions) -> dict[str, str]:
    """Event logging into the run's own folder, with executor metrics, unless the job says otherwise.

    Without the metrics (``event_log_metrics=False``) the folder is given only to a job that
    visibly turns logging on itself: it then logs into it, and its usage is read back from there.
    Logging turned on where we cannot see it (an image's spark-defaults) would otherwise find a
    folder nobody made, and Spark does not start without it.
    """
    if not options.event_log_dir:
        return {}
    if options.event_log_metrics:
        wanted = {**EVENT_LOG_METRICS_CONF, EVENT_LOG_DIR: options.event_log_dir}
    elif effective.get("spark.eventLog.enabled", "").strip().lower() == "true":
        wanted = {EVENT_LOG_DIR: options.event_log_dir}
    else:
        return {}
    return {key: value for key, value in wanted.items() if key not in effective}


def _with_event_log_dir(
    event_log: dict[str, str],
    effective: Mapping[str, str],
    options: SizingOptions,
    make_event_log_dir: Callable[[str], None] | None,
    audit: Audit,
) -> dict[str, str]:
    """``event_log`` once the folder it logs into exists; nothing if it cannot be made so."""
    logged = {**effective, **event_log}
    if logged.get("spark.eventLog.enabled", "").strip().lower() != "true":
        return event_log  # no log will be written: no folder needed
    if EVENT_LOG_DIR not in event_log and "spark.eventLog.enabled" not in event_log:
        return event_log  # the job logs events where it says: its own business
    folder = logged.get(EVENT_LOG_DIR)
    try:
        if make_event_log_dir is None or not folder:
            raise SizingRefused("no way to create it here")
        call_with_timeout(functools.partial(make_event_log_dir, folder), options.store_timeout, "creating it")
    except Exception as err:
        audit.warnings.append(f"event logging left as the job has it: cannot create {folder} ({err})")
        return {}
    return event_log


def recommend_from_store(
    store: MetricsStore, signature: Signature, current: ExecutorSize, options: SizingOptions, now: datetime
) -> Recommendation | NoRecommendation:
    """Read the (bounded) history the recommender needs for ``signature`` and recommend.

    The store-to-recommendation step on its own, as the operator runs it at submit time; the
    store benchmarks time exactly this.
    """
    since = now - timedelta(days=options.policy.lookback_days)
    history = store.history(signature.hash, limit=HISTORY_LIMIT, since=since) if HISTORY_LIMIT else []
    pool = store.app_history(
        signature.app_name, resource_spec=signature.resource_spec, limit=POOL_LIMIT, since=since
    )
    context = RunContext(
        now=now,
        day_of_week=signature.day_of_week,
        hour=signature.hour,
        holiday=signature.holiday,
        current=current,
        history=history,
        pool=pool,
        bounds=options.bounds,
    )
    return recommend(context, options.policy)


def _sized_values(result: Recommendation, current: ExecutorSize) -> dict[str, str]:
    values = {
        EXECUTOR_MEMORY: format_mib(result.executor_memory_mib),
        EXECUTOR_MEMORY_OVERHEAD: format_mib(result.executor_memory_overhead_mib),
    }
    if result.executor_request_cores is not None and result.executor_request_cores != current.request_cores:
        values[EXECUTOR_REQUEST_CORES] = format_cores(result.executor_request_cores)
    return values


def _cores_after(result: Recommendation, current: ExecutorSize) -> float:
    return (
        result.executor_request_cores if result.executor_request_cores is not None else current.request_cores
    )


def call_with_timeout(function: Callable[[], T], seconds: float, what: str) -> T:
    """Run ``function`` in a daemon thread and give up after ``seconds``.

    A store that hangs must not hold the submission; the abandoned thread cannot keep the worker
    process alive either, because it is a daemon.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as err:
            outcome["error"] = err

    worker = threading.Thread(target=run, name=f"emr-sizing: {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"{what} took longer than {seconds:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
