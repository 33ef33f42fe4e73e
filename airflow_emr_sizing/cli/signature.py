"""``emr-sizing signature``: the key and label value a run would get, without Airflow."""

from __future__ import annotations

import json

import click

from airflow_emr_sizing.cli._time import parse_moment
from airflow_emr_sizing.exceptions import EmrSizingError

__all__ = ["signature"]


def _conf_pairs(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> dict[str, str]:
    """``--conf KEY=VALUE`` items as a dict; an item without ``=`` is an error, never dropped."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx=ctx, param=param)
        pairs[key] = value
    return pairs


@click.command()
@click.argument("app_name")
@click.option(
    "--at",
    "run_time",
    required=True,
    metavar="TIME",
    help="The run's logical date, ISO-8601. Without an offset it is a wall-clock time in --timezone.",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA timezone (or offset such as +09:00) for day and hour.",
)
@click.option("--holidays", "country", default=None, help="Holiday calendar country code, e.g. KR.")
@click.option("--subdivision", default=None, help="Holiday calendar subdivision.")
@click.option(
    "--conf",
    "conf",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_conf_pairs,
    help="Spark conf of the job (repeatable).",
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def signature(
    app_name: str,
    run_time: str,
    timezone: str,
    country: str | None,
    subdivision: str | None,
    conf: dict[str, str],
    output: str,
) -> None:
    """Print the signature key and hash (pod label value) of APP_NAME's run at --at."""
    from airflow_emr_sizing.cli.holidays import check_calendar_options
    from airflow_emr_sizing.signature import build_signature

    moment = parse_moment(run_time, "--at", timezone)
    check_calendar_options(country, subdivision)
    try:
        result = build_signature(app_name, moment, timezone, conf, country, subdivision)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err
    if output == "json":
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo(f"key  {result.key}\nhash {result.hash}")
