"""Hostile names and conf values are data, never code; secret-looking values are never kept.

The real operator submits to EMR on EKS served by moto, waits for the run and records it, into each
kind of store. App names and conf values carry quotes, newlines, SQL and PromQL metacharacters,
10 KB of unicode; they must come back from the store and from the CLI byte for byte, and the pod
label (what PromQL selects on) must be a plain label value whatever the name. Values of
secret-looking keys must appear in the request sent to EMR and nowhere else: not in XCom, not in
the logs, not in the store.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cli_runner import CliRunner

from airflow_emr_sizing.audit import AUDIT_XCOM_KEY
from airflow_emr_sizing.cli import main
from airflow_emr_sizing.operators.emr import EmrContainerOperator
from airflow_emr_sizing.signature import build_signature, is_valid_label_value
from airflow_emr_sizing.spark_conf import read_job_conf
from airflow_emr_sizing.store import MetricsStore, open_store

pytestmark = pytest.mark.integration
HOSTILE_NAMES = [
    "dw'blog\"load\n; DROP TABLE emr_sizing_observations; --",
    '{__name__=~".+"} or vector(1) # \\" \')',
    "한글-잡😈\t\r\n" + "".join(chr(0x4E00 + i % 2000) for i in range(3_400)),  # > 10 KB of UTF-8
    "%s %(x)s ${x} $(id) `id` \\x00 \\N ' OR '1'='1",
]
HOSTILE_VALUE = "'; DELETE FROM emr_sizing_signatures; --\n\"} or vector(1) " + "é" * 5_000
SECRET_KEYS = [
    "spark.hadoop.fs.s3a.secret.key",
    "spark.ssl.keyPassword",
    "spark.authenticate.secret",
    "spark.hadoop.fs.s3a.access.key",
    "spark.datasource.api.token",
    "spark.jdbc.credentials",
]


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def store_conn(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each kind of store as the tasks' ``[emr_sizing] store_conn_id``."""
    if request.param == "sqlite":
        connection: dict[str, Any] = {"conn_type": "sqlite", "host": str(tmp_path / "store.db")}
    elif request.param == "postgresql":
        connection = {
            "conn_type": "postgres",
            "extra": {"sqlalchemy_url": request.getfixturevalue("postgres_url")},
        }
    else:
        table = request.getfixturevalue("dynamodb_table")
        connection = {"conn_type": "aws", "extra": {"emr_sizing_table": table, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_STORE", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_CONN_ID", "sizing_store")
    return str(request.param)


def job(virtual_cluster_id: str, conf: dict[str, str], **sizing: Any) -> EmrContainerOperator:
    params = " ".join(f"--conf {shlex.quote(f'{k}={v}')}" for k, v in conf.items())
    return EmrContainerOperator(
        task_id="sized",
        name="dw-blog-load",
        virtual_cluster_id=virtual_cluster_id,
        execution_role_arn="arn:aws:iam::123456789012:role/job",
        release_label="emr-7.2.0-latest",
        job_driver={
            "sparkSubmitJobDriver": {"entryPoint": "s3://jobs/load.py", "sparkSubmitParameters": params}
        },
        aws_conn_id=None,
        region_name="us-east-1",
        wait_for_completion=True,
        poll_interval=1,
        dry_run=False,
        timezone="Asia/Seoul",
        **sizing,
    )


def dump(kind: str, store: MetricsStore) -> str:
    """Everything the store holds, as text."""
    if kind == "dynamodb":
        return json.dumps(store._table.scan()["Items"], default=str, ensure_ascii=False)  # type: ignore[attr-defined]
    engine = store._engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        tables = ("emr_sizing_observations", "emr_sizing_signatures", "emr_sizing_meta")
        rows = [list(map(str, r)) for t in tables for r in conn.execute(sa.text(f"SELECT * FROM {t}"))]
    return json.dumps(rows, ensure_ascii=False)


def above_debug(captured: str) -> str:
    """The captured log without its DEBUG records (structlog's ``[debug``, Airflow 3.0's stdlib
    `` DEBUG - ``), continuation lines included: those are raw third-party dumps, e.g. botocore's
    request and response bodies, which Airflow's masker is for (checked as "masked logs")."""
    kept, debug = [], False
    for line in captured.splitlines():
        if _RECORD_START.match(line):
            debug = "[debug" in line or " DEBUG - " in line
        if not debug:
            kept.append(line)
    return "\n".join(kept)


#: The first line of a log record: a timestamp, bracketed in Airflow 3.0's stdlib format.
_RECORD_START = re.compile(r"\[?\d{4}-\d\d-\d\d[T ]\d\d:")


def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(
        main, [*args, "--conn-id", "sizing_store", "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_hostile_names_and_values_are_data(
    store_conn: str, moto_emr: Any, virtual_cluster_id: str, task_context: dict[str, Any], proved: Any
) -> None:
    conf = {
        "spark.executor.instances": "4",
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.minExecutors": HOSTILE_VALUE,  # reaches the signature's resource spec
        "spark.app.note": HOSTILE_VALUE,
    }
    for app_name in HOSTILE_NAMES:
        with moto_emr.finish_runs("COMPLETED"):
            job_id = job(virtual_cluster_id, conf, app_name=app_name).execute(task_context)

        sent = read_job_conf(
            moto_emr.backend.job_runs[job_id].job_driver,
            moto_emr.backend.job_runs[job_id].configuration_overrides,
        )
        signature = build_signature(app_name, task_context["logical_date"], "Asia/Seoul", conf)
        label = sent.get("spark.kubernetes.executor.label.emr-sizing-signature")
        assert label == signature.hash and is_valid_label_value(label)  # PromQL selects on this only
        assert sent.get("spark.app.note") == HOSTILE_VALUE

        store = open_store("sizing_store")
        (run,) = [o for o in store.history(signature.hash) if o.job_id == job_id]
        assert (run.app_name, run.resource_spec, run.state) == (
            app_name,
            signature.resource_spec,
            "COMPLETED",
        )
        assert store.lookup_signature(signature.hash).key == signature.key  # type: ignore[union-attr]
        assert job_id in [
            o.job_id for o in store.app_history(app_name, resource_spec=signature.resource_spec)
        ]
        assert cli_json("audit", label)["signature"]["key"] == signature.key
        assert cli_json("history", signature.key)["observations"][0]["app_name"] == app_name
        proved("hostile app names and conf values stored and read back byte for byte")
    assert len(open_store("sizing_store").history(signature.hash)) == 1  # nothing dropped or rewritten


def test_secret_values_reach_emr_and_nothing_else(
    store_conn: str,
    moto_emr: Any,
    virtual_cluster_id: str,
    task_context: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    proved: Any,
) -> None:
    secrets = {key: f"SeCrEt-{i}-{uuid.uuid4().hex}" for i, key in enumerate(SECRET_KEYS)}
    caplog.set_level(logging.DEBUG)
    with moto_emr.finish_runs("COMPLETED"):
        job_id = job(virtual_cluster_id, {"spark.executor.instances": "4", **secrets}).execute(task_context)

    job_run = moto_emr.backend.job_runs[job_id]
    sent = read_job_conf(job_run.job_driver, job_run.configuration_overrides)
    store = open_store("sizing_store")
    signature_hash = task_context["ti"].xcoms[AUDIT_XCOM_KEY]["signature"]["hash"]
    assert [o.state for o in store.history(signature_hash)] == ["COMPLETED"]  # the run was recorded
    from airflow_emr_sizing.airflow_compat import redact

    ours = [r for r in caplog.records if r.name.startswith(("airflow_emr_sizing", "airflow.task"))]
    task_log = above_debug("".join(capfd.readouterr()))  # what the task logger wrote
    caplog.set_level(logging.INFO)  # the CLI below runs at Airflow's default level, as users run it
    assert "Signature " in task_log and "recommendation" in task_log  # captured: the check can fail
    places = {
        "task log": task_log,
        "xcom": json.dumps(task_context["ti"].xcoms, default=str),
        # this package's and the task's own log lines, raw, at every level
        "our logs": "\n".join(r.getMessage() for r in ours),
        # every line at INFO and above, raw (third-party DEBUG lines, e.g. botocore's request
        # dumps, are what Airflow's masker is for: the values are registered with it)
        "info logs": "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO),
        # every line at every level as Airflow's secrets masker writes it to the task log
        "masked logs": "\n".join(str(redact(r.getMessage())) for r in caplog.records),
        "store": dump(store_conn, store),
        "cli": json.dumps([cli_json("audit", signature_hash), cli_json("history", signature_hash)]),
    }
    for key, value in secrets.items():
        assert sent.get(key) == value  # EMR got the job's real conf
        for place, text in places.items():
            assert value not in text, f"{key} leaked into {place}"
    proved(
        "secret-looking conf values checked absent from XCom, logs, store and CLI", len(secrets) * len(places)
    )
