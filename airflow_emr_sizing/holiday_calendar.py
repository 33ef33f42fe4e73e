"""Public holidays, cheap enough to ask on every submission.

The ``holidays`` library costs a task process ~150-250 ms (its first calendar imports every
country's module), and every Airflow task runs in a fresh process. So the holiday
dates of each (library version, country, subdivision, year) are kept in a small JSON file the
first process writes and later ones read. A cache that cannot be written only costs speed.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import json
import os
import re
import uuid
from datetime import date
from pathlib import Path

from airflow_emr_sizing.exceptions import SizingConfigError

__all__ = ["cache_dir", "cache_file", "check_holiday_code", "holiday_dates", "is_holiday"]

_CODE = re.compile(r"[A-Za-z0-9_-]{1,16}")


def is_holiday(day: date, country: str | None, subdivision: str | None = None) -> bool:
    """Whether ``day`` is a public holiday; always false without a country."""
    if not country:
        return False
    return day in holiday_dates(country, subdivision or None, day.year)


def check_holiday_code(name: str, code: object) -> str:
    """A country code, or a subdivision's code or name (any case: ``kr`` is ``KR``), as far as it
    can be checked without the ``holidays`` library, which only the first use of the calendar loads.

    A subdivision may be one of the library's names for it (``New York``, ``Baden-Württemberg``),
    so it may hold any printable text that is safe in the cache file's name.
    """
    if name.endswith("subdivision"):
        if not (isinstance(code, str) and _is_subdivision_text(code)):
            raise SizingConfigError(name, code, "not a subdivision code or name")
    elif not isinstance(code, str) or not _CODE.fullmatch(code):
        raise SizingConfigError(name, code, "not an ISO country code such as KR")
    return code


def _is_subdivision_text(text: str) -> bool:
    return (
        0 < len(text) <= 64
        and text.isprintable()
        and text == text.strip()
        and not text.startswith(".")
        and "/" not in text
        and "\\" not in text
    )


@functools.lru_cache(maxsize=256)
def holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The holidays of one year; unknown country or subdivision is an error naming the argument."""
    country = check_holiday_code("holiday_country", country).upper()
    if subdivision is not None:
        check_holiday_code("holiday_subdivision", subdivision)
    path = cache_file(country, subdivision, year)
    try:
        return frozenset(date.fromisoformat(day) for day in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    dates = _compute(country, subdivision, year)
    _write(path, sorted(day.isoformat() for day in dates))
    return dates


def cache_file(country: str, subdivision: str | None, year: int) -> Path:
    """Where one year's dates are kept; the name identifies the installed ``holidays`` library."""
    name = f"holidays-{_library_version()}-{country.upper()}-{subdivision or '_'}-{year}.json"
    return cache_dir() / name


def cache_dir() -> Path:
    """``$AIRFLOW_EMR_SIZING_CACHE_DIR``, else ``$XDG_CACHE_HOME/airflow-emr-sizing`` (~/.cache)."""
    explicit = os.environ.get("AIRFLOW_EMR_SIZING_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "airflow-emr-sizing"


def _compute(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    import holidays

    try:
        return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))
    except NotImplementedError as err:
        if not (subdivision and "subdivision" in str(err)):
            raise SizingConfigError("holiday_country", country, f"unknown; {_country_hint(country)}") from err
    # the library knows its own spellings only (and a few more, such as deprecated codes)
    own = _subdivision_of(holidays.country_holidays(country), subdivision)  # no year: nothing computed
    return frozenset(holidays.country_holidays(country, subdiv=own, years=year))


def _country_hint(given: str) -> str:
    """The closest of python-holidays' countries, by code or name (``Korea``: ``KR``)."""
    try:
        from holidays.registry import COUNTRIES

        names = {entry[1]: module.replace("_", " ").title() for module, entry in COUNTRIES.items()}
    except Exception:  # the registry is the library's own business
        return "not one of python-holidays' countries"
    by_text = {text.casefold(): code for code, name in names.items() for text in (code, name)}
    close = dict.fromkeys(by_text[text] for text in difflib.get_close_matches(given.casefold(), by_text, n=3))
    if not close:
        return "not one of python-holidays' countries"
    return "did you mean " + " or ".join(f"{code} ({names[code]})" for code in close) + "?"


def _subdivision_of(calendar: object, given: str) -> str:
    """The calendar's own spelling of a subdivision or alias the library refused as given, in any
    case (``ca`` is ``CA``), as country codes are."""
    codes: list[str] = list(getattr(calendar, "subdivisions", ()))
    # codes last: a code wins over an alias spelt alike in another case
    known: dict[str, str] = {
        name.casefold(): name for name in (*getattr(calendar, "subdivisions_aliases", ()), *codes)
    }
    if given.casefold() in known:
        return known[given.casefold()]
    if not codes:
        raise SizingConfigError("holiday_subdivision", given, "unknown: this country has no subdivisions")
    close = [known[name] for name in difflib.get_close_matches(given.casefold(), known, n=3)]
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    listed = ", ".join(codes[:12]) + (f", ... ({len(codes)} in all)" if len(codes) > 12 else "")
    raise SizingConfigError("holiday_subdivision", given, f"unknown; {hint}its codes: {listed}")


def _library_version() -> str:
    """Identifies the installed ``holidays`` release without importing it (which takes ~65 ms).

    The size and mtime of its ``__init__.py`` change whenever another release is installed.
    """
    spec = importlib.util.find_spec("holidays")
    try:
        stat = os.stat(spec.origin) if spec and spec.origin else None
    except OSError:
        stat = None
    return f"{stat.st_size}.{int(stat.st_mtime)}" if stat else "unknown"


def _write(path: Path, days: list[str]) -> None:
    """Write ``path`` whole or not at all, with the mode ``open()`` gives new files (the umask's),
    so that workers running as other users can read a cache filled in an image or shared volume."""
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "x") as handle:
            json.dump(days, handle)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
