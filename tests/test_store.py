"""The store contract, run against the in-memory fake and the embedded SQLite store alike."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_emr_sizing.exceptions import StoreError
from airflow_emr_sizing.signature import build_signature
from airflow_emr_sizing.sql_store import SCHEMA_VERSION, SqlStore
from airflow_emr_sizing.store import InMemoryStore, MetricsStore, Observation, open_store

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def obs(job_id: str, hours: int = 0, signature: str = "s1-aaa", **fields: object) -> Observation:
    return Observation(
        job_id=job_id,
        signature_hash=signature,
        app_name="app",
        started_at=T0 + timedelta(hours=hours),
        **fields,
    )  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mysql", "mariadb", "dynamodb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], MetricsStore]:
    if request.param == "memory":
        shared = InMemoryStore()
        return lambda: shared
    if request.param == "dynamodb":
        from airflow_emr_sizing.dynamodb_store import DynamoDBStore

        table = request.getfixturevalue("dynamodb_table")
        return lambda: DynamoDBStore(table, region_name="us-east-1")
    if request.param in ("postgresql", "mysql", "mariadb"):
        url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
        if request.param == "mariadb":  # the same server through a mariadb:// URL (its own dialect)
            url = url.replace("mysql+", "mariadb+", 1)
        return lambda: SqlStore(url)
    return lambda: SqlStore(f"sqlite:///{tmp_path / 'store.db'}")


def test_history_is_newest_first_bounded_and_per_signature(make_store: Callable[[], MetricsStore]) -> None:
    store = make_store()
    for hour in range(10):
        store.record(obs(f"jr-{hour}", hour, peak_pod_memory_mib=1000 + hour))
    store.record(obs("other", 3, signature="s1-bbb"))

    history = store.history("s1-aaa", limit=4)

    assert [o.job_id for o in history] == ["jr-9", "jr-8", "jr-7", "jr-6"]
    assert history[0].peak_pod_memory_mib == 1009
    assert history[0].started_at == T0 + timedelta(hours=9)
    assert [o.job_id for o in store.history("s1-aaa", since=T0 + timedelta(hours=8))] == ["jr-9", "jr-8"]
    assert [o.job_id for o in store.history("s1-bbb")] == ["other"]


def test_recording_a_run_twice_merges_instead_of_duplicating(make_store: Callable[[], MetricsStore]) -> None:
    store = make_store()
    store.record(obs("jr-1", state="FAILED", oom=True, pod_memory_mib=9011, failure_reason="exit code 137"))
    store.record(obs("jr-1", state="FAILED", oom=False, peak_pod_memory_mib=9100, source="eventlog"))

    (merged,) = store.history("s1-aaa")

    assert merged.oom is True  # OOM evidence is never forgotten by a later, blinder report
    assert merged.pod_memory_mib == 9011  # kept: the later report did not know it
    assert merged.peak_pod_memory_mib == 9100  # filled in by the later report
    assert merged.failure_reason == "exit code 137"
    assert merged.source == "eventlog"


def test_signature_mapping_is_kept_once(make_store: Callable[[], MetricsStore]) -> None:
    store = make_store()
    signature = build_signature("dw-blog-load", T0, "Asia/Seoul", {"spark.executor.instances": "10"})
    store.remember_signature(signature)
    store.remember_signature(signature)

    record = store.lookup_signature(signature.hash)

    assert record is not None
    assert (record.key, record.app_name, record.format_version) == (signature.key, "dw-blog-load", 1)
    assert store.lookup_signature("s1-unknown") is None


def test_every_field_is_read_back_as_it_was_recorded(make_store: Callable[[], MetricsStore]) -> None:
    """Each field set to a value of its own, none a default: a backend that drops or rounds one
    fails here (the recommender learns its margin from the predicted_* fields)."""
    store = make_store()
    recorded = Observation(
        job_id="jr-1",
        signature_hash="s1-aaa",
        app_name="app",
        started_at=datetime(2026, 3, 1, 5, 6, 7, 890123, tzinfo=timezone.utc),
        day_of_week=3,
        hour=5,
        holiday=True,
        resource_spec="dra-off-exec-10",
        state="FAILED",
        oom=True,
        pod_memory_mib=9011,
        heap_mib=8192,
        request_cores=3.75,
        executors=10,
        duration_s=1234.567891,
        peak_pod_memory_mib=9100,
        peak_heap_mib=7000,
        cpu_used_cores_p90=2.123456789,
        failure_reason="exit code 137",
        source="eventlog",
        predicted_peak_mib=8800,
        predicted_level="hour+daytype",
        predicted_drift=-0.0123456789,
    )
    defaults = Observation(job_id="", signature_hash="", app_name="", started_at=T0)
    assert all(
        getattr(recorded, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(Observation)
    )
    store.record(recorded)

    (back,) = store.history("s1-aaa")

    assert back == recorded
    assert store.app_history("app", resource_spec="dra-off-exec-10") == [recorded]


def test_hostile_strings_are_stored_as_data(make_store: Callable[[], MetricsStore]) -> None:
    store = make_store()
    hostile = "x'); DROP TABLE emr_sizing_observations; --\n\"😈" + "y" * 10_000
    store.record(Observation(job_id="jr-'1", signature_hash="s1-aaa", app_name=hostile, started_at=T0))

    (back,) = store.history("s1-aaa")

    assert back.app_name == hostile
    assert back.job_id == "jr-'1"


def test_observation_requires_an_aware_start_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Observation(job_id="j", signature_hash="s", app_name="a", started_at=datetime(2026, 1, 1))


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    SqlStore(f"sqlite:///{path}").record(obs("jr-1"))

    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_sqlite_file_is_read_without_an_engine(tmp_path: Path) -> None:
    from airflow_emr_sizing import sql_store

    url = f"sqlite:///{tmp_path / 'reads.db'}"
    SqlStore(url).record(obs("jr-1"))
    sql_store._engines.pop(url).dispose()  # as in a new task process
    sql_store._schema_ready.discard(url)

    reader = SqlStore(url)
    assert [o.job_id for o in reader.history("s1-aaa")] == ["jr-1"]
    assert url not in sql_store._engines  # opened and read on sqlite3 alone

    SqlStore(url).record(obs("jr-2", 1))  # another writer, after the reader's first read
    assert [o.job_id for o in reader.history("s1-aaa")] == ["jr-2", "jr-1"]
    reader.close()


def test_a_relative_sqlite_path_stays_one_file_when_the_directory_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir(), later.mkdir()
    url = f"sqlite:///relative-{tmp_path.name}.db"  # a process-wide cache key: unique per test
    monkeypatch.chdir(first)
    SqlStore(url).record(obs("jr-1"))

    monkeypatch.chdir(later)  # e.g. dag.test() running another task in the same process
    store = SqlStore(url)
    store.record(obs("jr-2", 1))

    assert [o.job_id for o in store.history("s1-aaa")] == ["jr-2", "jr-1"]
    assert list(later.iterdir()) == []


def test_a_malformed_sqlite_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"cannot open store sqlite://u@h/x\.db: Invalid SQLite URL"):
        SqlStore("sqlite://u@h/x.db")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    SqlStore(f"sqlite:///{path}").record(obs("jr-1"))
    with sqlite3.connect(path) as raw:
        raw.execute(
            "UPDATE emr_sizing_meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )

    from airflow_emr_sizing import sql_store

    sql_store._schema_ready.clear()  # a new worker process would check again
    with pytest.raises(StoreError, match="newer than this package"):
        SqlStore(f"sqlite:///{path}")


def test_corrupt_rows_are_an_error_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    store = SqlStore(f"sqlite:///{path}")
    store.record(obs("jr-1", peak_pod_memory_mib=4000))
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE emr_sizing_observations SET peak_pod_memory_mib = 'lots' WHERE job_id = 'jr-1'")

    with pytest.raises(StoreError, match="corrupt history row for job 'jr-1'"):
        store.history("s1-aaa")


@pytest.mark.parametrize("started_at", ["yesterday", "2026-13-45 25:00:00.000000"])
def test_a_corrupt_start_time_is_an_error(tmp_path: Path, started_at: str) -> None:
    path = tmp_path / "corrupt-time.db"
    store = SqlStore(f"sqlite:///{path}")
    store.record(obs("jr-1"))
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE emr_sizing_observations SET started_at = ? WHERE job_id = 'jr-1'", (started_at,))

    with pytest.raises(StoreError, match="corrupt history row for job 'jr-1': started_at"):
        store.history("s1-aaa")


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("qmark", "a = ? AND b >= ? LIMIT ?"),
        ("format", "a = %s AND b >= %s LIMIT %s"),
        ("numeric", "a = :1 AND b >= :2 LIMIT :3"),
        ("named", "a = :app_key AND b >= :since LIMIT :limit"),
        ("pyformat", "a = %(app_key)s AND b >= %(since)s LIMIT %(limit)s"),
    ],
)
def test_reads_are_written_in_the_drivers_parameter_style(style: str, expected: str) -> None:
    from airflow_emr_sizing import sql_store

    text, names = sql_store._in_paramstyle("a = :app_key AND b >= :since LIMIT :limit", style)
    assert (text, names) == (expected, ("app_key", "since", "limit"))


def test_an_unknown_parameter_style_is_named() -> None:
    from airflow_emr_sizing import sql_store

    with pytest.raises(StoreError, match="parameter style 'quantum'"):
        sql_store._in_paramstyle("a = :b", "quantum")


def test_unreachable_store_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open store"):
        open_store(path=str(tmp_path / "no" / "such" / "dir" / "store.db"))


def test_open_store_needs_a_location() -> None:
    with pytest.raises(StoreError, match="no store configured"):
        open_store(conn_id=None, path=None)


def _write_many(path: str, writer: int, count: int) -> None:
    store = SqlStore(f"sqlite:///{path}")
    for i in range(count):
        store.record(obs(f"w{writer}-{i}", i, peak_pod_memory_mib=i))


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "concurrent.db")
    SqlStore(f"sqlite:///{path}")  # create the schema once
    writers, each = 4, 100
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(path, w, each)) for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    count, distinct = (
        sqlite3.connect(path)
        .execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM emr_sizing_observations")
        .fetchone()
    )
    assert (count, distinct) == (writers * each, writers * each)


def test_table_columns_follow_the_observation_fields() -> None:
    """Rows are unpacked positionally into Observation on the hot path."""
    import dataclasses

    from airflow_emr_sizing.sql_store import _FIELDS, observations

    assert [c.name for c in _FIELDS] == [f.name for f in dataclasses.fields(Observation)]
    assert list(observations.columns)[: len(_FIELDS)] == _FIELDS


def test_prune_keeps_the_newest_runs_of_each_signature_and_drops_old_ones(
    make_store: Callable[[], MetricsStore],
) -> None:
    from airflow_emr_sizing.retention import RetentionPolicy, prune

    store = make_store()
    for hour in range(10):
        store.record(obs(f"a-{hour}", hour))
        store.record(obs(f"b-{hour}", hour, signature="s1-bbb"))
    now = T0 + timedelta(hours=9, minutes=30)

    assert prune(store, RetentionPolicy(keep_last=4), now=now, dry_run=True) == 12
    assert len(store.history("s1-aaa")) == 10  # a dry run deletes nothing
    assert prune(store, RetentionPolicy(keep_last=4), now=now) == 12
    assert [o.job_id for o in store.history("s1-aaa")] == ["a-9", "a-8", "a-7", "a-6"]
    assert [o.job_id for o in store.history("s1-bbb")] == ["b-9", "b-8", "b-7", "b-6"]

    # runs that started more than 2 hours before `now` go; the cap no longer bites
    assert prune(store, RetentionPolicy(keep_last=4, max_age_days=2 / 24), now=now) == 2 * 2
    assert [o.job_id for o in store.history("s1-aaa")] == ["a-9", "a-8"]
    assert prune(store, RetentionPolicy(), now=now) == 0


def test_app_history_pools_an_apps_signatures_and_filters_by_resource_spec(
    make_store: Callable[[], MetricsStore],
) -> None:
    store = make_store()
    long_name = 'ü\'"\n{job=~".*"} ; DROP TABLE x; --' + "".join(chr(0x4E00 + i % 500) for i in range(3_500))
    for app in ("app", long_name):
        for hour in range(6):
            spec = "dra-off-exec-10" if hour % 2 else "dra-on-min-1-max-" + "9" * 5000
            store.record(
                Observation(
                    f"{len(app)}-{hour}",
                    f"s1-{hour % 3}",
                    app,
                    T0 + timedelta(hours=hour),
                    resource_spec=spec,
                )
            )

    for app in ("app", long_name):
        assert [o.job_id for o in store.app_history(app, limit=4)] == [
            f"{len(app)}-{h}" for h in (5, 4, 3, 2)
        ]
        odd = store.app_history(app, resource_spec="dra-off-exec-10")
        assert [o.job_id for o in odd] == [f"{len(app)}-{h}" for h in (5, 3, 1)]
        assert {o.app_name for o in odd} == {app}
        since = store.app_history(
            app, resource_spec="dra-on-min-1-max-" + "9" * 5000, since=T0 + timedelta(hours=1)
        )
        assert [o.job_id for o in since] == [f"{len(app)}-{h}" for h in (4, 2)]
    assert store.app_history("ap") == []
