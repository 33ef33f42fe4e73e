"""The operator called directly, as the amazon provider tests its own: the submit_job call is the contract."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pendulum
import pytest
from airflow.providers.amazon.aws.hooks.emr import EmrContainerHook
from airflow.providers.amazon.aws.operators.emr import EmrContainerOperator as AmazonEmrContainerOperator

from airflow_emr_sizing.audit import AUDIT_XCOM_KEY
from airflow_emr_sizing.exceptions import SizingConfigError
from airflow_emr_sizing.operators.emr import SIZING_ARGUMENTS, EmrContainerOperator, SizedEmrContainerOperator
from airflow_emr_sizing.signature import build_signature
from airflow_emr_sizing.sql_store import SqlStore
from airflow_emr_sizing.store import Observation

SECRET = "wJalrXUtnFEMI-K7MDENG-SuperSecret"
JOB = {
    "name": "dw-blog-load",
    "virtual_cluster_id": "vc-123",
    "execution_role_arn": "arn:aws:iam::123456789012:role/job",
    "release_label": "emr-7.2.0-latest",
    "job_driver": {
        "sparkSubmitJobDriver": {
            "entryPoint": "s3://jobs/load.py",
            "sparkSubmitParameters": "--conf spark.executor.instances=10 --conf spark.executor.memory=8g "
            f"--conf spark.hadoop.fs.s3a.secret.key={SECRET}",
        }
    },
    "configuration_overrides": {
        "applicationConfiguration": [
            {"classification": "spark-defaults", "properties": {"spark.executor.cores": "4"}}
        ]
    },
    "aws_conn_id": None,
    "region_name": "us-east-1",
    "wait_for_completion": False,
}


def seed(store_path: Path, context: dict[str, Any], peaks: list[int]) -> str:
    signature = build_signature(
        "dw-blog-load", context["logical_date"], "Asia/Seoul", {"spark.executor.instances": "10"}
    )
    store = SqlStore(f"sqlite:///{store_path}")
    now = pendulum.now("UTC")  # the recommender weighs history from the wall clock
    for i, peak in enumerate(peaks):
        store.record(
            Observation.of(
                signature, job_id=f"seed-{i}", started_at=now.subtract(weeks=i + 1), peak_pod_memory_mib=peak
            )
        )
    return signature.hash


@pytest.fixture
def store_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[emr_sizing] store_path`` in a folder that does not exist: the store cannot be opened."""
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_PATH", str(tmp_path / "missing-dir" / "store.db"))


def logged_warnings(task_log: str) -> list[str]:
    """The task log's warnings, less Airflow's own about execute() called outside the task runner
    (structlog's ``[warning`` lines; Airflow 3.0's stdlib format says `` WARNING - ``)."""
    return [
        line
        for line in task_log.splitlines()
        if ("[warning" in line or " WARNING - " in line) and "Task Runner" not in line
    ]


def submitted(mock_submit: mock.MagicMock) -> tuple[Any, ...]:
    (call,) = mock_submit.call_args_list
    return call.args[1:]  # drop the hook (autospec passes self)


def plain_submission(
    mock_submit: mock.MagicMock, task_context: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> tuple[Any, ...]:
    """What the amazon provider's operator submits for JOB; the mock and captured output are reset."""
    AmazonEmrContainerOperator(task_id="plain", client_request_token="tok", **JOB).execute(task_context)
    plain = submitted(mock_submit)
    mock_submit.reset_mock()
    capfd.readouterr()
    return plain


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_dry_run_submits_exactly_what_the_parent_would(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    seed(store_path, task_context, [3000, 3100, 3200])
    AmazonEmrContainerOperator(task_id="plain", client_request_token="tok", **JOB).execute(task_context)
    plain = submitted(mock_submit)
    mock_submit.reset_mock()

    sized = EmrContainerOperator(
        task_id="sized", client_request_token="tok", dry_run=True, timezone="Asia/Seoul", **JOB
    )
    sized.execute(task_context)

    assert submitted(mock_submit) == plain
    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert audit["dry_run"] is True and audit["recommendation"] is not None


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_sized_run_injects_into_the_request_and_leaves_the_operator_untouched(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    signature_hash = seed(store_path, task_context, [3000, 3100, 3200, 3300])
    op = EmrContainerOperator(task_id="sized", dry_run=False, timezone="Asia/Seoul", **JOB)
    driver_before, overrides_before = copy.deepcopy(op.job_driver), copy.deepcopy(op.configuration_overrides)

    assert op.execute(task_context) == "jr-1"

    _name, _role, _release, job_driver, overrides, *_ = submitted(mock_submit)
    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    heap = audit["recommendation"]["executor_memory_mib"]
    params = job_driver["sparkSubmitJobDriver"]["sparkSubmitParameters"]
    assert f"--conf spark.executor.memory={heap}m " in params
    assert heap < 8192
    defaults = overrides["applicationConfiguration"][0]["properties"]
    assert defaults["spark.kubernetes.executor.label.emr-sizing-signature"] == signature_hash
    assert defaults["spark.kubernetes.driver.label.emr-sizing-signature"] == signature_hash
    assert defaults["spark.executor.cores"] == "4"
    assert op.job_driver == driver_before and op.configuration_overrides == overrides_before


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_store_down_submits_unchanged_and_says_why(
    mock_submit: mock.MagicMock,
    store_down: None,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    plain = plain_submission(mock_submit, task_context, capfd)

    op = EmrContainerOperator(task_id="sized", client_request_token="tok", dry_run=False, **JOB)
    op.execute(task_context)

    assert submitted(mock_submit) == plain
    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert audit["applied"] is False
    assert "cannot open store" in audit["reason"]
    task_log = "".join(capfd.readouterr())
    warnings = logged_warnings(task_log)
    assert len(warnings) == 1 and "Executor sizing not applied" in warnings[0], task_log
    assert "Background on this error" not in task_log  # the store's error in one line


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_secrets_never_reach_xcom_or_logs(
    mock_submit: mock.MagicMock,
    store_path: Path,
    task_context: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    seed(store_path, task_context, [3000, 3100, 3200])
    caplog.set_level(logging.DEBUG)
    op = EmrContainerOperator(task_id="sized", dry_run=False, **JOB)

    op.execute(task_context)

    task_log = "".join(capfd.readouterr())  # the task logger writes through structlog, not caplog
    assert "Signature dw-blog-load-day-" in task_log  # the log was captured: the check can fail
    assert SECRET not in task_log
    assert SECRET not in json.dumps(task_context["ti"].xcoms)
    assert SECRET not in caplog.text
    assert SECRET in submitted(mock_submit)[3]["sparkSubmitJobDriver"]["sparkSubmitParameters"]


@pytest.mark.parametrize("dry_run", [True, False])
@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_secrets_after_an_unclosed_quote_never_reach_xcom_logs_or_the_error(
    mock_submit: mock.MagicMock,
    dry_run: bool,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The parameters cannot be split: the error shows the word only up to the stray quote, and
    the secret is still registered with Airflow's masker (the UI's rendered fields use it)."""
    from airflow_emr_sizing.airflow_compat import redact

    secret = f"unclosed-{uuid.uuid4().hex}"  # registered by no other test
    params = f"--conf spark.app.name='daily load --conf spark.hadoop.fs.s3a.secret.key={secret}"
    assert secret in str(redact(params))
    job = {
        **JOB,
        "job_driver": {
            "sparkSubmitJobDriver": {"entryPoint": "s3://j/l.py", "sparkSubmitParameters": params}
        },
    }
    op = EmrContainerOperator(task_id="sized", dry_run=dry_run, **job)

    if dry_run:  # reported, and the job goes out as written (Spark will tell the user too)
        op.execute(task_context)
        reason = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["reason"]
        assert "spark.app.name='" in reason and "unclosed single quote (at offset 22)" in reason
    else:  # the user's own mistake, when sizing would rewrite it
        with pytest.raises(SizingConfigError) as raised:
            op.execute(task_context)
        assert "unclosed single quote" in str(raised.value) and secret not in str(raised.value)
    task_log = "".join(capfd.readouterr())
    assert "unclosed single quote" in task_log or not dry_run  # captured: the check can fail
    assert secret not in task_log
    assert secret not in json.dumps(task_context["ti"].xcoms)
    assert secret not in str(redact(params))


def test_keeps_every_parent_argument_and_template_field() -> None:
    op = EmrContainerOperator(task_id="t", deferrable=True, poll_interval=7, tags={"team": "dw"}, **JOB)

    assert isinstance(op, AmazonEmrContainerOperator)
    assert EmrContainerOperator is SizedEmrContainerOperator
    assert (op.deferrable, op.poll_interval, op.tags) == (True, 7, {"team": "dw"})
    assert tuple(op.template_fields) == tuple(AmazonEmrContainerOperator.template_fields)
    assert op.sizing == {}


def test_sizing_arguments_given_are_kept_together_for_rendering_at_execute() -> None:
    op = EmrContainerOperator(task_id="t", dry_run=False, holiday_country="{{ var.value.country }}", **JOB)

    assert op.sizing == {"dry_run": False, "holiday_country": "{{ var.value.country }}"}


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_an_amazon_provider_that_builds_its_own_hook_gets_the_job_as_written(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    """Before amazon 9.7 the operator ignored aws_hook_class: sizes would be reported, not sent."""
    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    AmazonEmrContainerOperator(task_id="plain", client_request_token="tok", **JOB).execute(task_context)
    plain = submitted(mock_submit)
    mock_submit.reset_mock()
    op = EmrContainerOperator(task_id="sized", client_request_token="tok", dry_run=False, **JOB)
    op.aws_hook_class = EmrContainerHook  # as such a provider builds it

    op.execute(task_context)

    assert submitted(mock_submit) == plain
    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert audit["applied"] is False and audit["injected"] == {}
    assert "apache-airflow-providers-amazon>=9.12" in audit["reason"]


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_a_dag_whose_start_date_has_a_fixed_offset_signs_in_that_offset(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    from datetime import datetime, timedelta, timezone

    from airflow.sdk import DAG

    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=9)))):
        op = EmrContainerOperator(task_id="sized", **JOB)  # no timezone: the DAG's, "+09:00"

    op.execute(task_context)

    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    expected = build_signature(
        "dw-blog-load", task_context["logical_date"], "Asia/Seoul", {"spark.executor.instances": "10"}
    )
    assert audit["signature"]["timezone"] == "+09:00"
    assert audit["signature"]["key"] == expected.key  # Seoul has no DST: the same local hour
    assert mock_submit.call_count == 1


def test_sizing_arguments_come_from_default_args_too_and_are_checked_there() -> None:
    from airflow.sdk import DAG

    defaults = {"dry_run": False, "holiday_country": "KR", "max_executor_memory": "24g"}
    with DAG("d", schedule=None, default_args=defaults):
        inherits = EmrContainerOperator(task_id="a", **JOB)
        overrides = EmrContainerOperator(task_id="b", dry_run=True, **JOB)
    assert inherits.sizing == defaults
    assert overrides.sizing == {**defaults, "dry_run": True}

    bad = DAG("e", schedule=None, default_args={"max_executor_memory": "4.5g"})
    with pytest.raises(SizingConfigError, match="max_executor_memory"), bad:
        EmrContainerOperator(task_id="c", **JOB)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"sizing_mode": "auto"}, "sizing_mode"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"max_executor_memory": "4.5g"}, "max_executor_memory"),
        ({"min_executor_cores": "lots"}, "min_executor_cores"),
        # Spark refuses executor memory below 450 MiB: such a bound would break the job
        ({"max_executor_memory": "0"}, "max_executor_memory"),
        ({"max_executor_memory": "100k"}, "max_executor_memory"),
        ({"min_executor_memory": 8}, "min_executor_memory"),  # a bare number is MiB
        ({"min_executor_memory": "16g", "max_executor_memory": "8g"}, "min_executor_memory"),
        ({"min_executor_cores": "2", "max_executor_cores": "500m"}, "min_executor_cores"),
        ({"dry_run": ""}, "dry_run"),  # never read as false: that would turn sizing on
        ({"event_log_metrics": "perhaps"}, "event_log_metrics"),
        ({"timezone": "Asia/Seol"}, "timezone"),
        ({"timezone": 9}, "timezone"),  # not a str: was an unsized run with a TypeError
        ({"holiday_country": "Korea, South"}, "holiday_country"),
        ({"holiday_country": 82}, "holiday_country"),
        ({"holiday_subdivision": "a/b"}, "holiday_subdivision"),
    ],
)
def test_bad_literal_arguments_fail_at_parse_time_naming_the_field(
    arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(SizingConfigError, match=field):
        EmrContainerOperator(task_id="t", **arguments, **JOB)


def test_a_value_that_passed_its_parse_time_check_is_not_mistaken_for_another() -> None:
    # passed values are remembered per process (a DAG file repeats them over its tasks), by type
    # too: True == 1, but only 1 is a CPU quantity
    EmrContainerOperator(task_id="a", max_executor_cores=1, **JOB)
    with pytest.raises(SizingConfigError, match="max_executor_cores"):
        EmrContainerOperator(task_id="b", max_executor_cores=True, **JOB)
    for task_id in ("c", "d"):  # a failed value is never remembered
        with pytest.raises(SizingConfigError, match="max_executor_memory"):
            EmrContainerOperator(task_id=task_id, max_executor_memory="4.5g", **JOB)
    with pytest.raises(SizingConfigError, match="holiday_country"):  # unhashable: still checked
        EmrContainerOperator(task_id="e", holiday_country=["KR"], **JOB)
    # both bounds passed alone: their order is still checked
    EmrContainerOperator(task_id="f", min_executor_memory="16g", **JOB)
    EmrContainerOperator(task_id="g", max_executor_memory="8g", **JOB)
    with pytest.raises(SizingConfigError, match="min_executor_memory"):
        EmrContainerOperator(task_id="h", min_executor_memory="16g", max_executor_memory="8g", **JOB)


def test_bad_literal_arguments_in_partial_fail_at_parse_time_too() -> None:
    from airflow.sdk import DAG

    job = {key: value for key, value in JOB.items() if key != "name"}
    with DAG("m", schedule=None), pytest.raises(SizingConfigError, match="max_executor_memory"):
        EmrContainerOperator.partial(task_id="t", max_executor_memory="1.5g", **job).expand(name=["a", "b"])
    with DAG("n", schedule=None):
        mapped = EmrContainerOperator.partial(task_id="t", max_executor_memory="{{ x }}", **job).expand(
            name=["a", "b"]
        )
    assert mapped.partial_kwargs["max_executor_memory"] == "{{ x }}"  # templates: at execute time

    bad = {"max_executor_memory": "1.5g"}
    with DAG("o", schedule=None), pytest.raises(SizingConfigError, match="max_executor_memory"):
        EmrContainerOperator.partial(task_id="t", default_args=bad, **job).expand(name=["a", "b"])
    with DAG("p", schedule=None, default_args=bad), pytest.raises(SizingConfigError, match="max_exec"):
        EmrContainerOperator.partial(task_id="t", **job).expand(name=["a", "b"])


def test_sizing_arguments_are_the_operators_own_parameters() -> None:
    import inspect

    own = inspect.signature(SizedEmrContainerOperator.__init__).parameters.values()
    assert tuple(p.name for p in own if p.kind is p.KEYWORD_ONLY) == SIZING_ARGUMENTS


def test_templated_arguments_are_checked_after_rendering() -> None:
    op = EmrContainerOperator(
        task_id="t", sizing_mode="{{ var.value.mode }}", max_executor_memory="{{ x }}", **JOB
    )

    assert op.sizing["sizing_mode"] == "{{ var.value.mode }}"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"dry_run": "{{ params.get('missing', '') }}"}, "dry_run"),
        ({"max_executor_memory": "{{ '300m' }}"}, "max_executor_memory"),
        ({"min_executor_memory": "{{ '9g' }}", "max_executor_memory": "8g"}, "min_executor_memory"),
    ],
)
@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_bad_rendered_arguments_fail_before_submitting_naming_the_field(
    mock_submit: mock.MagicMock,
    arguments: dict[str, Any],
    field: str,
    store_path: Path,
    task_context: dict[str, Any],
) -> None:
    op = EmrContainerOperator(task_id="t", **arguments, **JOB)

    with pytest.raises(SizingConfigError, match=rf"^{field}="):
        op.execute({**task_context, "params": {}})
    mock_submit.assert_not_called()


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("HOLIDAY_COUNTRY", "XX", "[emr_sizing] holiday_country"),
        ("MIN_SAMPLES", "0", "[emr_sizing] min_samples"),
        ("RISK", "0.9", "[emr_sizing] risk"),
        ("STORE_TIMEOUT", "inf", "[emr_sizing] store_timeout"),
        ("EVENT_LOG_RETRY_DELAY", "-1", "[emr_sizing] event_log_retry_delay"),
        ("LABEL_KEY", "spark-role", "[emr_sizing] label_key"),
        ("RETENTION_DAYS", "-1", "[emr_sizing] retention_days"),
        ("RETENTION_MAX_RUNS_PER_SIGNATURE", "-5", "[emr_sizing] retention_max_runs_per_signature"),
    ],
)
@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_a_bad_setting_is_named_as_the_setting(
    mock_submit: mock.MagicMock,
    variable: str,
    value: str,
    named: str,
    store_path: Path,
    task_context: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"AIRFLOW__EMR_SIZING__{variable}", value)

    with pytest.raises(SizingConfigError) as raised:
        EmrContainerOperator(task_id="t", dry_run=False, **JOB).execute(task_context)
    assert raised.value.field == named


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_an_empty_argument_turns_its_setting_off_for_the_task(
    mock_submit: mock.MagicMock,
    store_path: Path,
    task_context: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A team elsewhere (no Korean holidays, no shared log bucket) opts out of the site's defaults."""
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__HOLIDAY_COUNTRY", "KR")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__HOLIDAY_SUBDIVISION", "11")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_DIR", "s3://site-logs/spark")

    EmrContainerOperator(task_id="t", holiday_country="", event_log_dir="", dry_run=False, **JOB).execute(
        task_context
    )
    arguments = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["arguments"]
    assert (arguments["holiday_country"], arguments["holiday_subdivision"]) == (None, None)
    assert arguments["event_log_dir"] is None and arguments["usage"]["event_log"] is False

    # the site's subdivision is the site's country's: a task's own country does not inherit it
    EmrContainerOperator(task_id="t", holiday_country="us", **JOB).execute(task_context)
    arguments = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["arguments"]
    assert (arguments["holiday_country"], arguments["holiday_subdivision"]) == ("us", None)


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_a_subdivision_without_a_country_names_the_field(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    with pytest.raises(SizingConfigError, match=r"^holiday_subdivision="):
        EmrContainerOperator(task_id="t", holiday_subdivision="CA", **JOB).execute(task_context)
    mock_submit.assert_not_called()


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_blank_settings_mean_their_defaults(
    mock_submit: mock.MagicMock,
    store_path: Path,
    task_context: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``AIRFLOW__EMR_SIZING__DRY_RUN=`` must not read as false: that would turn sizing on."""
    for variable in ("DRY_RUN", "MODE", "MIN_SAMPLES"):
        monkeypatch.setenv(f"AIRFLOW__EMR_SIZING__{variable}", "")
    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    AmazonEmrContainerOperator(task_id="plain", client_request_token="tok", **JOB).execute(task_context)
    plain = mock_submit.call_args.args[1:]

    EmrContainerOperator(task_id="t", client_request_token="tok", **JOB).execute(task_context)

    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert (audit["dry_run"], audit["mode"], audit["applied"]) == (True, "initial", False)
    assert audit["recommendation"] is not None
    assert mock_submit.call_args.args[1:] == plain


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"risk": 0.7}, "risk"),
        ({"risk": "often"}, "risk"),
        ({"node_memory": "61g", "node_cores": "lots"}, "node_cores"),
        ({"node_memory": "61.5g", "node_cores": 15}, "node_memory"),
        ({"node_memory": "sixty"}, "node_memory"),  # one half alone is checked too
        ({"node_cores": "-2"}, "node_cores"),
    ],
)
def test_bad_policy_arguments_name_the_field(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(SizingConfigError, match=field):
        EmrContainerOperator(task_id="t", **arguments, **JOB)


@pytest.mark.parametrize(
    "arguments",
    [{"node_memory": "", "node_cores": ""}, {"node_memory": 0, "node_cores": 0}, {"node_cores": "8"}],
)
def test_empty_node_halves_mean_no_node_shape_at_parse_time(arguments: dict[str, Any]) -> None:
    """Empty values turn an ``[emr_sizing]`` node shape off; a lone half may be completed there."""
    op = EmrContainerOperator(task_id="t", **arguments, **JOB)

    assert op.sizing == arguments


@pytest.mark.parametrize("half", [{"node_cores": 0}, {"node_memory": ""}])
def test_an_empty_half_from_the_task_turns_a_configured_node_shape_off(
    half: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_emr_sizing.operators.emr import resolve_policy
    from airflow_emr_sizing.settings import load_settings

    monkeypatch.setenv("AIRFLOW__EMR_SIZING__NODE_MEMORY", "61g")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__NODE_CORES", "15.5")
    assert resolve_policy({}, load_settings()).node is not None
    assert resolve_policy(half, load_settings()).node is None


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_risk_and_node_shape_reach_the_recommender(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    op = EmrContainerOperator(
        task_id="sized",
        dry_run=False,
        timezone="Asia/Seoul",
        risk=0.01,
        node_memory="30g",
        node_cores=8,
        **JOB,
    )

    op.execute(task_context)

    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert audit["arguments"]["risk"] == 0.01
    fit = audit["basis"]["node_fit"]
    assert (fit["executors_per_node"], fit["limited_by"]) == (2, "cpu")  # 8 cores / 4 requested each
    assert 2 * audit["recommendation"]["pod_memory_mib"] <= 30 * 1024


def test_an_unreadable_audit_does_not_fail_a_deferred_run_that_succeeded(
    capfd: pytest.CaptureFixture[str],
) -> None:
    operator = EmrContainerOperator(task_id="load", **JOB)
    ti = mock.MagicMock(task_id="load", map_index=-1)
    ti.xcom_pull.return_value = {  # e.g. written by another version of this package
        "signature": {"key": "dw-blog-load-day-1-hour-5-dra-off-exec-10"},
        "arguments": {"store": {"no_such_field": 1}, "store_timeout": "soon"},
    }

    result = operator.execute_complete({"ti": ti}, {"status": "success", "job_id": "jr-9"})

    assert result == "jr-9"
    assert "outcome is not recorded: unreadable audit" in "".join(capfd.readouterr())


def test_store_down_is_one_warning_in_the_deferrable_path_too(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_down: None,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow_emr_sizing.airflow_compat import TaskDeferred

    job = {**JOB, "virtual_cluster_id": virtual_cluster_id}
    op = EmrContainerOperator(task_id="sized", dry_run=False, deferrable=True, **job)

    with pytest.raises(TaskDeferred):
        op.execute(task_context)
    assert task_context["ti"].xcoms[AUDIT_XCOM_KEY]["degraded"] is True
    job_id = op.job_id
    moto_emr.backend.job_runs[job_id].state = "COMPLETED"
    op.execute_complete(task_context, {"status": "success", "job_id": job_id})  # the store is still down

    task_log = "".join(capfd.readouterr())
    warnings = logged_warnings(task_log)
    assert len(warnings) == 1 and "Executor sizing not applied" in warnings[0], task_log
    assert f"Could not record job {job_id}" in task_log  # said, at INFO


def test_a_failed_trigger_still_records_the_run_before_the_task_fails(
    moto_emr: Any, virtual_cluster_id: str, store_path: Path, task_context: dict[str, Any]
) -> None:
    """amazon providers before 9.25 fail the trigger when the job run fails: Airflow then resumes
    the task with next_method ``__fail__``, never calling execute_complete. The OOM is learnt there."""
    from airflow_emr_sizing.airflow_compat import TaskDeferred

    signature_hash = seed(store_path, task_context, [3000, 3100, 3200, 3300])
    job = {**JOB, "virtual_cluster_id": virtual_cluster_id}
    sizing = {"dry_run": False, "deferrable": True, "timezone": "Asia/Seoul"}
    before = set(moto_emr.backend.job_runs)
    with pytest.raises(TaskDeferred):
        EmrContainerOperator(task_id="sized", **sizing, **job).execute(task_context)
    (job_id,) = set(moto_emr.backend.job_runs) - before
    assert task_context["ti"].xcoms[AUDIT_XCOM_KEY]["job_id"] == job_id  # kept for the resumed task
    run = moto_emr.backend.job_runs[job_id]
    run.state, run.failure_reason = "FAILED", "USER_ERROR"
    run.state_details = "Executor 3 exited with exit code 137 (SIGKILL, possible container OOM)."

    resumed = EmrContainerOperator(task_id="sized", **sizing, **job)  # a new task process
    with pytest.raises(Exception, match="Trigger failure"):
        resumed.resume_execution("__fail__", {"error": "Trigger failure"}, task_context)

    (recorded,) = [
        o for o in SqlStore(f"sqlite:///{store_path}").history(signature_hash) if o.job_id == job_id
    ]
    assert (recorded.state, recorded.oom) == ("FAILED", True)
    assert task_context["ti"].xcoms[AUDIT_XCOM_KEY]["learned"]["recorded"] is True


def test_a_trigger_that_times_out_before_the_run_ends_records_nothing_and_says_why(
    moto_emr: Any, virtual_cluster_id: str, store_path: Path, task_context: dict[str, Any]
) -> None:
    from airflow_emr_sizing.airflow_compat import TaskDeferred

    signature_hash = seed(store_path, task_context, [3000, 3100, 3200, 3300])
    job = {**JOB, "virtual_cluster_id": virtual_cluster_id}
    sizing = {"dry_run": False, "deferrable": True, "timezone": "Asia/Seoul"}
    with pytest.raises(TaskDeferred):
        EmrContainerOperator(task_id="sized", **sizing, **job).execute(task_context)
    job_id = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["job_id"]  # the run goes on: RUNNING

    with pytest.raises(Exception, match="Trigger timeout") as raised:
        EmrContainerOperator(task_id="sized", **sizing, **job).resume_execution(
            "__fail__", {"error": "Trigger timeout"}, task_context
        )

    assert type(raised.value).__name__ == "TaskDeferralTimeout"  # as Airflow raises it
    assert job_id not in {o.job_id for o in SqlStore(f"sqlite:///{store_path}").history(signature_hash)}
    learned = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["learned"]
    assert learned["recorded"] is False and job_id in learned["reason"]


def test_usage_trouble_from_two_sources_is_one_warning(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No event log, and Prometheus unreachable: the task's one warning names both."""
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__EVENT_LOG_ATTEMPTS", "1")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__PROMETHEUS_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__PROMETHEUS_TIMEOUT", "1")
    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    moto_emr.create_bucket("dw-emr-logs")
    op = EmrContainerOperator(
        task_id="sized", dry_run=False, timezone="Asia/Seoul", event_log_dir="s3://dw-emr-logs/ev",
        **{**JOB, "virtual_cluster_id": virtual_cluster_id, "wait_for_completion": True},
    )  # fmt: skip

    with moto_emr.finish_runs("COMPLETED"):
        op.execute(task_context)

    learned = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["learned"]
    assert learned["recorded"] is True and len(learned["warnings"]) == 2
    task_log = "".join(capfd.readouterr())
    warnings = logged_warnings(task_log)
    assert len(warnings) == 1, task_log
    assert "event log" in warnings[0] and "prometheus" in warnings[0].lower()


class XComDown:
    """A task instance whose XCom backend is down (e.g. an object-storage backend)."""

    task_id, map_index = "sized", -1

    def xcom_push(self, key: str, value: Any) -> None:
        raise ConnectionError("XCom backend unavailable")

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("XCom backend unavailable")


@pytest.mark.parametrize("dry_run", [False, True])
@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_an_audit_xcom_refuses_leaves_the_job_as_written_with_one_warning(
    mock_submit: mock.MagicMock,
    dry_run: bool,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    plain = plain_submission(mock_submit, task_context, capfd)

    op = EmrContainerOperator(
        task_id="sized", client_request_token="tok", dry_run=dry_run, timezone="Asia/Seoul", **JOB
    )
    assert op.execute({**task_context, "ti": XComDown()}) == "jr-1"

    assert submitted(mock_submit) == plain  # nothing is injected that the audit cannot show
    task_log = "".join(capfd.readouterr())
    warnings = logged_warnings(task_log)
    assert len(warnings) == 1 and "the audit cannot be pushed to XCom" in warnings[0], task_log


@pytest.mark.parametrize("broken", ["xcom_pull", "xcom_push"])
def test_xcom_trouble_does_not_fail_a_deferred_run_that_succeeded(
    broken: str,
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow_emr_sizing.airflow_compat import TaskDeferred

    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    op = EmrContainerOperator(
        task_id="sized", dry_run=False, deferrable=True, timezone="Asia/Seoul",
        **{**JOB, "virtual_cluster_id": virtual_cluster_id},
    )  # fmt: skip
    with pytest.raises(TaskDeferred):
        op.execute(task_context)
    job_id = op.job_id
    moto_emr.backend.job_runs[job_id].state = "COMPLETED"
    capfd.readouterr()
    ti = task_context["ti"]
    with mock.patch.object(ti, broken, side_effect=ConnectionError("XCom backend unavailable")):
        result = op.execute_complete(task_context, {"status": "success", "job_id": job_id})

    assert result == job_id
    task_log = "".join(capfd.readouterr())
    warnings = logged_warnings(task_log)
    assert len(warnings) == 1, task_log
    if broken == "xcom_pull":
        assert "the audit cannot be read from XCom (XCom backend unavailable)" in warnings[0]
    else:  # learnt all the same; the task's one warning is what it learnt (no usage source)
        assert "not in the XCom audit: XCom backend unavailable" in task_log
        history = SqlStore(f"sqlite:///{store_path}").history(ti.xcoms[AUDIT_XCOM_KEY]["signature"]["hash"])
        assert [o.state for o in history if o.job_id == job_id] == ["COMPLETED"]


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_sizes_that_cannot_go_into_the_final_request_are_one_warning_and_degraded(
    mock_submit: mock.MagicMock,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The request as submitted may differ from the operator's (OpenLineage adds keys at submit)."""
    from airflow_emr_sizing.plan import SizingPlan

    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    plain = plain_submission(mock_submit, task_context, capfd)

    op = EmrContainerOperator(
        task_id="sized", client_request_token="tok", dry_run=False, timezone="Asia/Seoul", **JOB
    )
    with mock.patch.object(SizingPlan, "apply", side_effect=ValueError("101 properties (limit 100)")):
        op.execute(task_context)

    assert submitted(mock_submit) == plain
    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert audit["degraded"] is True and audit["applied"] is False
    assert "could not apply to the final request" in audit["reason"]
    warnings = logged_warnings("".join(capfd.readouterr()))
    assert len(warnings) == 1 and "101 properties" in warnings[0]


def test_trouble_found_before_sizing_gives_up_is_in_the_same_one_warning(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    full = {f"spark.dw.setting{i}": "x" for i in range(99)}  # the sizes and labels would pass 100
    overrides = {"applicationConfiguration": [{"classification": "spark-defaults", "properties": full}]}
    job = {**JOB, "virtual_cluster_id": virtual_cluster_id, "configuration_overrides": overrides}
    op = EmrContainerOperator(
        task_id="sized", dry_run=False, timezone="Asia/Seoul", event_log_dir="s3://no-such-bucket/logs", **job
    )

    op.execute(task_context)

    audit = task_context["ti"].xcoms[AUDIT_XCOM_KEY]
    assert audit["degraded"] is True and "limit 100" in audit["reason"]
    assert "cannot create s3://no-such-bucket/logs/" in audit["warnings"][0]
    warnings = logged_warnings("".join(capfd.readouterr()))
    assert len(warnings) == 1, warnings
    assert "Executor sizing not applied" in warnings[0] and "cannot create s3://no-such-bucket" in warnings[0]


def test_a_store_that_refuses_writes_is_one_warning_across_a_deferral(
    moto_emr: Any,
    virtual_cluster_id: str,
    store_path: Path,
    task_context: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A read-only grant: reads work, every write fails (simulated: the tests run as root, whom
    file permissions do not stop)."""
    import sqlite3

    from airflow_emr_sizing.airflow_compat import TaskDeferred

    seed(store_path, task_context, [3000, 3100, 3200, 3300])
    op = EmrContainerOperator(
        task_id="sized", dry_run=False, deferrable=True, timezone="Asia/Seoul",
        **{**JOB, "virtual_cluster_id": virtual_cluster_id},
    )  # fmt: skip
    read_only = sqlite3.OperationalError("attempt to write a readonly database")
    with (
        mock.patch.object(SqlStore, "remember_signature", side_effect=read_only),
        mock.patch.object(SqlStore, "record", side_effect=read_only),
    ):
        with pytest.raises(TaskDeferred):
            op.execute(task_context)
        moto_emr.backend.job_runs[op.job_id].state = "COMPLETED"
        op.execute_complete(task_context, {"status": "success", "job_id": op.job_id})

    task_log = "".join(capfd.readouterr())
    warnings = logged_warnings(task_log)
    assert len(warnings) == 1 and "Could not record the signature mapping" in warnings[0], task_log
    assert f"Could not record job {op.job_id}" in task_log  # said, at INFO
    learned = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["learned"]
    assert learned["recorded"] is False and "readonly" in learned["reason"]
