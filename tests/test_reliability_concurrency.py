"""Many task processes writing one store at once: no observation lost, none duplicated.

16 writer processes each record 500 runs, and record each one twice — the outcome first, then
the event-log evidence of the same job — as the operator and a collector do. Afterwards every run
is there exactly once, with the fields of both reports merged.
"""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.slow, pytest.mark.integration]

WRITERS, EACH = 16, 500
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _write(url: str, writer: int, start: Any, failures: Any) -> None:
    from airflow_emr_sizing.sql_store import SqlStore
    from airflow_emr_sizing.store import Observation

    store = SqlStore(url)
    start.wait(60)
    for i in range(EACH):
        common = {"job_id": f"w{writer:02d}-{i:03d}", "signature_hash": f"s1-{i % 7}", "app_name": "app"}
        started = T0 + timedelta(minutes=i, seconds=writer)
        try:
            store.record(
                Observation(**common, started_at=started, state="FAILED", oom=i % 5 == 0, pod_memory_mib=4096)
            )
            store.record(
                Observation(**common, started_at=started, peak_pod_memory_mib=1000 + i, source="eventlog")
            )
        except Exception:
            with failures.get_lock():
                failures.value += 1


def hammer(url: str) -> int:
    from airflow_emr_sizing.sql_store import SqlStore

    SqlStore(url)  # the schema exists before the race (its own creation race is tested elsewhere)
    context = multiprocessing.get_context("spawn")
    start, failures = context.Event(), context.Value("i", 0)
    processes = [context.Process(target=_write, args=(url, w, start, failures)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(600)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    return int(failures.value)


def check(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows, distinct, merged, ooms = conn.execute(
            sa.text(
                "SELECT COUNT(*), COUNT(DISTINCT job_id), "
                "SUM(CASE WHEN pod_memory_mib = 4096 AND peak_pod_memory_mib >= 1000 "
                "AND source = 'eventlog' THEN 1 ELSE 0 END), SUM(CASE WHEN oom THEN 1 ELSE 0 END) "
                "FROM emr_sizing_observations"
            )
        ).one()
    assert (rows, distinct) == (WRITERS * EACH, WRITERS * EACH)  # none lost, none duplicated
    assert merged == WRITERS * EACH  # both reports of every run are in its one row
    assert ooms == WRITERS * EACH // 5  # the OOM flag survived the later report without it


def test_sqlite_wal_under_16_writer_processes(tmp_path: Path, proved: Any) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"

    assert hammer(url) == 0
    check(url)
    proved(
        f"SQLite WAL: {WRITERS} writers x {EACH} observations (each recorded twice), none lost or duplicated",
        WRITERS * EACH,
    )


def test_postgresql_under_16_writer_processes(postgres_url: str, proved: Any) -> None:
    assert hammer(postgres_url) == 0
    check(postgres_url)
    proved(
        f"PostgreSQL: {WRITERS} writers x {EACH} observations (each recorded twice), none lost or duplicated",
        WRITERS * EACH,
    )
