"""The ``emr-sizing`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import CliRunner

from airflow_emr_sizing import __version__
from airflow_emr_sizing.cli import main
from airflow_emr_sizing.signature import signature_hash


def test_signature_prints_the_key_and_label_value() -> None:
    args = ["signature", "dw-blog-load", "--at", "2026-09-25T14:00:00+09:00", "--timezone", "Asia/Seoul"]
    result = CliRunner().invoke(main, [*args, "--holidays", "KR", "--conf", "spark.executor.instances=10"])

    assert result.exit_code == 0, result.output
    key = "dw-blog-load-day-5-hour-14-holiday-dra-off-exec-10"
    assert result.output.split() == ["key", key, "hash", signature_hash(key)]


def test_signature_as_json() -> None:
    args = ["signature", "app", "--at", "2026-03-01T00:00:00+00:00", "--format", "json"]
    result = CliRunner().invoke(main, args)

    assert json.loads(result.output)["key"] == "app-day-0-hour-0-dra-off-exec-default"


def test_signature_reads_a_time_without_offset_in_the_timezone() -> None:
    def key(at: str) -> str:
        args = ["signature", "app", "--at", at, "--timezone", "Asia/Seoul", "--format", "json"]
        return str(json.loads(CliRunner().invoke(main, args).output)["key"])

    assert key("2026-11-20T14:05:00") == key("2026-11-20T14:05:00+09:00") == key("2026-11-20T05:05:00Z")
    assert key("2026-11-20T14:05:00") == "app-day-5-hour-14-dra-off-exec-default"


def test_signature_takes_a_fixed_offset_as_the_audit_may_show_one() -> None:
    args = ["signature", "app", "--at", "2026-11-20T14:05:00", "--timezone", "+09:00", "--format", "json"]
    assert (
        json.loads(CliRunner().invoke(main, args).output)["key"] == "app-day-5-hour-14-dra-off-exec-default"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--conf", "spark.executor.instances=3", "--conf", "foo"],
            "Invalid value for '--conf': 'foo' is not KEY=VALUE",
        ),
        (["--conf", "=3"], "Invalid value for '--conf': '=3' is not KEY=VALUE"),
        (["--at", "soon"], "Invalid value for '--at': 'soon' is not an ISO-8601 date and time"),
        (["--at", "2026-11-20T14:05", "--timezone", "Mars/Base"], "not a known IANA timezone or UTC offset"),
    ],
)
def test_signature_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["signature", "app", "--at", "2026-11-20T14:05:00+09:00", *args])

    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert message in result.output


@pytest.mark.parametrize("command", ["signature", "backtest"])
@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        (["--holidays", "XX"], "Invalid value for '--holidays': 'XX': unknown"),
        (["--holidays", "Korea"], "did you mean KR (South Korea)"),
        (
            ["--holidays", "AU", "--subdivision", "Queensladn"],
            "Invalid value for '--subdivision': 'Queensladn': unknown; did you mean Queensland",
        ),
        (["--subdivision", "TX"], "--subdivision needs --holidays, its country"),
    ],
)
def test_a_bad_holiday_calendar_is_a_usage_error_naming_the_flag(
    command: str, calendar: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused as a task would refuse it, but in the command line's words."""
    monkeypatch.setenv("AIRFLOW_EMR_SIZING_CACHE_DIR", str(tmp_path))
    history = tmp_path / "history.jsonl"
    history.write_text("")
    given = ["app", "--at", "2026-03-01T00:00:00+00:00"] if command == "signature" else [str(history)]

    result = CliRunner().invoke(main, [command, *given, *calendar])

    assert result.exit_code == 2 and message in result.output, result.output


def test_the_console_script_is_installed() -> None:
    script = str(Path(sys.executable).with_name("emr-sizing"))  # the venv's, even if not on PATH
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)

    assert result.stdout.strip() == f"emr-sizing, version {__version__}"


def test_holidays_fills_the_cache_that_task_processes_read(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"AIRFLOW_EMR_SIZING_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    script = str(Path(sys.executable).with_name("emr-sizing"))
    warm = [script, "holidays", "--country", "KR", "--year", "2026", "--year", "2027", "--format", "json"]
    result = subprocess.run(warm, capture_output=True, text=True, env=env, timeout=120)

    assert result.returncode == 0, result.stderr
    years = json.loads(result.stdout)["years"]
    assert "2026-09-25" in years["2026"]["dates"]  # Chuseok
    assert "2027-02-07" in years["2027"]["dates"]  # Seollal
    assert sorted(Path(entry["cache"]).parent for entry in years.values()) == [cache, cache]

    probe = (
        "import sys, datetime; from airflow_emr_sizing.holiday_calendar import is_holiday; "
        "print(is_holiday(datetime.date(2027, 2, 7), 'KR'), 'holidays' in sys.modules)"
    )
    task = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert task.stdout.split() == ["True", "False"], task.stderr


def test_holidays_of_an_unknown_calendar_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_EMR_SIZING_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["holidays", "--country", "US", "--subdivision", "ZZ"])

    assert result.exit_code == 2
    assert "Invalid value for '--subdivision': 'ZZ': unknown" in result.output
