"""Reading a moment given on the command line (``--at``)."""

from __future__ import annotations

from datetime import datetime

import click

__all__ = ["parse_moment"]


def parse_moment(value: str, option: str, zone: str = "UTC") -> datetime:
    """``value`` (ISO-8601) as an aware datetime; a time without an offset is read in ``zone``.

    Anything else (a typo, a date that does not exist, a duration) is a usage error naming
    ``option``, never a traceback or a silent guess.
    """
    import pendulum

    from airflow_emr_sizing.exceptions import SizingConfigError
    from airflow_emr_sizing.signature import zone_of

    try:
        tz = zone_of(zone)  # as the operator reads it: an IANA name or a fixed offset
    except SizingConfigError as err:
        raise click.BadParameter(err.problem, param_hint="'--timezone'") from err
    try:
        moment = pendulum.parse(value, tz=tz)
    except ValueError as err:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 date and time ({err})", param_hint=f"'{option}'"
        ) from err
    if isinstance(moment, pendulum.DateTime):
        return moment
    raise click.BadParameter(f"{value!r} is not a date and time", param_hint=f"'{option}'")  # e.g. a duration
