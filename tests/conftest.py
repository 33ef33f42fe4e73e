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
    server.create_bucket("dw-emr-logs")  # the team's log bucket, there before any run
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


# -- throwaway database servers, and the reliability report -----------------------------------------

_PROOFS = pytest.StashKey[dict[str, int]]()


def _server(find: Any, make: Any, package: str) -> Iterator[Any]:
    """A throwaway server from the machine's binaries; CI fails loudly without them."""
    if find() is None:
        message = f"{package} server binaries not found (apt-get install {package}; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: required in CI", pytrace=False)
        pytest.skip(message)
    server = make().start_server()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    from airflow_emr_sizing.testing_postgres import ThrowawayPostgres, find_postgres_bin

    yield from _server(find_postgres_bin, ThrowawayPostgres, "postgresql")


@pytest.fixture
def postgres_url(postgres: Any, request: pytest.FixtureRequest) -> str:
    """A new empty database on the session's server, for this test only."""
    name = f"t{abs(hash(request.node.nodeid)) % 10**12}_{os.getpid()}"
    return str(postgres.create_database(name))


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Any]:
    """MariaDB: the MySQL dialect's test server."""
    from airflow_emr_sizing.testing_mysql import ThrowawayMariaDB, find_mariadb

    yield from _server(find_mariadb, ThrowawayMariaDB, "mariadb-server")


@pytest.fixture
def mysql_url(mariadb: Any, request: pytest.FixtureRequest) -> str:
    """A new empty MySQL database for this test only."""
    return str(mariadb.create_database(f"t{abs(hash(request.node.nodeid)) % 10**12}_{os.getpid()}"))


@pytest.fixture
def proved(request: pytest.FixtureRequest) -> Any:
    """``proved("what was shown", n)``: add ``n`` to a count printed at the end of the run."""
    proofs = request.config.stash.setdefault(_PROOFS, {})

    def add(what: str, count: int = 1) -> None:
        proofs[what] = proofs.get(what, 0) + count

    return add


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    proofs = config.stash.get(_PROOFS, {})
    if proofs:
        terminalreporter.section("reliability: what this run proved")
        for what, count in proofs.items():
            terminalreporter.write_line(f"{count:>10,}  {what}")


@pytest.fixture
def dynamodb_table(moto_emr: Any, request: pytest.FixtureRequest) -> str:
    """A table name of its own for this test, on the session's moto server (created on first use)."""
    return f"emr-sizing-{abs(hash(request.node.nodeid)) % 10**12}"
