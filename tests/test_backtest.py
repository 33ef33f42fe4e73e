"""The backtest: the contract's input and output, the closed loop, and the summary's arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_runner import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from airflow_emr_sizing.backtest import HistoryError, HistoryRun, StoreSizer, parse_history, replay, summarize
from airflow_emr_sizing.cli import main
from airflow_emr_sizing.recommender import NoRecommendation, Recommendation
from airflow_emr_sizing.signature import Signature
from airflow_emr_sizing.spark_conf import ExecutorSize
from airflow_emr_sizing.store import Observation

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from histories import generate

CONF = {
    "spark.executor.memory": "8g",
    "spark.executor.instances": "10",
    "spark.dynamicAllocation.enabled": "false",
}


def line(run_id: str, started_at: str, peak: float | None = 3000, **more: Any) -> str:
    data = {
        "run_id": run_id,
        "app_name": "dw-blog-load",
        "started_at": started_at,
        "spark_conf": CONF,
        **more,
    }
    if peak is not None:
        data["peak_pod_memory_mib"] = peak
    return json.dumps(data)


# --- input ----------------------------------------------------------------------------------------


def test_the_contract_example_parses_with_defaults_and_unknown_fields_ignored() -> None:
    runs, invalid = parse_history([line("jr-1", "2026-03-06T14:00:00+09:00", whatever="x"), ""])

    (run,) = runs
    assert invalid == 0
    assert (run.executors, run.duration_s, run.oom, run.peak_heap_mib) == (10, 3600.0, False, None)
    assert run.configured().pod_memory_mib == 8192 + 819


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{not json", "line 2"),
        (
            json.dumps({"run_id": "x", "app_name": "a", "started_at": "2026-03-06T14:00:00+09:00"}),
            "spark_conf",
        ),
        (line("x", "2026-03-06T14:00:00"), "no UTC offset"),
        (line("x", "2026-03-06T14:00:00+09:00", peak=None, peak_heap_mib="lots"), "peak_heap_mib"),
        (line("x", "2026-03-06T14:00:00+09:00", spark_conf={"spark.executor.memory": "1.5g"}), "1.5g"),
        (line("x", "2026-03-06T14:00:00+09:00", spark_conf={"spark.executor.cores": "two"}), "cores"),
        (
            line("x", "2026-03-06T14:00:00+09:00", spark_conf={**CONF, "spark.executor.instances": "ten"}),
            "spark.executor.instances='ten': not a whole number",
        ),
        *[
            (
                line("x", "2026-03-06T14:00:00+09:00", spark_conf={**CONF, "spark.jars": v}),
                f"spark_conf 'spark.jars' must be a string, number or boolean, not {text}",
            )
            for v, text in ((None, "null"), ({"a": "b"}, '{"a": "b"}'), (["a.jar"], '["a.jar"]'))
        ],
        (line("x", "2026-03-06T14:00:00+09:00", app_name=""), "app_name"),
        (line("ok", "2026-03-06T14:00:00+09:00"), "run_id 'ok' repeats line 1"),
        (line("x", "2026-03-06T14:00:00+09:00", peak=-5), "peak_pod_memory_mib must be a positive"),
        (line("x", "2026-03-06T14:00:00+09:00", peak=float("inf")), "peak_pod_memory_mib"),
        (line("x", "2026-03-06T14:00:00+09:00", peak_heap_mib=float("nan")), "peak_heap_mib must be"),
        (line("x", "2026-03-06T14:00:00+09:00", peak_heap_mib=-0.5), "peak_heap_mib must be"),
        (line("x", "2026-03-06T14:00:00+09:00", executors=-3), "executors must be a non-negative"),
        (line("x", "2026-03-06T14:00:00+09:00", executors=2.5), "executors is not a whole number: 2.5"),
        (line("x", "2026-03-06T14:00:00+09:00", oom="false"), "oom is not true or false"),
        (line("x", "2026-03-06T14:00:00+09:00", app_name=None), "app_name is not a non-empty string"),
    ],
)
def test_a_malformed_line_is_an_error_naming_it(bad: str, problem: str) -> None:
    good = line("ok", "2026-03-06T13:00:00+09:00")
    with pytest.raises(HistoryError, match="line 2") as err:
        parse_history([good, bad])
    assert problem in str(err.value)
    runs, invalid = parse_history([good, bad], skip_invalid=True)
    assert (len(runs), invalid) == (1, 1)


@pytest.mark.parametrize("utc", ["Z", "z"])
def test_a_started_at_in_utc_may_end_in_z(utc: str) -> None:
    # Python 3.10 parses neither; 3.11 only the upper case
    (run,) = parse_history([line("jr-1", f"2026-03-06T05:00:00{utc}")])[0]

    assert run.started_at == datetime.fromisoformat("2026-03-06T14:00:00+09:00")
    assert run.started_at.utcoffset() == timedelta(0)


def test_a_started_at_that_is_no_date_names_the_field() -> None:
    with pytest.raises(HistoryError, match="line 1: started_at 'soon' is not an ISO-8601"):
        parse_history([line("jr-1", "soon")])


def _iso_8601(moment: datetime, style: str, digits: int, colon: bool) -> str:
    """``moment`` in one of ISO-8601's forms, with ``digits`` decimals of a second."""
    date = {
        "calendar": moment.strftime("%Y-%m-%d"),
        "basic": moment.strftime("%Y%m%d"),
        "ordinal": moment.strftime("%Y-%j"),
        "week": "{}-W{:02d}-{}".format(*moment.isocalendar()),
    }[style]
    clock = moment.strftime("%H%M%S" if style == "basic" else "%H:%M:%S")
    fraction = f".{moment.microsecond:06d}000000"[: digits + 1] if digits else ""
    offset = moment.strftime("%z")  # +0900
    if colon and style != "basic":
        offset = offset[:3] + ":" + offset[3:]
    return f"{date}T{clock}{fraction}{offset}"


@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [timezone(timedelta(minutes=m)) for m in (-720, -570, -60, 0, 60, 330, 345, 540, 840)]
        ),
    ),
    style=st.sampled_from(["calendar", "basic", "ordinal", "week"]),
    digits=st.integers(0, 12),
    colon=st.booleans(),
)
def test_started_at_reads_iso_8601_the_same_on_every_python(
    moment: datetime, style: str, digits: int, colon: bool
) -> None:
    # Python 3.10's datetime.fromisoformat refused +0900 and fractions other than 3 or 6 digits;
    # 3.11's still refuses ordinal and week dates; pendulum.parse before 3.2 refused those on a
    # month's last day, and pendulum's own parser refuses more than 9 digits
    text = _iso_8601(moment, style, digits, colon)

    (run,) = parse_history([line("jr-1", text)])[0]

    kept = 10 ** (6 - min(digits, 6))  # digits beyond microseconds are dropped
    assert run.started_at == moment.replace(microsecond=moment.microsecond // kept * kept)
    assert run.started_at.utcoffset() == moment.utcoffset()


@pytest.mark.parametrize(
    "started_at",
    [
        "2026-03-06T14:00:00+09:00",
        "2026-03-06 14:00:00+09:00",  # RFC 3339's space
        "2026-03-06t05:00:00z",  # and its lower-case letters
        "2026-03-06T05:00:00.0000000001Z",  # digits beyond the nanosecond dropped
        "2026-065T14:00:00+0900",
    ],
)
def test_started_at_in_the_forms_a_history_file_may_use(started_at: str) -> None:
    (run,) = parse_history([line("jr-1", started_at)])[0]

    assert run.started_at == datetime(2026, 3, 6, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("started_at", "problem"),
    [
        ("2026-03-06T14:00:00", "has no UTC offset"),
        ("2026-03-06", "is not a date and time"),
        ("14:00:00+09:00", "is not a date and time"),
        ("P1D", "is not a date and time"),
        ("2026-03-06T14:00:00+09:00/P1D", "is not an ISO-8601 date and time"),  # an interval
        ("PT99999999999999999999H", "is not an ISO-8601 date and time"),  # overflows
        ("2026-03-06T14:00:00+99:00", "is not an ISO-8601 date and time"),  # a 99-hour offset
        ("2026-03-06T14:00:00+09:00\n", "is not an ISO-8601 date and time"),  # pendulum < 3.2 took it
        (
            "\u0662\u0660\u0662\u0666-03-06T14:00:00+09:00",
            "is not an ISO-8601 date and time",
        ),  # Arabic digits
        ("now", "is not an ISO-8601 date and time"),
        ("2026-02-30T14:00:00+09:00", "is not an ISO-8601 date and time"),
        (1772773200, "is not an ISO-8601 date and time"),
    ],
)
def test_a_started_at_that_is_no_moment_with_an_offset_names_the_field(started_at: Any, problem: str) -> None:
    with pytest.raises(HistoryError, match="line 1") as err:
        parse_history([line("jr-1", started_at)])

    assert f"started_at {started_at!r} {problem}" in str(err.value)


# --- replay ---------------------------------------------------------------------------------------


class Spy:
    """A sizer that recommends a fixed pod size and remembers what it was shown, in order."""

    def __init__(self, pod: int | None) -> None:
        self.pod, self.seen, self.learnt = pod, [], []  # type: ignore[var-annotated]

    def size(self, run: HistoryRun, signature: Signature, configured: ExecutorSize) -> Any:
        self.seen.append((run.run_id, [o.job_id for o in self.learnt]))
        if self.pod is None:
            return NoRecommendation("spy")
        return Recommendation(self.pod - 1024, 1024, self.pod, None, self.pod - 500, 0.0, {"level": "spy"})

    def learn(self, observation: Observation) -> None:
        self.learnt.append(observation)


def test_runs_replay_in_start_order_seeing_only_earlier_runs() -> None:
    lines = [line(f"jr-{h}", f"2026-03-06T{h:02d}:00:00+09:00") for h in (5, 1, 3)]
    spy = Spy(4096)

    list(replay(parse_history(lines)[0], spy, "Asia/Seoul"))

    assert spy.seen == [("jr-1", []), ("jr-3", ["jr-1"]), ("jr-5", ["jr-1", "jr-3"])]


def test_runs_starting_together_see_only_runs_before_them_not_each_other() -> None:
    lines = [
        line("jr-late", "2026-03-06T03:00:00+09:00"),
        line("jr-b", "2026-03-06T02:00:00+09:00"),
        line("jr-a", "2026-03-05T17:00:00+00:00"),  # the same moment as jr-b, in another offset
        line("jr-early", "2026-03-06T01:00:00+09:00"),
    ]
    spy = Spy(4096)

    outcomes = list(replay(parse_history(lines)[0], spy, "Asia/Seoul"))

    assert [o.run.run_id for o in outcomes] == ["jr-early", "jr-a", "jr-b", "jr-late"]
    assert spy.seen == [
        ("jr-early", []),
        ("jr-a", ["jr-early"]),
        ("jr-b", ["jr-early"]),
        ("jr-late", ["jr-early", "jr-a", "jr-b"]),
    ]


def test_an_undersized_run_teaches_an_oom_at_its_size_not_its_peak() -> None:
    runs = parse_history(
        [
            line("small", "2026-03-06T01:00:00+09:00", peak=5000),
            line("fine", "2026-03-06T02:00:00+09:00", peak=3000),
        ]
    )[0]
    spy = Spy(4096)

    outcomes = list(replay(runs, spy, "Asia/Seoul"))

    assert [o.under_provisioned for o in outcomes] == [True, False]
    oom, ok = spy.learnt
    assert (oom.oom, oom.pod_memory_mib, oom.peak_pod_memory_mib, oom.predicted_peak_mib) == (
        True,
        4096,
        None,
        3596,
    )
    assert (ok.oom, ok.peak_pod_memory_mib) == (False, 3000)


@pytest.mark.parametrize(
    ("peak", "pod", "under"),
    [(5000, 4096, True), (5000, 5000, False), (5000, 9011, False), (None, 4096, False)],
)
def test_an_oom_run_is_under_provisioned_by_the_contracts_rule_only(
    pod: int, under: bool, peak: int | None
) -> None:
    # the contract counts a run under-provisioned when sized below its peak, "oom" or not; other
    # tools count by that rule, so a run without a peak is never counted
    runs = parse_history([line("oom", "2026-03-06T01:00:00+09:00", peak=peak, oom=True)])[0]
    spy = Spy(pod)

    (outcome,) = replay(runs, spy, "Asia/Seoul")

    (learnt,) = spy.learnt
    assert outcome.under_provisioned is under
    assert (learnt.oom, learnt.pod_memory_mib) == (under, pod)
    assert learnt.peak_pod_memory_mib == (None if under else peak)
    assert summarize([outcome])["sized"]["under_provisioned_runs"] == under


def test_fractional_memory_needs_round_up_not_down() -> None:
    (run,) = parse_history([line("jr-1", "2026-03-06T01:00:00+09:00", peak=5200.4, peak_heap_mib=3900.2)])[0]

    assert (run.peak_pod_memory_mib, run.peak_heap_mib) == (5201, 3901)
    (outcome,) = replay([run], Spy(5200), "Asia/Seoul")
    assert outcome.under_provisioned is True  # 5200 MiB pods would not have held 5200.4 MiB


def test_spark_conf_numbers_and_booleans_are_read_as_their_json_text() -> None:
    conf = {
        "spark.executor.memory": "8g",
        "spark.executor.instances": 10,
        "spark.executor.memoryOverheadFactor": 0.25,
        "spark.dynamicAllocation.enabled": False,
    }

    (run,) = parse_history([line("jr-1", "2026-03-06T01:00:00+09:00", spark_conf=conf)])[0]

    assert run.spark_conf == {
        "spark.executor.memory": "8g",
        "spark.executor.instances": "10",
        "spark.executor.memoryOverheadFactor": "0.25",
        "spark.dynamicAllocation.enabled": "false",
    }
    assert (run.executors, run.configured().overhead_mib) == (10, 2048)


def test_a_whole_executors_count_written_as_a_float_is_kept() -> None:
    (run,) = parse_history([line("jr-1", "2026-03-06T01:00:00+09:00", executors=3.0)])[0]

    assert run.executors == 3 and isinstance(run.executors, int)


def test_explicit_zeros_are_kept_not_defaulted() -> None:
    (run,) = parse_history([line("local", "2026-03-06T01:00:00+09:00", executors=0, duration_s=0)])[0]
    assert (run.executors, run.duration_s) == (0, 0.0)


def test_without_a_recommendation_the_configured_size_is_used_and_judged() -> None:
    runs = parse_history([line("big", "2026-03-06T01:00:00+09:00", peak=9500)])[0]  # configured pod is 9011

    (outcome,) = replay(runs, Spy(None), "Asia/Seoul")

    assert outcome.recommendation is None
    assert outcome.pod_memory_mib == 9011
    assert outcome.under_provisioned is True
    assert outcome.to_json()["recommended"] is None


def test_summary_arithmetic_matches_the_contract() -> None:
    runs = parse_history(
        [
            line("a", "2026-03-06T01:00:00+09:00", peak=3000, duration_s=1800, executors=4),
            line("b", "2026-03-06T02:00:00+09:00", peak=5000, duration_s=3600, executors=10),
        ]
    )[0]

    summary = summarize(replay(runs, Spy(4096), "Asia/Seoul"))

    def gibh(mib: float, executors: int, seconds: float) -> float:
        return mib / 1024 * executors * seconds / 3600

    configured = gibh(9011, 4, 1800) + gibh(9011, 10, 3600)
    sized = gibh(4096, 4, 1800) + gibh(4096, 10, 3600)
    need = gibh(3000, 4, 1800) + gibh(5000, 10, 3600)
    assert summary["runs"] == summary["recommended_runs"] == 2
    assert summary["configured"]["requested_pod_gib_hours"] == pytest.approx(configured, abs=0.01)
    assert summary["sized"]["requested_pod_gib_hours"] == pytest.approx(sized, abs=0.01)
    assert summary["need"]["used_pod_gib_hours"] == pytest.approx(need, abs=0.01)
    assert summary["sized"]["under_provisioned_runs"] == 1
    assert summary["configured"]["oom_runs"] == 0
    assert summary["savings_pct"] == pytest.approx(100 * (1 - sized / configured), abs=0.01)


def test_the_recommender_learns_over_a_generated_history() -> None:
    runs = [HistoryRun.from_json(r) for r in generate(seed=5, weeks=3) if r["app_name"] == "dw-blog-load"]

    outcomes = list(replay(runs, StoreSizer(), "Asia/Seoul", "KR"))
    summary = summarize(outcomes)

    late = [o for o in outcomes[-168:]]  # the last week
    assert all(o.recommendation is not None for o in late)
    assert summary["sized"]["ratio_to_need"] < summary["configured"]["ratio_to_need"] / 2
    assert summary["sized"]["under_provisioned_pct"] < 2


# --- command line ---------------------------------------------------------------------------------


@pytest.fixture
def history_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    runs = [r for r in generate(seed=9, weeks=2) if r["app_name"] in ("dw-blog-load", "dw-daily-agg")]
    path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    return path


def test_cli_prints_the_contract_summary_and_writes_per_run_lines(history_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "per-run.jsonl"
    args = [
        "backtest",
        str(history_file),
        "--timezone",
        "Asia/Seoul",
        "--holidays",
        "KR",
        "--output",
        str(output),
    ]

    result = CliRunner().invoke(main, [*args, "--format", "json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {"runs", "recommended_runs", "configured", "sized", "need", "savings_pct"} <= set(summary)
    assert {"requested_pod_gib_hours", "oom_runs"} <= set(summary["configured"])
    assert {"requested_pod_gib_hours", "under_provisioned_runs"} <= set(summary["sized"])
    lines = [json.loads(x) for x in output.read_text().splitlines()]
    assert len(lines) == summary["runs"] == len(history_file.read_text().splitlines())
    first = lines[0]
    assert set(first) == {
        "run_id",
        "signature_key",
        "signature_hash",
        "recommended",
        "basis",
        "under_provisioned",
    }
    sized = next(x for x in lines if x["recommended"])
    assert set(sized["recommended"]) == {
        "executor_memory_mib",
        "executor_memory_overhead_mib",
        "pod_memory_mib",
        "executor_request_cores",
    }
    assert {"level", "samples"} <= set(sized["basis"])


def test_cli_text_table_and_invalid_lines(history_file: Path) -> None:
    with history_file.open("a") as handle:
        handle.write("{broken\n")

    failed = CliRunner().invoke(main, ["backtest", str(history_file)])
    skipped = CliRunner().invoke(main, ["backtest", str(history_file), "--skip-invalid"])

    assert failed.exit_code == 1 and "line" in failed.output
    assert skipped.exit_code == 0
    assert "dw-daily-agg" in skipped.output and "skipped 1 invalid line" in skipped.output


def test_cli_a_bad_spark_value_is_an_invalid_line_like_any_other(history_file: Path) -> None:
    with history_file.open("a") as handle:
        handle.write(line("bad", "2026-03-06T14:00:00+09:00", spark_conf={"spark.executor.memory": "1.5g"}))
    number = len(history_file.read_text().splitlines())

    failed = CliRunner().invoke(main, ["backtest", str(history_file)])
    skipped = CliRunner().invoke(main, ["backtest", str(history_file), "--skip-invalid", "--format", "json"])

    assert failed.exit_code == 1 and f"line {number}: spark.executor.memory='1.5g'" in failed.output
    assert skipped.exit_code == 0, skipped.output
    summary = json.loads(skipped.stdout)
    assert (summary["invalid_lines"], summary["runs"]) == (1, number - 1)


def _backtest(history_file: Path, *flags: str, per_run: Path | None = None) -> dict[str, Any]:
    args = ["backtest", str(history_file), "--timezone", "Asia/Seoul", "--format", "json", *flags]
    result = CliRunner().invoke(main, [*args, *(["--output", str(per_run)] if per_run else [])])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    summary.pop("runs_per_second")
    return summary


def test_cli_backtest_uses_the_tasks_emr_sizing_policy_unless_overridden(
    history_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = _backtest(history_file)
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__MIN_SAMPLES", "1000")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__RISK", "0.05")
    per_run = tmp_path / "per-run.jsonl"

    configured = _backtest(history_file, per_run=per_run)
    risks = {run["basis"].get("risk") for run in map(json.loads, per_run.read_text().splitlines())}
    overridden = _backtest(history_file, "--min-samples", "3", "--risk", "0.005")

    assert default["recommended_runs"] > 0
    assert configured["recommended_runs"] == 0 and risks == {None}  # none sized: too few runs
    assert (default["policy"]["min_samples"], default["policy"]["risk"]) == (3, 0.005)
    assert (configured["policy"]["min_samples"], configured["policy"]["risk"]) == (1000, 0.05)
    assert overridden == default  # flags beat [emr_sizing], as a task's arguments do
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__MIN_SAMPLES", "3")
    _backtest(history_file, per_run=per_run)
    risks = {run["basis"].get("risk") for run in map(json.loads, per_run.read_text().splitlines())}
    assert risks == {None, 0.05}


def test_cli_backtest_applies_a_tasks_bounds_and_node_shape(history_file: Path, tmp_path: Path) -> None:
    capped, fitted = tmp_path / "capped.jsonl", tmp_path / "fitted.jsonl"

    summary = _backtest(history_file, "--max-executor-memory", "2g", "--min-executor-cores", "500m",
                        per_run=capped)  # fmt: skip
    _backtest(history_file, "--node-memory", "61g", "--node-cores", "15.5", per_run=fitted)

    sized = [run for run in map(json.loads, capped.read_text().splitlines()) if run["recommended"]]
    assert sized and all(run["recommended"]["executor_memory_mib"] <= 2048 for run in sized)
    assert any("max_executor_memory" in run["basis"].get("clamped", []) for run in sized)
    assert summary["policy"]["bounds"] == {"max_heap_mib": 2048, "min_cores": 0.5}
    node_fits = [json.loads(run)["basis"].get("node_fit") for run in fitted.read_text().splitlines()]
    assert any(node_fits)


def test_cli_backtest_needs_no_airflow_configuration(history_file: Path, tmp_path: Path) -> None:
    """The README's "try it before you switch it on": no airflow.cfg, no [emr_sizing], defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path / "no-airflow-here")
    command = [str(Path(sys.executable).with_name("emr-sizing")), "backtest", str(history_file), "--format",
               "json"]  # fmt: skip

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["policy"] == {
        "risk": 0.005,
        "margin": 0.02,
        "lookback_days": 42,
        "min_samples": 3,
        "node": None,
        "bounds": {},
    }


def test_eventlog_output_feeds_backtest(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "eventlogs" / "aggregation"
    summary = CliRunner().invoke(main, ["eventlog", str(fixture), "--format", "json"])
    assert summary.exit_code == 0, summary.output
    data = json.loads(summary.output)
    runs = [{**data, "run_id": f"r{i}", "started_at": f"2026-03-0{i + 1}T14:00:00+09:00"} for i in range(3)]

    parsed, invalid = parse_history([json.dumps(r) for r in runs])

    assert invalid == 0 and len(parsed) == 3
    assert parsed[0].peak_pod_memory_mib == data["peak_pod_memory_mib"]


@pytest.fixture
def explained(tmp_path: Path) -> tuple[Path, Any]:
    """A store holding every run of a replayed history, and the last run's outcome."""
    from airflow_emr_sizing.sql_store import SqlStore

    runs = [HistoryRun.from_json(r) for r in generate(seed=4, weeks=3) if r["app_name"] == "dw-blog-load"]
    sizer = StoreSizer()
    outcomes = list(replay(runs, sizer, "Asia/Seoul", "KR"))
    store_path = tmp_path / "store.db"
    store = SqlStore(f"sqlite:///{store_path}")
    for observation in sizer.store.app_history("dw-blog-load", limit=10_000):
        store.record(observation)
    store.remember_signature(outcomes[-1].signature)
    return store_path, outcomes[-1]


def test_explain_at_a_moment_sees_only_the_runs_before_it(explained: tuple[Path, Any]) -> None:
    store_path, last = explained
    at = last.run.started_at.isoformat()
    args = ["explain", last.signature.hash, "--path", str(store_path), "--at", at]

    as_json = CliRunner().invoke(main, [*args, "--format", "json"])
    as_text = CliRunner().invoke(main, args)
    by_key = CliRunner().invoke(
        main, ["explain", last.signature.key, "--path", str(store_path), "--at", at, "--format", "json"]
    )

    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["signature"] == {
        "key": last.signature.key,
        "hash": last.signature.hash,
        "app_name": "dw-blog-load",
    }
    # the store holds the last run itself, yet explain sizes it as the replay did, from earlier runs
    assert report["recommendation"]["pod_memory_mib"] == last.recommendation.pod_memory_mib  # type: ignore[union-attr]
    assert report["basis"] == json.loads(json.dumps(last.basis))
    started = [datetime.fromisoformat(row["started_at"]) for row in report["history"]]
    assert len(started) == 2 and max(started) < last.run.started_at  # the earlier weekly runs only
    assert json.loads(by_key.output)["signature"]["hash"] == last.signature.hash
    assert "level" in as_text.output and "history" in as_text.output


def test_explain_uses_the_tasks_emr_sizing_policy_unless_overridden(
    explained: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path, last = explained
    at = last.run.started_at.isoformat()
    args = ["explain", last.signature.hash, "--path", str(store_path), "--at", at, "--format", "json"]
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__RISK", "0.05")

    configured = json.loads(CliRunner().invoke(main, args).output)
    overridden = json.loads(CliRunner().invoke(main, [*args, "--risk", "0.01"]).output)
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__MIN_SAMPLES", "1000")
    too_few = json.loads(CliRunner().invoke(main, args).output)

    assert (configured["policy"]["risk"], configured["basis"]["risk"]) == (0.05, 0.05)
    assert (overridden["policy"]["risk"], overridden["basis"]["risk"]) == (0.01, 0.01)
    assert too_few["recommendation"] is None and too_few["policy"]["min_samples"] == 1000


def test_explain_applies_a_tasks_bounds(explained: tuple[Path, Any]) -> None:
    store_path, last = explained
    at = last.run.started_at.isoformat()
    args = ["explain", last.signature.hash, "--path", str(store_path), "--at", at, "--format", "json"]
    free = json.loads(CliRunner().invoke(main, args).output)["recommendation"]
    cap = free["executor_memory_mib"] - 512

    bounded = json.loads(CliRunner().invoke(main, [*args, "--max-executor-memory", f"{cap}m"]).output)
    as_text = CliRunner().invoke(main, [*args[:-2], "--max-executor-memory", f"{cap}m"]).output

    assert bounded["recommendation"]["executor_memory_mib"] == cap
    assert bounded["basis"]["clamped"] == ["max_executor_memory"]
    assert bounded["policy"]["bounds"] == {"max_heap_mib": cap}
    assert "bounds     max_executor_memory\n" in as_text


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["--max-executor-memory", "1.5g"], "Invalid value for '--max-executor-memory': '1.5g': fractional"),
        (["--min-executor-cores", "lots"], "Invalid value for '--min-executor-cores': 'lots': not a"),
        (
            ["--min-executor-memory", "4g", "--max-executor-memory", "2g"],
            "Invalid value for '--min-executor-memory': '4g' is above --max-executor-memory ('2g')",
        ),
        (
            ["--min-executor-cores", "3", "--max-executor-cores", "500m"],
            "Invalid value for '--min-executor-cores': '3' is above --max-executor-cores ('500m')",
        ),
        (["--node-memory", "61g"], "Missing option '--node-cores'. node fit needs both --node-memory and"),
        (["--node-cores", "15.5"], "Missing option '--node-memory'. node fit needs both --node-memory and"),
        (["--node-memory", "lots", "--node-cores", "2"], "Invalid value for '--node-memory': 'lots': not a"),
    ],
)
@pytest.mark.parametrize("command", ["explain known", "explain nope-day-1-hour-1-dra-off-exec-1", "backtest"])
def test_bad_bounds_and_node_shapes_name_the_flags_and_the_values_given(
    explained: tuple[Path, Any], history_file: Path, bad: list[str], message: str, command: str
) -> None:
    store_path, last = explained
    name, _, signature = command.partition(" ")
    args = ["backtest", str(history_file)]
    if name == "explain":
        args = [
            "explain",
            last.signature.hash if signature == "known" else signature,
            "--path",
            str(store_path),
        ]

    result = CliRunner().invoke(main, [*args, *bad])

    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "_executor_" not in result.output and "node_" not in result.output  # flags, not fields


def test_explain_refuses_a_templated_bound(explained: tuple[Path, Any]) -> None:
    store_path, last = explained
    args = ["explain", last.signature.hash, "--path", str(store_path)]

    result = CliRunner().invoke(main, [*args, "--max-executor-memory", "{{ var.value.cap }}"])

    assert result.exit_code == 2 and "'--max-executor-memory': a template" in result.output


def test_explain_keeps_store_path_as_an_old_name_of_path(explained: tuple[Path, Any]) -> None:
    store_path, last = explained
    args = ["explain", last.signature.hash, "--format", "json"]

    new = CliRunner().invoke(main, [*args, "--path", str(store_path)])
    old = CliRunner().invoke(main, [*args, "--store-path", str(store_path)])

    assert old.exit_code == 0, old.output
    assert json.loads(old.output)["recommendation"] == json.loads(new.output)["recommendation"]
    assert "--store-path" not in CliRunner().invoke(main, ["explain", "--help"]).output


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["--at", "garbage"], "Invalid value for '--at': 'garbage' is not an ISO-8601 date and time"),
        (["--at", "P1D"], "Invalid value for '--at': 'P1D' is not a date and time"),
        (["--risk", "2"], "Invalid value for '--risk'"),
    ],
)
def test_explain_bad_options_are_usage_errors(
    explained: tuple[Path, Any], bad: list[str], message: str
) -> None:
    store_path, last = explained

    result = CliRunner().invoke(main, ["explain", last.signature.hash, "--path", str(store_path), *bad])

    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert message in result.output


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("RISK", "abc", "Error: [emr_sizing] risk='abc': expected a number"),
        ("MIN_SAMPLES", "x", "Error: [emr_sizing] min_samples='x': expected an integer"),
        (
            "STORE_TIMEOUT",
            "-1",
            "Error: [emr_sizing] store_timeout='-1': expected finite seconds, more than 0",
        ),
        (
            "EVENT_LOG_RETRY_DELAY",
            "-1",
            "Error: [emr_sizing] event_log_retry_delay='-1': expected finite seconds, 0 or more",
        ),
    ],
)
def test_a_bad_setting_is_named_once_as_the_setting(
    explained: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch, setting: str, value: str, message: str
) -> None:
    store_path, last = explained
    monkeypatch.setenv(f"AIRFLOW__EMR_SIZING__{setting}", value)

    result = CliRunner().invoke(main, ["explain", last.signature.hash, "--path", str(store_path)])

    assert result.exit_code == 1 and message in result.output, result.output


def test_explain_of_an_unknown_signature_is_a_clear_error(explained: tuple[Path, Any]) -> None:
    store_path, _ = explained
    result = CliRunner().invoke(
        main, ["explain", "nope-day-1-hour-1-dra-off-exec-1", "--path", str(store_path)]
    )

    assert result.exit_code == 1
    assert "no runs recorded for 'nope-day-1-hour-1-dra-off-exec-1'" in result.output
