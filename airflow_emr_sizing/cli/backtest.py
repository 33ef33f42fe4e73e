"""``emr-sizing backtest``: what sizing would have done on a run history (contracts/backtest.md)."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, TYPE_CHECKING, Any

import click

from airflow_emr_sizing.cli._policy import policy_json, policy_options

if TYPE_CHECKING:
    from airflow_emr_sizing.recommender import Bounds, Policy

__all__ = ["backtest"]


@click.command()
@click.argument("history", type=click.File("r"))
@click.option(
    "--timezone", default="UTC", show_default=True, help="IANA timezone of the signatures' day and hour."
)
@click.option("--holidays", "country", default=None, help="Holiday calendar country code, e.g. KR.")
@click.option("--subdivision", default=None, help="Holiday calendar subdivision.")
@click.option("--output", type=click.File("w"), default=None, help="Write one JSON object per run here.")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--skip-invalid", is_flag=True, help="Count and skip malformed lines instead of failing.")
@policy_options
def backtest(
    history: IO[str],
    timezone: str,
    country: str | None,
    subdivision: str | None,
    output: IO[str] | None,
    output_format: str,
    skip_invalid: bool,
    policy: Policy,
    bounds: Bounds,
) -> None:
    """Replay HISTORY (JSON Lines, one job run per line) through the recommender, oldest first.

    Each run is sized from the runs that started before it only; a run sized below its
    peak_pod_memory_mib counts as under-provisioned and teaches the recommender an OOM at that
    size, not its true peak.

    The policy is the tasks' own ([emr_sizing] risk, min_samples, node_memory, node_cores; the
    defaults without an Airflow configuration), as in explain; the options override it as a task's
    arguments would. Give a task's bounds to replay that task as it is configured.
    """
    from airflow_emr_sizing.backtest import StoreSizer, parse_history, replay, summarize
    from airflow_emr_sizing.cli.holidays import check_calendar_options
    from airflow_emr_sizing.exceptions import EmrSizingError

    check_calendar_options(country, subdivision)
    started = time.perf_counter()
    try:
        runs, invalid = parse_history(history, skip_invalid=skip_invalid)
        sizer = StoreSizer(policy, bounds)
        outcomes = []
        for outcome in replay(runs, sizer, timezone, country, subdivision):
            if output is not None:
                output.write(json.dumps(outcome.to_json()) + "\n")
            outcomes.append(outcome)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err
    summary = summarize(outcomes)
    elapsed = time.perf_counter() - started
    summary["invalid_lines"] = invalid
    summary["policy"] = policy_json(policy, bounds)
    summary["runs_per_second"] = round(len(runs) / elapsed, 1) if elapsed > 0 else None
    if output_format == "json":
        click.echo(json.dumps(summary))
    else:
        click.echo(_text(summary))
    if invalid:
        click.echo(f"skipped {invalid} invalid line(s)", err=True)


def _text(summary: dict[str, Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['runs']} runs, {summary['recommended_runs']} sized")
    for column in ("app", "runs", "configured / need", "configured OOMs", "sized / need", "under-provisioned",
                   "savings"):  # fmt: skip
        table.add_column(column, justify="left" if column == "app" else "right")
    rows = [*summary["by_app"].items(), ("all", summary)]
    for app, part in rows:
        table.add_row(
            app,
            str(part["runs"]),
            _ratio(part["configured"]["ratio_to_need"]),
            str(part["configured"]["oom_runs"]),
            _ratio(part["sized"]["ratio_to_need"]),
            f"{part['sized']['under_provisioned_runs']} ({part['sized']['under_provisioned_pct']:.2f}%)",
            f"{part['savings_pct']:.1f}%",
        )
    console = Console(file=sys.stdout, width=120, record=True)
    with console.capture() as capture:
        console.print(table)
        console.print(
            f"requested {summary['sized']['requested_pod_gib_hours']:,.0f} GiB·h instead of "
            f"{summary['configured']['requested_pod_gib_hours']:,.0f}; executors needed "
            f"{summary['need']['used_pod_gib_hours']:,.0f}  ({summary['runs_per_second']} runs/s)"
        )
        console.print(_policy(summary["policy"]), markup=False, highlight=False)
    return capture.get().rstrip()


def _policy(policy: dict[str, Any]) -> str:
    node = policy["node"]
    fit = f"{node['allocatable_memory_mib']} MiB / {node['allocatable_cores']:g} cores" if node else "none"
    bounds = ", ".join(f"{name} {value:g}" for name, value in policy["bounds"].items()) or "none"
    return (
        f"policy: risk {policy['risk']:g}, min_samples {policy['min_samples']}, node {fit}, bounds {bounds}"
    )


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
