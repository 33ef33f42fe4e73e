"""What only the SQL store does: schema versions and upgrades, dialects, index use, connections."""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_emr_sizing import sql_store
from airflow_emr_sizing.exceptions import StoreError
from airflow_emr_sizing.sql_store import (
    POSTGRES_DRIVER,
    Migration,
    SqlStore,
    observations,
    url_from_connection,
)
from airflow_emr_sizing.store import Observation

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param in ("postgresql", "mysql"):
        return str(request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url"))
    return f"sqlite:///{tmp_path / 'store.db'}"


def stored_version(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(sql_store._SCHEMA_VERSION_SQL).scalar_one())


def as_version_1(url: str) -> None:
    """Turn a store made by this package back into what version 1 made (its floats were FLOAT)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        if conn.dialect.name in ("mysql", "mariadb"):
            conn.execute(sa.text("ALTER TABLE emr_sizing_observations MODIFY predicted_drift FLOAT"))
        conn.execute(sa.text("UPDATE emr_sizing_meta SET value = '1' WHERE name = 'schema_version'"))
    sql_store._schema_ready.clear()  # as a new worker process would see it


def test_a_version_1_store_keeps_its_floats_exact_once_upgraded(url: str) -> None:
    SqlStore(url)
    as_version_1(url)

    store = SqlStore(url)
    store.record(
        Observation("jr-1", "s1-aaa", "app", T0, predicted_drift=-0.0123456789, duration_s=1234.56789)
    )

    assert stored_version(url) == sql_store.SCHEMA_VERSION == 2
    ((drift, duration),) = [(o.predicted_drift, o.duration_s) for o in store.history("s1-aaa")]
    assert (drift, duration) == (-0.0123456789, 1234.56789)


def test_an_old_database_is_upgraded_step_by_step(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    SqlStore(url).record(Observation("jr-1", "s1-aaa", "app", T0, peak_pod_memory_mib=3000))
    as_version_1(url)

    def add_notes(conn: sa.Connection) -> None:  # what a real v2 step looks like
        conn.execute(sa.text("ALTER TABLE emr_sizing_observations ADD COLUMN notes TEXT"))

    def add_index(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE INDEX ix_emr_sizing_test_notes ON emr_sizing_observations (state)"))

    steps = (
        *sql_store.MIGRATIONS,
        Migration(4, "index the state", add_index),
        Migration(3, "notes", add_notes),
    )
    monkeypatch.setattr(sql_store, "MIGRATIONS", steps)
    monkeypatch.setattr(sql_store, "SCHEMA_VERSION", 4)

    store = SqlStore(url)

    assert stored_version(url) == 4
    inspector = sa.inspect(sa.create_engine(url, poolclass=sa.pool.NullPool))
    assert "notes" in {c["name"] for c in inspector.get_columns("emr_sizing_observations")}
    assert "ix_emr_sizing_test_notes" in {i["name"] for i in inspector.get_indexes("emr_sizing_observations")}
    assert [o.peak_pod_memory_mib for o in store.history("s1-aaa")] == [3000]  # data kept


def test_a_failing_upgrade_leaves_the_database_as_it_was(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if url.startswith("mysql"):
        pytest.skip("MySQL commits each DDL statement: an upgrade step is not rolled back there")
    SqlStore(url)

    def add_then_fail(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE emr_sizing_observations ADD COLUMN notes TEXT"))
        raise RuntimeError("disk full")

    version = sql_store.SCHEMA_VERSION
    monkeypatch.setattr(sql_store, "MIGRATIONS", (Migration(version + 1, "breaks", add_then_fail),))
    monkeypatch.setattr(sql_store, "SCHEMA_VERSION", version + 1)
    sql_store._schema_ready.clear()

    with pytest.raises(StoreError, match="disk full"):
        SqlStore(url)

    assert stored_version(url) == version
    inspector = sa.inspect(sa.create_engine(url, poolclass=sa.pool.NullPool))
    assert "notes" not in {c["name"] for c in inspector.get_columns("emr_sizing_observations")}


def test_a_newer_schema_is_refused_with_both_versions(url: str) -> None:
    SqlStore(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE emr_sizing_meta SET value = '7' WHERE name = 'schema_version'"))
    sql_store._schema_ready.clear()

    with pytest.raises(StoreError, match=r"schema version 7, newer than this package understands \(2\)"):
        SqlStore(url)


def _open(url: str) -> None:
    SqlStore(url).record(Observation(f"jr-{multiprocessing.current_process().pid}", "s1-aaa", "app", T0))


def test_processes_opening_a_fresh_database_at_once_create_the_schema_once(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_open, args=(url,)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * 6
    assert len(SqlStore(url).history("s1-aaa")) == 6
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM emr_sizing_meta")).scalar_one() == 1


def test_postgres_history_is_an_index_range_scan(postgres_url: str) -> None:
    """EXPLAIN on real PostgreSQL: the bounded newest-first read of a signature with a long history
    walks its index backwards and stops after ``limit`` rows: no table scan, no sort."""
    store = SqlStore(postgres_url)
    rows = [
        {
            # a quarter of the rows are s1-007's; the rest are spread over 199 other signatures
            **sql_store._row_of(
                Observation(f"jr-{i}", "s1-007" if i % 4 == 0 else f"s1-{i % 199 + 8:03d}", "app", T0)
            ),
            "started_at": T0 + timedelta(minutes=i),
        }
        for i in range(20_000)
    ]
    with store._engine.begin() as conn:
        conn.execute(observations.insert(), rows)
        conn.execute(sa.text("ANALYZE emr_sizing_observations"))
    query = (
        sa.select(*sql_store._FIELDS)
        .where(observations.c.signature_hash == "s1-007", observations.c.started_at >= T0)
        .order_by(observations.c.started_at.desc(), observations.c.job_id.desc())
        .limit(100)
    )
    compiled = query.compile(store._engine)  # bound, as the store sends it (1.4 cannot inline a datetime)

    with store._engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()

    text = json.dumps(plan)
    assert "ix_emr_sizing_obs_signature_time" in text
    assert '"Node Type": "Index Scan"' in text and '"Scan Direction": "Backward"' in text
    assert "Sort" not in text and "Seq Scan" not in text
    assert len(store.history("s1-007", limit=100, since=T0)) == 100


@pytest.mark.parametrize(
    ("conn_type", "fields", "expected"),
    [
        ("postgres", {"host": "db", "port": 5432, "login": "u", "password": "p@ss", "schema": "sizing"},
         f"{POSTGRES_DRIVER}://u:p%40ss@db:5432/sizing"),
        ("mysql", {"host": "db", "login": "u", "schema": "sizing"}, "mysql+pymysql://u@db/sizing"),
        ("sqlite", {"host": "/data/store.db"}, "sqlite:////data/store.db"),
        ("http", {"extra": {"sqlalchemy_url": "sqlite:///x.db"}}, "sqlite:///x.db"),
    ],
)  # fmt: skip
def test_url_from_an_airflow_connection(
    conn_type: str, fields: dict[str, Any], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_STORE", json.dumps({"conn_type": conn_type, **fields}))

    assert url_from_connection("sizing_store") == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("sqlite:////data/store.db", "sqlite:////data/store.db"), ("sqlite:///store.db", "sqlite:///store.db")],
)
def test_a_sqlite_connection_given_as_a_uri_names_its_file(
    uri: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow puts a URI's path in ``schema``; the host is then empty."""
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_STORE", uri)

    assert url_from_connection("sizing_store") == expected


@pytest.mark.parametrize("fields", [{}, {"host": ":memory:"}])
def test_a_sqlite_connection_without_a_file_is_refused(
    fields: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An in-memory store would silently forget every run at the end of the task."""
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_STORE", json.dumps({"conn_type": "sqlite", **fields}))

    with pytest.raises(StoreError, match="'sizing_store' names no SQLite file"):
        url_from_connection("sizing_store")


def test_an_unsupported_connection_type_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SIZING_STORE", json.dumps({"conn_type": "ftp", "host": "x"}))

    with pytest.raises(StoreError, match="'sizing_store' has type 'ftp'"):
        url_from_connection("sizing_store")
