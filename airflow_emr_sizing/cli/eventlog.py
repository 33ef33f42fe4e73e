"""``emr-sizing eventlog``: what one Spark application's executors really used, from its event log."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

__all__ = ["eventlog"]


@click.command()
@click.argument("path")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--aws-conn-id",
    default=None,
    help="Airflow connection for s3:// paths; default: boto3's own credential chain.",
)
def eventlog(path: str, output: str, aws_conn_id: str | None) -> None:
    """Read the event log at PATH (file, eventlog_v2_* folder, or a folder with one; local or s3://).

    A log cut short or still being written prints what could be read, with warnings; input holding
    no Spark listener events at all is an error.
    """
    from airflow_emr_sizing.eventlog import read_event_log
    from airflow_emr_sizing.exceptions import EventLogError

    try:
        with contextlib.redirect_stdout(sys.stderr):  # Airflow's hooks log to stdout: keep it JSON
            summary = read_event_log(path, aws_conn_id=aws_conn_id)
    except EventLogError as err:
        raise click.ClickException(str(err)) from err
    if not summary.events:  # a markdown file, an empty one, random bytes: no answer, not a zero one
        raise click.ClickException(f"no Spark listener events in {path}: not a Spark event log")
    result = summary.to_json()
    if output == "json":
        click.echo(json.dumps(result))
        return
    click.echo(_text(result))


def _text(result: dict[str, Any]) -> str:
    def show(value: Any, unit: str = "") -> str:
        return "unknown" if value is None else f"{value}{unit}"

    lines = [
        f"application    {show(result['app_id'])}  {show(result['app_name'])}  "
        f"(Spark {show(result['spark_version'])})",
        f"ran            {show(result['started_at'])} for {show(result['duration_s'], ' s')}"
        + ("  [in progress]" if result["in_progress"] else ""),
        f"executors      {result['executors']} at once ({result['executors_added']} added)"
        + ("  [a local-mode run, or a log cut short]" if not result["executors_added"] else ""),
        f"peak pod mem   {show(result['peak_pod_memory_mib'], ' MiB')}"
        + (f"  ({result['memory_basis']})" if result["memory_basis"] else ""),
        f"peak heap      {show(result['peak_heap_mib'], ' MiB')}",
        f"cpu p90        {show(result['cpu_used_cores_p90'], ' cores')} per executor-minute "
        f"({result['cpu_time_s']} CPU s of executors over {result['tasks']} tasks"
        + (f", {result['failed_tasks']} failed" if result.get("failed_tasks") else "")
        + ")",
        f"oom            {'YES' if result['oom'] else 'no'}",
    ]
    lines += [f"  evidence     {text}" for text in result["oom_evidence"]]
    lines += [f"conf           {key}={value}" for key, value in result["spark_conf"].items()]
    lines += [f"warning        {text}" for text in result["warnings"]]
    return "\n".join(lines)
