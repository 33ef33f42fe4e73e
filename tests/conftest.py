"""Shared fixtures. Airflow is pointed at a private home *before* anything imports it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_emr_sizing.testing import isolated_airflow

_HOME = Path(tempfile.mkdtemp(prefix="emr-sizing-tests-"))
_DAGS = _HOME / "dags"
isolated_airflow(_HOME, _DAGS)
os.environ["AIRFLOW_EMR_SIZING_CACHE_DIR"] = str(_HOME / "cache")
shutil.copytree(Path(__file__).parent / "dags", _DAGS, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """A migrated metadata DB (needed by dag.test)."""
    from airflow_emr_sizing.testing import migrate_metadata_db

    migrate_metadata_db()
    return airflow_home


@pytest.fixture(scope="session")
def dags(airflow_db: Path) -> Any:
    """The DAG file the integration tests run (``tests/dags/sized_emr.py``), imported once."""
    import importlib.util

    path = airflow_db / "dags" / "sized_emr.py"
    spec = importlib.util.spec_from_file_location("sized_emr", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def moto_emr() -> Iterator[Any]:
    from airflow_emr_sizing.testing import MotoEmrContainers

    server = MotoEmrContainers().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def virtual_cluster_id(moto_emr: Any) -> str:
    return str(moto_emr.create_virtual_cluster())


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded store for this test, set as ``[emr_sizing] store_path``."""
    path = tmp_path / "emr_sizing.db"
    monkeypatch.setenv("AIRFLOW__EMR_SIZING__STORE_PATH", str(path))
    return path


class RecordingTaskInstance:
    """Stands in for the task instance when a test calls ``execute()`` directly (no task runner)."""

    task_id = "sized"
    map_index = -1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


@pytest.fixture
def task_context() -> dict[str, Any]:
    import pendulum

    return {
        "ti": RecordingTaskInstance(),
        "logical_date": pendulum.datetime(2026, 3, 6, 14, tz="Asia/Seoul"),
    }
