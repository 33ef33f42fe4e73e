"""``EmrContainerOperator`` that sizes Spark executors from the signature's past runs.

Change one import and keep every argument::

    from airflow_emr_sizing.operators.emr import EmrContainerOperator

At execute time (never at DAG parse time) the operator builds the run's signature, reads its history
from the metrics store, recommends an executor size, writes it into the StartJobRun request (or, in
dry run, only reports it), pushes the audit to XCom, and after the run records its outcome.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as _AmazonEmrContainerOperator
from airflow.providers.common.compat.sdk import TaskDeferred, mask_secret

from airflow_emr_sizing.audit import AUDIT_XCOM_KEY, is_secret_key
from airflow_emr_sizing.exceptions import SizingConfigError
from airflow_emr_sizing.hooks.emr import SizedEmrContainerHook
from airflow_emr_sizing.outcome import TERMINAL_STATES, observation_from_job_run
from airflow_emr_sizing.plan import SizingOptions, SizingPlan, call_with_timeout, plan_sizing
from airflow_emr_sizing.quantities import parse_cores, parse_memory_mib
from airflow_emr_sizing.recommender import Bounds, Policy
from airflow_emr_sizing.settings import MODES, Settings, load_settings, parse_bool
from airflow_emr_sizing.signature import Signature
from airflow_emr_sizing.spark_conf import read_job_conf
from airflow_emr_sizing.store import Observation, StoreLocation

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

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
    :param timezone: IANA timezone of the signature's day and hour; defaults to the DAG's.
    :param holiday_country: ``holidays`` country code for the holiday flag, e.g. ``"KR"``.
    :param holiday_subdivision: optional subdivision of that calendar.
    :param store_conn_id: Airflow connection of the metrics store; defaults to the embedded SQLite.
    :param min_executor_memory: lower bound of the injected ``spark.executor.memory`` (e.g. ``"2g"``).
    :param max_executor_memory: upper bound of the injected ``spark.executor.memory``.
    :param min_executor_cores: lower bound of the injected CPU request (e.g. ``0.5`` or ``"500m"``).
    :param max_executor_cores: upper bound of the injected CPU request (never above
        ``spark.executor.cores`` either).
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        arguments = {
            "app_name": app_name,
            "sizing_mode": sizing_mode,
            "dry_run": dry_run,
            "timezone": timezone,
            "holiday_country": holiday_country,
            "holiday_subdivision": holiday_subdivision,
            "store_conn_id": store_conn_id,
            "min_executor_memory": min_executor_memory,
            "max_executor_memory": max_executor_memory,
            "min_executor_cores": min_executor_cores,
            "max_executor_cores": max_executor_cores,
        }
        #: The sizing arguments given; absent ones default from ``[emr_sizing]``. They are rendered
        #: by ``execute`` itself rather than declared in ``template_fields``: every template field
        #: costs each DAG parse a serialization step (benchmarks/bench_parse.py), and the rendered
        #: values are all in the XCom audit.
        self.sizing: dict[str, Any] = {name: value for name, value in arguments.items() if value is not None}
        self._check_literal_arguments()

    def _check_literal_arguments(self) -> None:
        """Fail at parse time on arguments that are wrong whatever the templates render to (no I/O)."""
        mode = self.sizing.get("sizing_mode")
        if _literal(mode) and mode not in MODES:
            raise SizingConfigError("sizing_mode", mode, f"expected one of {', '.join(MODES)}")
        if _literal(self.sizing.get("dry_run")):
            parse_bool("dry_run", self.sizing["dry_run"])
        _bounds(self.sizing)

    # -- execute ---------------------------------------------------------------------------------

    def execute(self, context: Context) -> str | None:
        rendered = {
            name: self.render_template(value, context) if _templated(value) else value
            for name, value in self.sizing.items()
        }
        options = self._options(rendered, load_settings())
        self._mask_secrets()
        plan = plan_sizing(self.job_driver, self.configuration_overrides, _run_time(context), options)
        self._publish(context, plan)
        if plan.values:
            cast(SizedEmrContainerHook, self.hook).adjust_request = functools.partial(
                self._apply, context, plan
            )
        try:
            job_id: str | None = super().execute(context)
        except TaskDeferred:
            self._learn(options, plan.signature, self.job_id, ended=False)
            raise  # the outcome is recorded by execute_complete
        except Exception:
            self._learn(options, plan.signature, self.job_id, ended=True)
            raise
        self._learn(options, plan.signature, job_id, ended=self.wait_for_completion or self.deferrable)
        return job_id

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        ti = context["ti"]
        audit = ti.xcom_pull(task_ids=ti.task_id, key=AUDIT_XCOM_KEY, map_indexes=ti.map_index) or {}
        job_id = (event or {}).get("job_id") or self.job_id
        if audit.get("signature") and audit.get("arguments") and job_id:
            arguments = audit["arguments"]
            self._record(
                StoreLocation(**arguments["store"]),
                float(arguments["store_timeout"]),
                Signature.from_json(audit["signature"]),
                job_id,
                remember=False,
            )
        result: str = super().execute_complete(context, event)
        return result

    # -- steps -----------------------------------------------------------------------------------

    def _options(self, given: dict[str, Any], settings: Settings) -> SizingOptions:
        """Resolve the task's rendered sizing arguments against ``[emr_sizing]``."""
        return SizingOptions(
            app_name=str(given.get("app_name") or self.name),
            mode=given.get("sizing_mode") or settings.mode,
            dry_run=parse_bool("dry_run", given["dry_run"]) if "dry_run" in given else settings.dry_run,
            timezone=given.get("timezone") or _dag_timezone(self),
            holiday_country=given.get("holiday_country") or settings.holiday_country,
            holiday_subdivision=given.get("holiday_subdivision") or settings.holiday_subdivision,
            label_key=settings.label_key,
            store_timeout=settings.store_timeout,
            bounds=_bounds(given),
            policy=Policy(min_samples=settings.min_samples),
            store=StoreLocation(given.get("store_conn_id") or settings.store_conn_id, settings.store_path),
        )

    def _publish(self, context: Context, plan: SizingPlan) -> None:
        """One log line (a warning when sizing had to give up) and the audit in XCom."""
        audit = plan.audit
        signature = audit.signature or {}
        if plan.degraded:
            self.log.warning("Executor sizing not applied, job submitted as written: %s", audit.reason)
        self.log.info(
            "Signature %s (label %s); recommendation %s; applied=%s%s",
            signature.get("key"),
            signature.get("hash"),
            audit.recommendation,
            audit.applied,
            f" ({audit.reason})" if audit.reason else "",
        )
        context["ti"].xcom_push(key=AUDIT_XCOM_KEY, value=audit.to_json())

    def _apply(
        self,
        context: Context,
        plan: SizingPlan,
        job_driver: dict[str, Any],
        configuration_overrides: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Write the plan into the request as submitted (after OpenLineage injection, if any)."""
        try:
            return plan.apply(job_driver, configuration_overrides)
        except Exception as err:
            self.log.warning("Executor sizing not applied, job submitted as written: %s", err)
            plan.audit.applied, plan.audit.injected = False, {}
            plan.audit.reason = f"could not apply to the final request: {err}"
            context["ti"].xcom_push(key=AUDIT_XCOM_KEY, value=plan.audit.to_json())
            return job_driver, configuration_overrides

    def _learn(
        self, options: SizingOptions, signature: Signature | None, job_id: str | None, *, ended: bool
    ) -> None:
        """After submission: keep the key ↔ hash mapping, and the outcome once the run has ended."""
        if signature is not None and job_id:
            self._record(
                options.store, options.store_timeout, signature, job_id if ended else None, remember=True
            )

    def _record(
        self,
        store: StoreLocation,
        timeout: float,
        signature: Signature,
        job_id: str | None,
        *,
        remember: bool,
    ) -> None:
        """Write what the run taught us; trouble here warns and never fails the task."""
        signature_hash = signature.hash
        try:
            observation = self._outcome(signature, job_id) if job_id else None

            def write() -> None:
                opened = store.open()
                try:
                    if remember:
                        opened.remember_signature(signature)
                    if observation is not None:
                        opened.record(observation)
                finally:
                    opened.close()

            call_with_timeout(write, timeout, "metrics store write")
        except Exception as err:
            self.log.warning("Could not record job %s for signature %s: %s", job_id, signature_hash, err)
            return
        if observation is not None:
            self.log.info(
                "Recorded job %s (%s, oom=%s) for signature %s",
                observation.job_id,
                observation.state,
                observation.oom,
                signature_hash,
            )

    def _outcome(self, signature: Signature, job_id: str) -> Observation | None:
        run = self.hook.conn.describe_job_run(id=job_id, virtualClusterId=self.virtual_cluster_id)["jobRun"]
        if run.get("state") not in TERMINAL_STATES:
            return None
        return observation_from_job_run(run, signature)

    def _mask_secrets(self) -> None:
        """Register secret-looking Spark conf values with Airflow's log masker."""
        try:
            conf = read_job_conf(self.job_driver, self.configuration_overrides)
        except Exception:
            return
        for key, value in conf.effective.items():
            if is_secret_key(key) and value:
                mask_secret(value)


#: The drop-in name: ``from airflow_emr_sizing.operators.emr import EmrContainerOperator``.
EmrContainerOperator = SizedEmrContainerOperator


def _templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _literal(value: object) -> bool:
    return value is not None and not _templated(value)


def _bounds(given: dict[str, Any]) -> Bounds:
    def memory(field: str) -> int | None:
        value: Any = given.get(field)
        return parse_memory_mib(field, value) if _literal(value) else None

    def cores(field: str) -> float | None:
        value: Any = given.get(field)
        return parse_cores(field, value) if _literal(value) else None

    return Bounds(
        min_heap_mib=memory("min_executor_memory"),
        max_heap_mib=memory("max_executor_memory"),
        min_cores=cores("min_executor_cores"),
        max_cores=cores("max_executor_cores"),
    )


def _dag_timezone(op: SizedEmrContainerOperator) -> str:
    timezone = op.dag.timezone if op.has_dag() else None  # type: ignore[no-untyped-call]
    return str(getattr(timezone, "name", None) or "UTC")


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
