"""``emr-sizing history``, ``audit`` and ``prune``: the store read back from the command line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.providers.amazon.aws.hooks.emr import EmrContainerHook
from cli_runner import CliRunner

from airflow_emr_sizing.cli import main
from airflow_emr_sizing.signature import build_signature, signature_hash
from airflow_emr_sizing.sql_store import SqlStore
from airflow_emr_sizing.store import Observation

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SIGNATURE = build_signature("dw-blog-load", NOW, "Asia/Seoul", {"spark.executor.instances": "10"})


def seed(url: str, runs: int = 5) -> None:
    seed_store(SqlStore(url), runs)


def seed_store(store: Any, runs: int = 5) -> None:
    store.remember_signature(SIGNATURE)
    for i in range(runs):
        store.record(
            Observation.of(
                SIGNATURE, f"jr-{i}", NOW - timedelta(days=7 * i), peak_pod_memory_mib=3000 + i, oom=i == 2
            )
        )


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store seeded, and the CLI arguments that name it."""
    if request.param == "dynamodb":
        from airflow_emr_sizing.store import open_store

        extra = {"emr_sizing_table": request.getfixturevalue("dynamodb_table"), "region_name": "us-east-1"}
        monkeypatch.setenv("AIRFLOW_CONN_SIZING_DDB", json.dumps({"conn_type": "aws", "extra": extra}))
        seed_store(open_store("sizing_ddb"))
        return ["--conn-id", "sizing_ddb"]
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        seed(f"sqlite:///{path}")
        return ["--path", str(path)]
    url = request.getfixturevalue("postgres_url")
    seed(url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SIZING_PG", json.dumps({"conn_type": "sqlite", "extra": {"sqlalchemy_url": url}})
    )
    return ["--conn-id", "sizing_pg"]


def test_history_by_key_or_hash_newest_first(where: list[str]) -> None:
    by_key = json.loads(cli("history", SIGNATURE.key, *where, "--format", "json").stdout)
    by_hash = json.loads(cli("history", SIGNATURE.hash, *where, "--format", "json").stdout)

    assert by_key == by_hash
    assert by_key["key"] == SIGNATURE.key and by_key["hash"] == SIGNATURE.hash
    assert [o["job_id"] for o in by_key["observations"]] == [f"jr-{i}" for i in range(5)]
    assert by_key["observations"][2]["oom"] is True
    assert by_key["observations"][0]["peak_pod_memory_mib"] == 3000


def test_history_bounded_by_count_and_days(where: list[str]) -> None:
    assert (
        len(
            json.loads(cli("history", SIGNATURE.key, *where, "--limit", "2", "--format", "json").stdout)[
                "observations"
            ]
        )
        == 2
    )
    recent = json.loads(cli("history", SIGNATURE.key, *where, "--days", "10", "--format", "json").stdout)
    assert [o["job_id"] for o in recent["observations"]] == ["jr-0", "jr-1"]


def test_history_as_text(where: list[str]) -> None:
    result = cli("history", SIGNATURE.hash, *where)

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"key   {SIGNATURE.key}"
    assert lines[3].split()[:3] == ["started", "(UTC)", "job"]
    assert [line.split()[2] for line in lines[4:]] == [f"jr-{i}" for i in range(5)]


def test_audit_names_the_key_behind_a_label_value(where: list[str]) -> None:
    result = json.loads(cli("audit", SIGNATURE.hash, *where, "--format", "json").stdout)

    assert result["signature"] == {"key": SIGNATURE.key, "app_name": "dw-blog-load", "format_version": 1}
    assert len(result["observations"]) == 5
    text = cli("audit", SIGNATURE.hash, *where).stdout
    assert f"key   {SIGNATURE.key}" in text


def test_audit_of_an_unknown_hash_fails_clearly(where: list[str]) -> None:
    result = CliRunner().invoke(main, ["audit", "s1-" + "a" * 32, *where])

    assert result.exit_code == 1
    assert "no signature with hash s1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" in result.output


@pytest.mark.parametrize("command", ["history", "audit", "explain"])
@pytest.mark.parametrize(
    "typo",
    [
        SIGNATURE.hash[:-1],  # one character short
        SIGNATURE.hash + "a",
        SIGNATURE.hash.upper(),
        SIGNATURE.hash[:10],
        "s1-",
    ],
)
def test_a_mistyped_hash_is_a_usage_error_not_hashed_as_a_key(
    tmp_path: Path, command: str, typo: str
) -> None:
    path = tmp_path / "store.db"
    seed(f"sqlite:///{path}")

    result = CliRunner().invoke(main, [command, typo, "--path", str(path)])

    assert result.exit_code == 2, result.output
    assert f"{typo!r} is not a valid signature hash" in result.output
    assert signature_hash(typo) not in result.output


def test_a_key_of_an_app_named_like_a_hash_prefix_is_still_a_key(tmp_path: Path) -> None:
    app = build_signature("s1", NOW, "UTC", {})
    path = tmp_path / "store.db"
    store = SqlStore(f"sqlite:///{path}")
    store.record(Observation.of(app, "jr-s1", NOW, peak_pod_memory_mib=3000))

    result = json.loads(cli("history", app.key, "--path", str(path), "--format", "json").stdout)

    assert app.key.startswith("s1-day-")
    assert (result["hash"], [o["job_id"] for o in result["observations"]]) == (app.hash, ["jr-s1"])


def test_prune_dry_run_then_for_real(where: list[str]) -> None:
    dry = json.loads(
        cli(
            "prune", *where, "--keep-last", "3", "--max-age-days", "0", "--dry-run", "--format", "json"
        ).stdout
    )
    assert dry["would_remove"] == 2 and dry["removed"] == 0

    assert "removed 3 observations" in cli("prune", *where, "--keep-last", "0", "--max-age-days", "10").stdout
    left = json.loads(cli("history", SIGNATURE.key, *where, "--format", "json").stdout)["observations"]
    assert [o["job_id"] for o in left] == ["jr-0", "jr-1"]


def test_prune_defaults_come_from_emr_sizing_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    seed(f"sqlite:///{path}")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_PATH", str(path))
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__RETENTION_DAYS", "15")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__RETENTION_MAX_RUNS_PER_SIGNATURE", "1")

    result = json.loads(cli("prune", "--format", "json").stdout)

    assert (result["keep_last"], result["max_age_days"], result["removed"]) == (1, 15, 4)


def test_bad_store_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["history", "x", "--path", str(tmp_path)])  # a directory

    assert result.exit_code == 1
    assert "cannot open store" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["history", "x"],
        ["audit", "s1-" + "a" * 32],
        ["explain", "x"],
        ["prune", "--dry-run"],
        ["prune"],
    ],
)
def test_a_missing_sqlite_store_is_an_error_not_a_new_empty_store(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo.db"

    result = CliRunner().invoke(main, [*command, "--path", str(missing)])

    assert result.exit_code == 1
    assert f"no store at {missing} (--path)" in result.output
    assert not missing.exists()


def test_a_missing_configured_store_is_named_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "emr_sizing.db"
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_PATH", str(missing))

    result = CliRunner().invoke(main, ["history", "x"])

    assert result.exit_code == 1
    assert f"no store at {missing} ([emr_sizing] store_path)" in result.output
    assert not missing.exists()


def test_explain_reads_the_store_as_it_stood_at_the_moment(where: list[str]) -> None:
    at = (NOW - timedelta(days=14)).isoformat()  # jr-2 started then: it is not "before"

    report = json.loads(cli("explain", SIGNATURE.hash, *where, "--at", at, "--format", "json").stdout)

    assert [row["job_id"] for row in report["history"]] == ["jr-3", "jr-4"]


def test_explain_at_reads_past_the_runs_that_came_after_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    seed(f"sqlite:///{path}", runs=60)  # weekly, newest first: 55 runs after --at, more than a read
    at = (NOW - timedelta(days=7 * 55)).isoformat()

    report = json.loads(
        cli("explain", SIGNATURE.key, "--path", str(path), "--at", at, "--format", "json").stdout
    )

    assert [row["job_id"] for row in report["history"]] == ["jr-56", "jr-57", "jr-58", "jr-59"]


@mock.patch.object(EmrContainerHook, "submit_job", autospec=True, return_value="jr-1")
def test_a_label_seen_on_a_pod_is_traced_after_xcom_is_gone(
    mock_submit: mock.MagicMock, store_path: Path, task_context: dict[str, Any]
) -> None:
    from test_operator import JOB

    from airflow_emr_sizing.operators.emr import EmrContainerOperator

    EmrContainerOperator(task_id="sized", dry_run=False, timezone="Asia/Seoul", **JOB).execute(task_context)
    overrides = mock_submit.call_args.args[5]
    label = overrides["applicationConfiguration"][0]["properties"][
        "spark.kubernetes.executor.label.emr-sizing-signature"
    ]
    task_context["ti"].xcoms.clear()  # XCom cleaned up

    result = json.loads(cli("audit", label, "--path", str(store_path), "--format", "json").stdout)

    assert result["signature"]["key"] == "dw-blog-load-day-5-hour-14-dra-off-exec-10"


def test_a_sqlite_connection_to_a_missing_file_is_an_error_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "typo.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_EMR_SIZING_TYPO", json.dumps({"conn_type": "sqlite", "host": str(missing)})
    )

    result = CliRunner().invoke(
        main, ["history", "dw-blog-load-day-5-hour-14-dra-off-exec-10", "--conn-id", "emr_sizing_typo"]
    )

    assert result.exit_code == 1
    assert f"no store at {missing} (--conn-id emr_sizing_typo)" in result.output
    assert not missing.exists()
