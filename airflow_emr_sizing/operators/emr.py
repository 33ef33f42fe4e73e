"""``EmrContainerOperator`` that sizes Spark executors from the signature's past runs.

Change one import and keep every argument::

    from airflow_emr_sizing.operators.emr import EmrContainerOperator

At execute time (never at DAG parse time) the operator builds the run's signature, reads its history
from the metrics store, recommends an executor size, writes it into the StartJobRun request (or, in
dry run, only reports it), pushes the audit to XCom, and after the run records its outcome.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as _AmazonEmrContainerOperator

from airflow_emr_sizing.airflow_compat import TaskDeferred, mask_secret
from airflow_emr_sizing.exceptions import SizingConfigError
from airflow_emr_sizing.holiday_calendar import check_holiday_code
from airflow_emr_sizing.hooks.emr import SizedEmrContainerHook
from airflow_emr_sizing.quantities import MIN_EXECUTOR_MEMORY_MIB, format_mib, parse_cores, parse_memory_mib
from airflow_emr_sizing.settings import MODES, check_event_log_dir, parse_bool, zone_of

# What runs only in execute() is imported there: the scheduler imports DAG files constantly, and
# a DAG file importing this module should pay for the operator's class, not for its machinery.
if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_emr_sizing.collect import UsageSources
    from airflow_emr_sizing.plan import SizingOptions, SizingPlan
    from airflow_emr_sizing.recommender import Bounds, NodeShape, Policy
    from airflow_emr_sizing.settings import Settings
    from airflow_emr_sizing.signature import Signature
    from airflow_emr_sizing.store import Observation, StoreLocation

__all__ = ["EmrContainerOperator", "SizedEmrContainerOperator"]


class SizedEmrContainerOperator(_AmazonEmrContainerOperator):
    """Submit an EMR on EKS job run with executors sized from the signature's history.

    Takes every argument of the amazon provider's ``EmrContainerOperator``, plus the ones below.
    ``None`` means "the ``[emr_sizing]`` default" (see the README's options table).

    :param app_name: the job's name in signatures. Defaults to ``name``; set it when ``name``
        changes per run (e.g. carries a date), or each run starts a new history.
    :param sizing_mode: ``"off"`` labels pods and reports the recommendation; ``"initial"`` also
        writes it into the request.
    :param dry_run: when true the request is submitted exactly as written; the recommendation is
        only reported (XCom and log). Defaults to ``[emr_sizing] dry_run`` (true).
    :param timezone: IANA timezone (or fixed offset such as ``+09:00``) of the signature's day and
        hour; defaults to the DAG's.
    :param holiday_country: ``holidays`` country code for the holiday flag, e.g. ``"KR"``.
    :param holiday_subdivision: optional subdivision of that calendar.
    :param store_conn_id: Airflow connection of the metrics store; defaults to the embedded SQLite.
    :param min_executor_memory: lower bound of the injected ``spark.executor.memory`` (e.g. ``"2g"``).
    :param max_executor_memory: upper bound of the injected ``spark.executor.memory``.
    :param min_executor_cores: lower bound of the injected CPU request (e.g. ``0.5`` or ``"500m"``).
    :param max_executor_cores: upper bound of the injected CPU request (never above
        ``spark.executor.cores`` either).
    :param event_log_dir: where runs write Spark event logs (e.g. ``s3://bucket/spark-events``);
        each run gets its own folder below it as ``spark.eventLog.dir`` (unless the job sets that
        key), and its executors' usage is read from there after the run.
    :param event_log_metrics: with ``event_log_dir``, also turn on event logging and the executor
        metrics it needs, keeping keys the job sets itself (never in dry run).
    :param risk: acceptable share of runs needing more memory than recommended (default
        ``[emr_sizing] risk``, 0.005): lower is safer and bigger.
    :param node_memory: allocatable memory of one node (e.g. ``"61g"``) and
    :param node_cores: its allocatable cores: when both are given, executor sizes are rounded up so
        whole executors fill a node, and never exceed one.
    """

    aws_hook_class = SizedEmrContainerHook

    def __init__(
        self,
        *,
        app_name: str | None = None,
        sizing_mode: str | None = None,
        dry_run: bool | str | None = None,
        timezone: str | None = None,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        store_conn_id: str | None = None,
        min_executor_memory: str | None = None,
        max_executor_memory: str | None = None,
        min_executor_cores: float | str | None = None,
        max_executor_cores: float | str | None = None,
        event_log_dir: str | None = None,
        event_log_metrics: bool | str | None = None,
        risk: float | str | None = None,
        node_memory: str | None = None,
        node_cores: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = locals()  # the parameters, named by SIZING_ARGUMENTS
        #: The sizing arguments given; absent ones default from ``[emr_sizing]``. They are rendered
        #: by ``execute`` itself rather than declared in ``template_fields``: every template field
        #: costs each DAG parse a serialization step (benchmarks/bench_parse.py), and the rendered
        #: values are all in the XCom audit.
        self.sizing: dict[str, Any] = {
            name: given[name] for name in SIZING_ARGUMENTS if given[name] is not None
        }
        check_literal_arguments(self.sizing)

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """As the parent's, with the sizing arguments checked at parse time as a task's are: from
        the call, its ``default_args``, its task group's and its DAG's."""
        partial = super().partial(**kwargs)  # resolves the DAG and task group it is in
        dag, group = partial.kwargs.get("dag"), partial.kwargs.get("task_group")
        given = {
            **(getattr(dag, "default_args", None) or {}),
            **(getattr(group, "default_args", None) or {}),
            **(kwargs.get("default_args") or {}),
            **kwargs,
        }
        check_literal_arguments(
            {name: given[name] for name in SIZING_ARGUMENTS if given.get(name) is not None}
        )
        return partial

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, context: Context) -> str | None:
        from airflow_emr_sizing.plan import plan_sizing
        from airflow_emr_sizing.settings import load_settings

        started = time.monotonic()
        rendered = {
            name: self.render_template(value, context) if is_templated(value) else value
            for name, value in self.sizing.items()
        }
        settings = load_settings()
        # amazon providers before 9.7 build their own hook, which would never apply the sizes
        sizable = isinstance(self.hook, SizedEmrContainerHook)
        try:
            options = self._options(rendered, settings, context)
            sources = self._sources(rendered, settings, options)
            self._mask_secrets()
            plan = plan_sizing(
                self.job_driver,
                self.configuration_overrides,
                _run_time(context),
                options,
                make_event_log_dir=self._event_log_folder_maker()
                if options.event_log_dir and not options.dry_run and sizable
                else None,
            )
        except SizingConfigError as err:
            named = _from_settings(err, rendered)
            if named is err:
                raise
            raise named from err
        if plan.values and not sizable:
            plan.give_up(
                f"this amazon provider's EmrContainerOperator builds a {type(self.hook).__name__}: "
                "sizes cannot be applied (apache-airflow-providers-amazon>=9.12 is needed)"
            )
        plan.audit.arguments["usage"] = sources.to_json()
        self._publish(context, plan)
        if plan.values:
            cast(SizedEmrContainerHook, self.hook).adjust_request = functools.partial(
                self._apply, context, plan
            )
        learn = functools.partial(
            self._learn, context, plan, options, sources, deadline=self._learning_deadline(started)
        )
        try:
            job_id: str | None = super().execute(context)
        except TaskDeferred:
            plan.audit.job_id = self.job_id
            self._push_job_id(context, plan)
            learn(self.job_id, ended=False)
            raise  # the outcome is recorded by execute_complete, or when the trigger fails
        except Exception:
            plan.audit.job_id = self.job_id
            learn(self.job_id, ended=True)
            raise
        plan.audit.job_id = job_id
        # without waiting, a run that already ended (a quick failure) is still recorded
        learn(
            job_id, ended=True, pending=None if self.wait_for_completion or self.deferrable else _NOT_WAITED
        )
        return job_id

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """A failed trigger resumes the task only to fail it, without ``execute_complete``.

        amazon providers before 9.25 fail the trigger when the job run fails, so that is where an
        OOM is learnt from on them; newer ones send a failure event to ``execute_complete``.
        """
        if next_method == _TRIGGER_FAILED:
            started = time.monotonic()
            audit = self._pulled_audit(context)
            job_id = audit.get("job_id")
            pending = f"the trigger failed while job {job_id} had not ended (a timeout?)"
            self._learn_from_audit(context, audit, job_id, started, pending=pending)
        return super().resume_execution(next_method, next_kwargs, context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        started = time.monotonic()
        audit = self._pulled_audit(context)
        job_id = (event or {}).get("job_id") or self.job_id or audit.get("job_id")
        self._learn_from_audit(context, audit, job_id, started)
        result: str = super().execute_complete(context, event)
        return result

    # -- steps -----------------------------------------------------------------------------------

    def _pulled_audit(self, context: Context) -> dict[str, Any]:
        """The audit the task pushed before its deferral; ``{}`` when XCom cannot give it."""
        from airflow_emr_sizing.audit import AUDIT_XCOM_KEY

        ti = context["ti"]
        try:  # XCom in trouble must not fail a run that succeeded either
            audit = ti.xcom_pull(task_ids=ti.task_id, key=AUDIT_XCOM_KEY, map_indexes=ti.map_index)
        except Exception as err:
            self.log.warning(
                "The run's outcome is not recorded: the audit cannot be read from XCom (%s)", err
            )
            return {}
        return audit if isinstance(audit, dict) else {}

    def _learn_from_audit(
        self,
        context: Context,
        audit: dict[str, Any],
        job_id: str | None,
        started: float,
        *,
        pending: str | None = None,
    ) -> None:
        """Record a deferred run's outcome, with what its audit says of how it was planned."""
        from airflow_emr_sizing.audit import prediction_of
        from airflow_emr_sizing.collect import UsageSources
        from airflow_emr_sizing.signature import Signature
        from airflow_emr_sizing.store import StoreLocation

        if audit.get("signature") and audit.get("arguments") and job_id:
            arguments = audit["arguments"]
            try:  # an audit written by another version must not fail a run that succeeded
                record = functools.partial(
                    self._record,
                    StoreLocation(**arguments["store"]),
                    float(arguments["store_timeout"]),
                    Signature.from_json(audit["signature"]),
                    job_id,
                    remember=False,
                    sources=UsageSources.from_json(arguments.get("usage")),
                    prediction=prediction_of(audit),
                    warned=_warned_already(audit),
                )
            except Exception as err:
                self.log.warning("The run's outcome is not recorded: unreadable audit (%s)", err)
            else:
                deadline = self._learning_deadline(started)
                self._learn_in_time(record, deadline, context, audit, pending=pending)

    def _push_job_id(self, context: Context, plan: SizingPlan) -> None:
        """The audit again, with the job id: a task resumed from a failed trigger finds it there."""
        from airflow_emr_sizing.audit import AUDIT_XCOM_KEY

        if plan.signature is None:
            return
        try:
            context["ti"].xcom_push(key=AUDIT_XCOM_KEY, value=plan.audit.to_json())
        except Exception as err:  # execute_complete still has the job id from the trigger's event
            self.log.info("The job id is not in the XCom audit: %s", err)

    def _event_log_folder_maker(self) -> Callable[[str], None]:
        """How to make the run's event-log folder: with an S3 client on the EMR client's session.

        The EMR client is made first, here in the task's thread; the folder is then made in the
        thread that bounds it, so no two clients are ever made on the session at once. Without an
        EMR client no folder is made (the parent reports why when it submits).
        """
        from airflow_emr_sizing.eventlog_sources import make_event_log_dir
        from airflow_emr_sizing.exceptions import SizingRefused

        hook = cast(SizedEmrContainerHook, self.hook)
        try:
            hook.conn  # noqa: B018 - a cached property: creating it is the point
        except Exception as err:
            problem = f"no AWS client: {type(err).__name__}: {err}"

            def refuse(location: str) -> None:
                raise SizingRefused(problem)

            return refuse
        return functools.partial(make_event_log_dir, s3_client=functools.partial(hook.client, "s3"))

    def _options(self, given: dict[str, Any], settings: Settings, context: Context) -> SizingOptions:
        """Resolve the task's rendered sizing arguments against ``[emr_sizing]``."""
        from airflow_emr_sizing.plan import SizingOptions
        from airflow_emr_sizing.store import StoreLocation

        event_log_base = _given_or(given, "event_log_dir", settings.event_log_dir)
        country = _given_or(given, "holiday_country", settings.holiday_country)
        # [emr_sizing]'s subdivision belongs to [emr_sizing]'s country, not to the task's own
        subdivision = _given_or(
            given,
            "holiday_subdivision",
            None if "holiday_country" in given else settings.holiday_subdivision,
        )
        if event_log_base:
            check_event_log_dir("event_log_dir", event_log_base)
        return SizingOptions(
            app_name=str(given.get("app_name") or self.name),
            mode=given.get("sizing_mode") or settings.mode,
            dry_run=parse_bool("dry_run", given["dry_run"]) if "dry_run" in given else settings.dry_run,
            timezone=given.get("timezone") or _dag_timezone(self),
            holiday_country=country,
            holiday_subdivision=subdivision,
            label_key=settings.label_key,
            store_timeout=settings.store_timeout,
            bounds=resolve_bounds(given),
            policy=resolve_policy(given, settings),
            store=StoreLocation(
                _given_or(given, "store_conn_id", settings.store_conn_id), settings.store_path
            ),
            event_log_dir=_run_event_log_dir(event_log_base, context) if event_log_base else None,
            event_log_metrics=parse_bool("event_log_metrics", given["event_log_metrics"])
            if "event_log_metrics" in given
            else settings.event_log_metrics,
        )

    def _sources(self, given: dict[str, Any], settings: Settings, options: SizingOptions) -> UsageSources:
        """Which usage sources to read once the run ends."""
        from airflow_emr_sizing.collect import UsageSources

        return UsageSources(
            run_folder=options.event_log_dir,
            event_log=options.event_log_dir is not None,
            aws_conn_id=self.aws_conn_id,
            event_log_attempts=settings.event_log_attempts,
            event_log_retry_delay=settings.event_log_retry_delay,
            prometheus_url=settings.prometheus_url,
            prometheus_timeout=settings.prometheus_timeout,
            prometheus_job_id_label=settings.prometheus_job_id_label,
            label_key=settings.label_key,
        )

    def _publish(self, context: Context, plan: SizingPlan) -> None:
        """The audit in XCom, and the task's one warning when sizing gave up or found trouble.

        Nothing is injected without its audit: when XCom refuses it, the job goes out as written.
        """
        from airflow_emr_sizing.audit import AUDIT_XCOM_KEY

        audit = plan.audit
        signature = audit.signature or {}
        try:
            context["ti"].xcom_push(key=AUDIT_XCOM_KEY, value=audit.to_json())
        except Exception as err:
            unpushed = f"the audit cannot be pushed to XCom: {type(err).__name__}: {err}"
            if plan.degraded:
                audit.warnings.append(unpushed)
            else:
                plan.give_up(unpushed)
        problems = list(audit.warnings)
        if plan.degraded:
            problems.insert(0, f"Executor sizing not applied, job submitted as written: {audit.reason}")
        if problems:
            self.log.warning("%s", "; ".join(problems))
        self.log.info(
            "Signature %s (label %s); recommendation %s; applied=%s%s",
            signature.get("key"),
            signature.get("hash"),
            audit.recommendation,
            audit.applied,
            f" ({audit.reason})" if audit.reason else "",
        )

    def _apply(
        self,
        context: Context,
        plan: SizingPlan,
        job_driver: dict[str, Any],
        configuration_overrides: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Write the plan into the request as submitted (after OpenLineage injection, if any)."""
        from airflow_emr_sizing.audit import AUDIT_XCOM_KEY

        try:
            return plan.apply(job_driver, configuration_overrides)
        except Exception as err:
            log = self.log.info if _warned_already(plan.audit.to_json()) else self.log.warning
            plan.give_up(f"could not apply to the final request: {err}")
            log("Executor sizing not applied, job submitted as written: %s", plan.audit.reason)
            try:
                context["ti"].xcom_push(key=AUDIT_XCOM_KEY, value=plan.audit.to_json())
            except Exception as push_err:
                self.log.info("The audit in XCom still shows the sizes: %s", push_err)
            return job_driver, configuration_overrides

    def _learn(
        self,
        context: Context,
        plan: SizingPlan,
        options: SizingOptions,
        sources: UsageSources,
        job_id: str | None,
        *,
        ended: bool,
        deadline: float | None,
        pending: str | None = None,
    ) -> None:
        """After submission: keep the key ↔ hash mapping, and what the run used once it has ended.

        ``pending`` says why a run found still going will not be recorded later either. Never
        raises: it runs while a deferral or the job's own error is on its way out.
        """
        from airflow_emr_sizing.audit import prediction_of

        if plan.signature is None or not job_id:
            return
        audit = plan.audit.to_json()
        record = functools.partial(
            self._record,
            options.store,
            options.store_timeout,
            plan.signature,
            job_id if ended else None,
            remember=True,
            sources=sources,
            prediction=prediction_of(audit),
            warned=_warned_already(audit),
        )
        self._learn_in_time(record, deadline, context, audit, pending=pending)

    def _learn_in_time(
        self,
        record: Callable[..., dict[str, Any] | None],
        deadline: float | None,
        context: Context,
        audit: dict[str, Any],
        *,
        pending: str | None = None,
    ) -> None:
        """Run ``record`` and add what it learned to the audit; never raises.

        With an ``execution_timeout``, learning gives up before the timeout would fire: Airflow
        fails a task whose time runs out (cancelling its job run), and a run that is over must not
        fail for what was to be learned from it.
        """
        from airflow_emr_sizing.audit import AUDIT_XCOM_KEY
        from airflow_emr_sizing.plan import call_with_timeout

        log = self.log.info if _warned_already(audit) else self.log.warning
        abandoned = threading.Event()
        if deadline is not None:  # its connection is read here, not in the thread learning may
            with contextlib.suppress(Exception):  # leave behind (Airflow 3.0's comms have no lock)
                self.hook.conn  # noqa: B018 - a cached property: creating it is the point
        try:
            if deadline is None:
                learned = record()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no time left before the task's execution_timeout")
                bounded = functools.partial(record, abandoned=abandoned)
                learned = call_with_timeout(bounded, left, "learning from the run within execution_timeout")
        except Exception as err:
            abandoned.set()  # what the task says now stays true
            log("The run's outcome is not recorded: %s", err)
            learned = {"recorded": False, "reason": f"{type(err).__name__}: {err}"}
        if learned is None and pending:
            self.log.info("The run's outcome is not recorded: %s", pending)
            learned = {"recorded": False, "reason": pending}
        if learned is None:
            return
        if learned.get("warnings") or learned.get("recorded") is False:
            log = self.log.info  # what was learned, or not, was said already
        try:
            context["ti"].xcom_push(key=AUDIT_XCOM_KEY, value={**audit, "learned": learned})
        except Exception as err:
            log("What the run taught is not in the XCom audit: %s", err)

    def _learning_deadline(self, started: float) -> float | None:
        """When (``time.monotonic()``) learning must be over, if the task has an execution_timeout
        counted from ``started``: a margin is left for the rest of the task."""
        if not self.execution_timeout:
            return None
        seconds = self.execution_timeout.total_seconds()
        return started + seconds - min(_TIMEOUT_MARGIN_S, seconds / 10)

    def _record(
        self,
        store: StoreLocation,
        timeout: float,
        signature: Signature,
        job_id: str | None,
        *,
        remember: bool,
        sources: UsageSources,
        prediction: dict[str, Any],
        warned: bool = False,
        abandoned: threading.Event | None = None,
    ) -> dict[str, Any] | None:
        """Write what the run taught us; trouble here warns and never fails the task.

        Returns what was learned, for the audit (``None`` while the run has not ended). When the
        task ``warned`` already (sizing gave up, or event logging could not be turned on), or ran
        in dry run (which says up front that it teaches nothing), trouble here is logged at INFO:
        one warning per task. The audit says it all either way. Once ``abandoned`` is set (the
        task stopped waiting and said the run is not recorded), nothing more is written or said.
        """
        from airflow_emr_sizing.plan import call_with_timeout

        signature_hash = signature.hash
        log = self.log.info if warned else self.log.warning
        observation: Observation | None = None
        learned: dict[str, Any] | None = None
        unobserved: Exception | None = None
        try:
            if job_id:
                observation, learned = self._observe(signature, job_id, sources)
        except Exception as err:  # the mapping is still worth keeping
            unobserved = err
        if abandoned is not None and abandoned.is_set():
            return None
        if observation is not None and learned is not None:
            observation = dataclasses.replace(observation, **prediction)
            learned["observation"] = _observation_json(observation)  # as recorded

        try:
            if remember or observation is not None:
                write = functools.partial(_write, store, signature if remember else None, observation)
                call_with_timeout(write, timeout, "metrics store write")
            if unobserved is not None:
                raise unobserved
        except Exception as err:
            what = f"job {job_id}" if job_id else "the signature mapping"
            log("Could not record %s for signature %s: %s", what, signature_hash, err)
            return {**(learned or {}), "recorded": False, "reason": f"{type(err).__name__}: {err}"}
        if observation is None:
            return learned
        if usage_warnings := (learned or {}).get("warnings"):
            log("Usage of job %s: %s", observation.job_id, "; ".join(usage_warnings))
        self.log.info(
            "Recorded job %s (%s, oom=%s, peak pod memory %s MiB, from %s) for signature %s",
            observation.job_id,
            observation.state,
            observation.oom,
            observation.peak_pod_memory_mib,
            observation.source,
            signature_hash,
        )
        return {**(learned or {}), "recorded": True}

    def _observe(
        self, signature: Signature, job_id: str, sources: UsageSources
    ) -> tuple[Observation | None, dict[str, Any] | None]:
        """The run's outcome enriched with its usage sources; ``None`` while it has not ended."""
        from airflow_emr_sizing.collect import event_log_location, gather_usage
        from airflow_emr_sizing.outcome import TERMINAL_STATES, observation_from_job_run

        hook = self.hook
        run = hook.conn.describe_job_run(id=job_id, virtualClusterId=self.virtual_cluster_id)["jobRun"]
        if run.get("state") not in TERMINAL_STATES:
            return None, None
        outcome = observation_from_job_run(run, signature)
        finished = run.get("finishedAt")
        observation, report = gather_usage(
            outcome,
            sources,
            event_log=event_log_location(run),
            finished_at=finished if isinstance(finished, datetime) and finished.tzinfo else None,
            # read as the folder was made (an amazon provider that ignores aws_hook_class: S3Hook)
            s3_client=functools.partial(hook.client, "s3")
            if isinstance(hook, SizedEmrContainerHook)
            else None,
        )
        learned = {"job_id": job_id, **report.to_json(), "observation": _observation_json(observation)}
        return observation, learned

    def _mask_secrets(self) -> None:
        """Register secret-looking Spark conf values with Airflow's log masker."""
        from airflow_emr_sizing.audit import is_secret_key
        from airflow_emr_sizing.spark_conf import loose_settings, read_job_conf

        settings: Iterable[tuple[str, str]]
        try:
            settings = read_job_conf(self.job_driver, self.configuration_overrides).effective.items()
        except Exception:  # a conf that cannot be read may still hold secrets: find what we can
            settings = loose_settings(self.job_driver, self.configuration_overrides)
        for key, value in settings:
            if is_secret_key(key) and value:
                mask_secret(value)


#: The drop-in name: ``from airflow_emr_sizing.operators.emr import EmrContainerOperator``.
EmrContainerOperator = SizedEmrContainerOperator


#: Task arguments defaulting to an ``[emr_sizing]`` option, and that option's name (``label_key``
#: is an option only).
_SETTING_OF = {
    "sizing_mode": "mode",
    "label_key": "label_key",
    **{name: name for name in ("dry_run", "holiday_country", "holiday_subdivision", "risk")},
    **{name: name for name in ("node_memory", "node_cores", "event_log_dir", "event_log_metrics")},
}


#: What learning leaves of an execution_timeout for the rest of the task, at most.
_TIMEOUT_MARGIN_S = 5.0
_TRIGGER_FAILED = "__fail__"  # the next_method Airflow resumes a task with when its trigger failed

_NOT_WAITED = (
    "wait_for_completion=False: the task ended before the run did, so its outcome and usage are "
    "not learnt (a sensor's wait is not seen); wait in the task, or defer, to learn from it"
)


def _from_settings(err: SizingConfigError, given: dict[str, Any]) -> SizingConfigError:
    """Name ``[emr_sizing]`` in the error when the bad value came from there, not from the task."""
    setting = _SETTING_OF.get(err.field)
    if setting is None or err.field in given:
        return err
    return SizingConfigError(f"[emr_sizing] {setting}", err.value, err.problem)


def _write(store: StoreLocation, signature: Signature | None, observation: Observation | None) -> None:
    """Keep ``signature``'s key ↔ hash mapping and record ``observation``, those given."""
    opened = store.open()
    try:
        if signature is not None:
            opened.remember_signature(signature)
        if observation is not None:
            opened.record(observation)
    finally:
        opened.close()


def _warned_already(audit: dict[str, Any]) -> bool:
    """Whether what follows the submission logs at INFO: the task's one warning was logged, or
    it was a dry run, whose reason says up front that it teaches nothing."""
    learned = audit.get("learned")
    return bool(
        audit.get("degraded")
        or audit.get("warnings")
        or audit.get("dry_run")
        or (isinstance(learned, dict) and learned.get("recorded") is False)  # said before a deferral
    )


def is_templated(value: object) -> bool:
    """A Jinja template, rendered at execute time (``emr-sizing explain`` refuses one)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _literal(value: object) -> bool:
    return value is not None and not is_templated(value)


def _given_or(given: dict[str, Any], name: str, setting: str | None) -> str | None:
    """The task's value, else ``[emr_sizing]``'s; an empty one from the task turns the setting off."""
    value = given.get(name, setting)
    return str(value) if value else None


def check_literal_arguments(sizing: dict[str, Any]) -> None:
    """Fail at parse time on arguments that are wrong whatever the templates render to (no I/O).

    Only the arguments given are looked at: this runs for every operator of every DAG parse. A
    value that passed is not checked again in this process (the checks are pure, and a DAG file
    gives its tasks the same few values), which keeps a parse of many tasks from paying for each.
    """
    for name, value in sizing.items():
        check = _LITERAL_CHECKS.get(name)
        if check is None or is_templated(value):
            continue
        try:
            seen: tuple[str, type, object] | None = (name, type(value), value)
            if seen in _PASSED:
                continue
        except TypeError:  # unhashable: checked every time
            seen = None
        check(name, value)
        if seen is not None and len(_PASSED) < _PASSED_MAX:
            _PASSED.add(seen)
    for low, high, parse in _ORDERED_BOUNDS:
        below, above = sizing.get(low), sizing.get(high)
        if _literal(below) and _literal(above) and parse(low, below) > parse(high, above):
            raise SizingConfigError(low, below, f"is above {high} ({above!r})")


def resolve_bounds(given: dict[str, Any]) -> Bounds:
    """The literal bounds among ``given`` (templated ones are left to execute time).

    ``emr-sizing explain`` uses it too, so that its bounds mean what a task's do.
    """
    from airflow_emr_sizing.recommender import Bounds

    def memory(field: str) -> int | None:
        value: Any = given.get(field)
        return _memory_bound(field, value) if _literal(value) else None

    def cores(field: str) -> float | None:
        value: Any = given.get(field)
        return parse_cores(field, value) if _literal(value) else None

    return Bounds(
        min_heap_mib=memory("min_executor_memory"),
        max_heap_mib=memory("max_executor_memory"),
        min_cores=cores("min_executor_cores"),
        max_cores=cores("max_executor_cores"),
    )


def _memory_bound(name: str, value: Any) -> int:
    """A bound on ``spark.executor.memory``: one Spark would refuse fails now, not the job later."""
    mib = parse_memory_mib(name, value)
    if mib < MIN_EXECUTOR_MEMORY_MIB:
        raise SizingConfigError(
            name, value, f"below Spark's minimum executor memory ({format_mib(MIN_EXECUTOR_MEMORY_MIB)})"
        )
    return mib


def resolve_policy(given: dict[str, Any], settings: Settings) -> Policy:
    """The recommender's policy: the task's risk and node shape, else ``[emr_sizing]``'s.

    ``emr-sizing explain`` uses it too, so that it sizes exactly as tasks do.
    """
    from airflow_emr_sizing.recommender import Policy

    halves = ("node_memory", "node_cores")
    if any(name in given and not given[name] for name in halves):
        node = None  # an empty or zero half from the task turns node fit off
    else:
        node = _node(
            given.get("node_memory", settings.node_memory), given.get("node_cores", settings.node_cores)
        )
    return Policy(risk=_risk(given.get("risk", settings.risk)), min_samples=settings.min_samples, node=node)


def _risk(value: Any) -> float:
    try:
        risk = float(value)
    except (TypeError, ValueError) as err:
        raise SizingConfigError("risk", value, "expected a number such as 0.005") from err
    if not 0 < risk < 0.5:
        raise SizingConfigError("risk", value, "must be between 0 and 0.5 (a share of runs)")
    return risk


def _node(memory: Any, cores: Any) -> NodeShape | None:
    if not memory and not cores:
        return None
    if not (memory and cores):
        field = "node_cores" if memory else "node_memory"
        raise SizingConfigError(field, None, "node fit needs both node_memory and node_cores")
    from airflow_emr_sizing.recommender import NodeShape

    return NodeShape(parse_memory_mib("node_memory", memory), parse_cores("node_cores", cores))


#: Bounds whose literal values are compared at parse time (as at execute time, in the plan).
_ORDERED_BOUNDS: tuple[tuple[str, str, Callable[[str, Any], float]], ...] = (
    ("min_executor_memory", "max_executor_memory", _memory_bound),
    ("min_executor_cores", "max_executor_cores", parse_cores),
)


def _check_mode(name: str, mode: Any) -> None:
    if mode not in MODES:
        raise SizingConfigError(name, mode, f"expected one of {', '.join(MODES)}")


def _check_timezone(name: str, value: Any) -> None:
    """An IANA name or a UTC offset; empty means the DAG's."""
    if not isinstance(value, str):
        raise SizingConfigError(name, value, "expected an IANA timezone name or a UTC offset like +09:00")
    if value:
        zone_of(value)


def _unless_empty(parse: Callable[[str, Any], object]) -> Callable[[str, Any], object]:
    """Empty means "not given" here (and zero "no node shape", as in :func:`_node`)."""
    return lambda name, value: parse(name, value) if value else None


#: Parse-time checks of literal sizing arguments. Each half of a node shape is checked alone;
#: that both are there is checked at execute time, as ``[emr_sizing]`` may give the other half.
_LITERAL_CHECKS: dict[str, Callable[[str, Any], object]] = {
    "sizing_mode": _check_mode,
    "dry_run": parse_bool,
    "event_log_metrics": parse_bool,
    "min_executor_memory": _memory_bound,
    "max_executor_memory": _memory_bound,
    "min_executor_cores": parse_cores,
    "max_executor_cores": parse_cores,
    "risk": lambda _name, value: _risk(value),
    "event_log_dir": _unless_empty(check_event_log_dir),
    "node_memory": _unless_empty(parse_memory_mib),
    "node_cores": _unless_empty(parse_cores),
    "timezone": _check_timezone,
    "holiday_country": _unless_empty(check_holiday_code),
    "holiday_subdivision": _unless_empty(check_holiday_code),
}

#: (name, type, value) of literal arguments that passed their check; bounded, as a long-lived
#: process may see many values. The type is part of it: ``True == 1``, but only one is a bool.
_PASSED: set[tuple[str, type, object]] = set()
_PASSED_MAX = 4096

#: The arguments this operator adds to the parent's (``__init__``'s keyword-only parameters).
SIZING_ARGUMENTS = (
    "app_name",
    "sizing_mode",
    "dry_run",
    "timezone",
    "holiday_country",
    "holiday_subdivision",
    "store_conn_id",
    "min_executor_memory",
    "max_executor_memory",
    "min_executor_cores",
    "max_executor_cores",
    "event_log_dir",
    "event_log_metrics",
    "risk",
    "node_memory",
    "node_cores",
)


def _dag_timezone(op: SizedEmrContainerOperator) -> str:
    timezone = op.dag.timezone if op.has_dag() else None  # type: ignore[no-untyped-call]
    return str(getattr(timezone, "name", None) or "UTC")


def _run_event_log_dir(base: str, context: Context) -> str:
    from airflow_emr_sizing.collect import run_event_log_dir

    ti = context["ti"]
    dag_run = context.get("dag_run")
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or "manual"
    map_index = getattr(ti, "map_index", None)
    return run_event_log_dir(
        base,
        str(getattr(ti, "dag_id", None) or "dag"),
        str(getattr(ti, "task_id", None) or "task"),
        str(run_id),
        getattr(ti, "try_number", None) or 1,
        map_index if isinstance(map_index, int) else -1,
    )


def _observation_json(observation: Observation) -> dict[str, Any]:
    fields = dataclasses.asdict(observation)
    fields["started_at"] = observation.started_at.astimezone(timezone.utc).isoformat()
    return fields


def _run_time(context: Context) -> datetime:
    """The run's logical date; else its data interval start; else when it was due to run."""
    for key in ("logical_date", "data_interval_start"):
        value = context.get(key)
        if value is not None:
            return cast(datetime, value)
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if run_after is None:
        raise SizingConfigError(
            "logical_date", None, "the run has no logical date, data interval or run_after"
        )
    return cast(datetime, run_after)
