"""``emr-sizing signature``: the key and label value a run would get, without Airflow."""

from __future__ import annotations

import json

import click

from airflow_emr_sizing.exceptions import EmrSizingError

__all__ = ["signature"]


@click.command()
@click.argument("app_name")
@click.option("--at", "run_time", required=True, help="The run's logical date, ISO-8601 with offset.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone for day and hour.")
@click.option("--holidays", "country", default=None, help="Holiday calendar country code, e.g. KR.")
@click.option("--subdivision", default=None, help="Holiday calendar subdivision.")
@click.option(
    "--conf", "conf", multiple=True, metavar="KEY=VALUE", help="Spark conf of the job (repeatable)."
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def signature(
    app_name: str,
    run_time: str,
    timezone: str,
    country: str | None,
    subdivision: str | None,
    conf: tuple[str, ...],
    output: str,
) -> None:
    """Print the signature key and hash (pod label value) of APP_NAME's run at --at."""
    import pendulum

    from airflow_emr_sizing.signature import build_signature

    pairs = dict(item.partition("=")[::2] for item in conf)
    try:
        moment = pendulum.parse(run_time)
        result = build_signature(app_name, moment, timezone, pairs, country, subdivision)  # type: ignore[arg-type]
    except (EmrSizingError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    if output == "json":
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo(f"key  {result.key}\nhash {result.hash}")
