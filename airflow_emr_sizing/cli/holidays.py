"""``emr-sizing holidays``: fill the holiday cache ahead of the tasks, and show what it holds.

A task process whose cache is empty pays ~150-250 ms for the ``holidays`` library (it imports
every country). Where each task is a new pod (KubernetesExecutor), running this in the worker
image's build (or an init container on a shared cache volume) takes that cost off every task.
"""

from __future__ import annotations

import json
from datetime import date

import click

from airflow_emr_sizing.exceptions import EmrSizingError

__all__ = ["check_calendar_options", "holidays"]

_FLAGS = {"holiday_country": "--holidays", "holiday_subdivision": "--subdivision"}


def check_calendar_options(
    country: str | None, subdivision: str | None, *, flags: dict[str, str] = _FLAGS, year: int | None = None
) -> None:
    """Refuse what a task would refuse of its holiday calendar, as a usage error naming the flag
    (checked on ``year``'s calendar, this year's by default)."""
    from airflow_emr_sizing.exceptions import SizingConfigError
    from airflow_emr_sizing.holiday_calendar import holiday_dates

    if subdivision and not country:
        raise click.UsageError(
            f"{flags['holiday_subdivision']} needs {flags['holiday_country']}, its country"
        )
    if not country:
        return
    try:
        holiday_dates(country, subdivision or None, year or date.today().year)
    except SizingConfigError as err:
        flag = flags.get(err.field)
        if flag is None:
            raise click.ClickException(str(err)) from err
        raise click.BadParameter(f"{err.value!r}: {err.problem}", param_hint=f"'{flag}'") from err


@click.command()
@click.option("--country", required=True, help="Holiday calendar country code, e.g. KR.")
@click.option("--subdivision", default=None, help="Holiday calendar subdivision, e.g. TX.")
@click.option(
    "--year",
    "years",
    type=click.IntRange(1, 9999),
    multiple=True,
    help="Year to cache (repeatable). Default: this year and the next.",
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def holidays(country: str, subdivision: str | None, years: tuple[int, ...], output: str) -> None:
    """Compute COUNTRY's holidays for each --year into the cache and print them.

    The cache is $AIRFLOW_EMR_SIZING_CACHE_DIR (default ~/.cache/airflow-emr-sizing); task
    processes reading it never import the holidays library.
    """
    from airflow_emr_sizing.holiday_calendar import cache_file, holiday_dates

    this_year = date.today().year
    years = years or (this_year, this_year + 1)
    flags = {"holiday_country": "--country", "holiday_subdivision": "--subdivision"}
    check_calendar_options(country, subdivision, flags=flags, year=years[0])
    cached: dict[int, tuple[list[str], str | None]] = {}
    for year in years:
        try:
            dates = sorted(holiday_dates(country, subdivision or None, year))
        except EmrSizingError as err:
            raise click.ClickException(str(err)) from err
        path = cache_file(country, subdivision or None, year)
        cached[year] = [day.isoformat() for day in dates], str(path) if path.exists() else None
    if output == "json":
        by_year = {year: {"dates": days, "cache": where} for year, (days, where) in cached.items()}
        click.echo(json.dumps({"country": country, "subdivision": subdivision, "years": by_year}))
        return
    calendar = f"{country}-{subdivision}" if subdivision else country
    for year, (days, where) in cached.items():
        click.echo(
            f"{calendar} {year}: {len(days)} holidays, {where or 'not cached: the directory is not writable'}"
        )
