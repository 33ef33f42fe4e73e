"""Airflow sees the package as a provider, with its [emr_sizing] options documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema

from airflow_emr_sizing import __version__
from airflow_emr_sizing.provider_info import get_provider_info
from airflow_emr_sizing.settings import OPTIONS, load_settings


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())

    jsonschema.validate(get_provider_info(), schema)


def test_every_option_is_documented_and_read() -> None:
    documented = get_provider_info()["config"]["emr_sizing"]["options"]

    assert set(documented) == set(OPTIONS)
    assert set(OPTIONS) <= set(load_settings().__dataclass_fields__)


def test_airflow_lists_the_provider(airflow_home: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"},  # Airflow 3.0 logs to stdout
    )

    providers = {p["package_name"]: p for p in json.loads(result.stdout)}
    assert providers["airflow-emr-sizing"]["version"] == __version__


def test_settings_defaults_and_environment_overrides(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    defaults = load_settings()
    assert (defaults.dry_run, defaults.mode, defaults.label_key) == (True, "initial", "emr-sizing-signature")

    monkeypatch.setenv("AIRFLOW__EMR_SIZING__DRY_RUN", "false")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__HOLIDAY_COUNTRY", "KR")
    overridden = load_settings()
    assert (overridden.dry_run, overridden.holiday_country) == (False, "KR")


def test_text_settings_stay_as_written(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Airflow types a section's values: a subdivision "01" (Finland) must not become "1"."""
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__HOLIDAY_SUBDIVISION", "01")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__HOLIDAY_COUNTRY", "T")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__MIN_SAMPLES", "0004")
    settings = load_settings()
    assert (settings.holiday_subdivision, settings.holiday_country) == ("01", "T")
    assert settings.min_samples == 4


def test_environment_settings_count_when_airflow_does_not_know_the_section(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Airflow 3.0's ``getsection`` answers ``None`` for a section no config file names, even when
    ``AIRFLOW__EMR_SIZING__*`` variables set it (as on MWAA, whose options become such variables)."""
    from airflow_emr_sizing.airflow_compat import airflow_conf

    conf = airflow_conf()

    monkeypatch.setattr(conf, "getsection", lambda section: None)
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__DRY_RUN", "f")  # Airflow's own form: its getsection reads it
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__HOLIDAY_SUBDIVISION", "01")
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__MIN_SAMPLES", "")  # blank: the default
    settings = load_settings()
    assert (settings.dry_run, settings.holiday_subdivision, settings.min_samples) == (False, "01", 3)
