"""Holiday dates: right, cached across processes, and never a reason to fail a submission."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from airflow_emr_sizing import holiday_calendar
from airflow_emr_sizing.exceptions import SizingConfigError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_EMR_SIZING_CACHE_DIR", str(tmp_path / "cache"))
    holiday_calendar.holiday_dates.cache_clear()
    yield tmp_path / "cache"
    holiday_calendar.holiday_dates.cache_clear()


def test_korean_holidays_including_lunar_ones(cache: Path) -> None:
    assert holiday_calendar.is_holiday(date(2026, 9, 25), "KR")  # Chuseok
    assert holiday_calendar.is_holiday(date(2026, 2, 17), "KR")  # Seollal
    assert not holiday_calendar.is_holiday(date(2026, 9, 23), "KR")
    assert not holiday_calendar.is_holiday(date(2026, 9, 25), None)


def test_subdivision_holidays(cache: Path) -> None:
    # Texas Independence Day is a state holiday only
    assert holiday_calendar.is_holiday(date(2026, 3, 2), "US", "TX")
    assert not holiday_calendar.is_holiday(date(2026, 3, 2), "US")


def test_a_later_process_reads_the_cache_without_importing_holidays(cache: Path) -> None:
    assert holiday_calendar.is_holiday(date(2026, 9, 25), "KR")
    assert len(list(cache.glob("holidays-*-KR-_-2026.json"))) == 1

    probe = (
        "import sys, datetime; from airflow_emr_sizing.holiday_calendar import is_holiday; "
        "print(is_holiday(datetime.date(2026, 9, 25), 'KR'), 'holidays' in sys.modules)"
    )
    env = {"AIRFLOW_EMR_SIZING_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.stdout.split() == ["True", "False"], result.stderr


def test_cache_files_are_readable_by_the_users_the_umask_lets_read(cache: Path) -> None:
    """`emr-sizing holidays` fills a cache in an image or shared volume; workers may be other users."""
    previous = os.umask(0o022)
    try:
        holiday_calendar.is_holiday(date(2026, 9, 25), "KR")
    finally:
        os.umask(previous)

    (path,) = cache.glob("holidays-*-KR-_-2026.json")
    assert path.stat().st_mode & 0o777 == 0o644
    assert not list(cache.glob("*.tmp"))


def test_a_corrupt_cache_file_is_recomputed(cache: Path) -> None:
    holiday_calendar.is_holiday(date(2026, 1, 1), "KR")
    (path,) = cache.glob("holidays-*-KR-_-2026.json")
    path.write_text("{not json")
    holiday_calendar.holiday_dates.cache_clear()

    assert holiday_calendar.is_holiday(date(2026, 9, 25), "KR")


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("AIRFLOW_EMR_SIZING_CACHE_DIR", str(blocker / "cache"))  # a dir under a file
    holiday_calendar.holiday_dates.cache_clear()

    assert holiday_calendar.is_holiday(date(2026, 9, 25), "KR")


@pytest.mark.parametrize(
    ("country", "subdivision", "field"),
    [
        ("XX", None, "holiday_country"),
        ("../../etc", None, "holiday_country"),
        ("US", "ZZ", "holiday_subdivision"),
    ],
)
def test_unknown_calendars_name_the_argument(
    cache: Path, country: str, subdivision: str | None, field: str
) -> None:
    with pytest.raises(SizingConfigError, match=field):
        holiday_calendar.is_holiday(date(2026, 1, 1), country, subdivision)


def test_a_country_code_in_any_case_is_the_same_calendar() -> None:
    from datetime import date

    from airflow_emr_sizing.holiday_calendar import is_holiday

    assert is_holiday(date(2026, 1, 1), "kr") and is_holiday(date(2026, 1, 1), "KR")
    assert not is_holiday(date(2026, 1, 2), "kr")


def _library_names(country: str, *names: str) -> None:
    """Skip unless the installed ``holidays`` knows these subdivision names: which it knows is its
    data, grown release by release (at the floor, 0.50, few countries' have names: Australia's do)."""
    import holidays

    known = getattr(holidays.country_holidays(country), "subdivisions_aliases", {})
    missing = [name for name in names if name not in known]
    if missing:
        pytest.skip(f"holidays {holidays.__version__} has no {country} subdivision named {missing}")


def test_a_subdivision_in_any_case_is_the_calendars_own(cache: Path) -> None:
    # holidays itself knows only its spelling: "tx" used to fail as an unknown subdivision
    assert holiday_calendar.holiday_dates("US", "tx", 2026) == holiday_calendar.holiday_dates(
        "US", "TX", 2026
    )
    assert holiday_calendar.is_holiday(date(2026, 3, 2), "us", "tx")
    # names too, in any case (Queensland is one of Australia's in every holidays allowed)
    assert holiday_calendar.holiday_dates("AU", "queensland", 2026) == holiday_calendar.holiday_dates(
        "AU", "QLD", 2026
    )
    with pytest.raises(SizingConfigError, match=r"holiday_subdivision.*did you mean Queensland\?.*ACT, NSW"):
        holiday_calendar.is_holiday(date(2026, 1, 1), "AU", "Queensladn")
    with pytest.raises(SizingConfigError, match=r"holiday_subdivision.*has no subdivisions"):
        holiday_calendar.is_holiday(date(2026, 1, 1), "KR", "11")


def test_a_subdivision_by_its_name_with_spaces(cache: Path) -> None:
    assert holiday_calendar.holiday_dates("AU", "new south wales", 2026) == holiday_calendar.holiday_dates(
        "AU", "NSW", 2026
    )
    # names that are no file name in the cache folder are refused before the library is asked
    for bad in ("a/b", "..", ".hidden", " TX", "tab\there", r"back\slash", "x" * 65, ""):
        with pytest.raises(SizingConfigError, match="holiday_subdivision"):
            holiday_calendar.check_holiday_code("holiday_subdivision", bad)


def test_names_of_newer_calendars_with_accents_in_any_case(cache: Path) -> None:
    _library_names("US", "Texas", "New York")
    _library_names("DE", "Baden-Württemberg")
    _library_names("FR", "Alsace")
    assert holiday_calendar.is_holiday(date(2026, 3, 2), "US", "texas")
    assert holiday_calendar.is_holiday(date(2026, 2, 12), "US", "new york")  # Lincoln's Birthday
    assert not holiday_calendar.is_holiday(date(2026, 2, 12), "US")
    assert holiday_calendar.holiday_dates("DE", "Baden-Württemberg", 2026) == holiday_calendar.holiday_dates(
        "DE", "BW", 2026
    )
    assert holiday_calendar.holiday_dates("FR", "alsace", 2026) == holiday_calendar.holiday_dates(
        "FR", "Alsace", 2026
    )
    with pytest.raises(SizingConfigError, match=r"holiday_subdivision.*did you mean Texas\?.*AK, AL"):
        holiday_calendar.is_holiday(date(2026, 1, 1), "US", "Texsa")


def test_subdivisions_the_library_takes_as_written_still_work(cache: Path) -> None:
    import holidays

    # beyond its codes and names: a deprecated code (GB's UK), a parent country's (Puerto Rico's TX)
    taken = []
    for country, subdivision in (("GB", "UK"), ("PR", "TX")):
        with contextlib.suppress(NotImplementedError):  # PR's TX came in holidays 0.80
            holidays.country_holidays(country, subdiv=subdivision)
            taken.append((country, subdivision))
    assert ("GB", "UK") in taken  # in every holidays allowed
    for country, subdivision in taken:
        assert holiday_calendar.holiday_dates(country, subdivision, 2026)
