"""The SQL metrics store on SQLAlchemy Core: SQLite (the embedded default), PostgreSQL and MySQL.

SQLite runs in WAL mode with a busy timeout, so the task processes of one machine can read while
one writes; PostgreSQL (or MySQL) serves many workers. A signature's history is an index range scan
on ``(signature_hash, started_at)`` and is always bounded (most recent N, none before a date). The
schema carries a version and upgrades itself in ordered steps (:data:`MIGRATIONS`); a database
written by a newer version of this package is refused rather than misread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine, make_url  # make_url: not at the top level in SQLAlchemy 1.4

from airflow_emr_sizing.exceptions import StoreError
from airflow_emr_sizing.store import Observation, SignatureRecord, utc

if TYPE_CHECKING:
    from airflow_emr_sizing.signature import Signature

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "SqlStore", "sql_url", "url_from_connection"]

_BUSY_TIMEOUT_MS = 5_000
#: Timestamps with microseconds everywhere (MySQL's DATETIME drops them unless asked).
_Timestamp = (
    sa.DateTime(timezone=True)
    .with_variant(mysql.DATETIME(fsp=6), "mysql")
    .with_variant(mysql.DATETIME(fsp=6), "mariadb")  # a mariadb:// URL's dialect
)

metadata = sa.MetaData()
meta_table = sa.Table(
    "emr_sizing_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)
signatures = sa.Table(
    "emr_sizing_signatures",
    metadata,
    sa.Column("hash", sa.String(63), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("app_name", sa.Text, nullable=False),
    sa.Column("format_version", sa.Integer, nullable=False),
    sa.Column("first_seen", _Timestamp, nullable=False),
)
#: 8-byte floats everywhere: MySQL's plain FLOAT is 4 bytes (sa.Double would need SQLAlchemy 2,
#: and Airflow 3.0 runs on 1.4).
_DOUBLE = sa.Float(precision=53)
observations = sa.Table(
    "emr_sizing_observations",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("signature_hash", sa.String(63), nullable=False),
    sa.Column("app_name", sa.Text, nullable=False),
    sa.Column("started_at", _Timestamp, nullable=False),
    sa.Column("day_of_week", sa.SmallInteger),
    sa.Column("hour", sa.SmallInteger),
    sa.Column("holiday", sa.Boolean),
    sa.Column("resource_spec", sa.Text),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("oom", sa.Boolean, nullable=False),
    sa.Column("pod_memory_mib", sa.Integer),
    sa.Column("heap_mib", sa.Integer),
    sa.Column("request_cores", _DOUBLE),
    sa.Column("executors", sa.Integer),
    sa.Column("duration_s", _DOUBLE),
    sa.Column("peak_pod_memory_mib", sa.Integer),
    sa.Column("peak_heap_mib", sa.Integer),
    sa.Column("cpu_used_cores_p90", _DOUBLE),
    sa.Column("failure_reason", sa.Text),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("predicted_peak_mib", sa.Integer),
    sa.Column("predicted_level", sa.String(32)),
    sa.Column("predicted_drift", _DOUBLE),
    # Digests of app_name and resource_spec, for the indexes: the names themselves are free text
    # of any length, and a B-tree entry is not (PostgreSQL refuses entries over ~2.7 kB).
    sa.Column("app_key", sa.String(32), nullable=False),
    sa.Column("spec_key", sa.String(32)),
    # newest-first history is a pure index range scan, tie-breaker included
    sa.Index("ix_emr_sizing_obs_signature_time", "signature_hash", "started_at", "job_id"),
    sa.Index("ix_emr_sizing_obs_app_time", "app_key", "started_at", "job_id"),
    sa.Index("ix_emr_sizing_obs_app_spec_time", "app_key", "spec_key", "started_at", "job_id"),
)
#: The columns an Observation is read from, in its fields' order (rows are unpacked by position).
_FIELDS = [c for c in observations.columns if c.name not in ("app_key", "spec_key")]
_MERGED = [c.name for c in observations.columns if c.name not in ("job_id", "oom")]


@dataclass(frozen=True)
class Migration:
    """One upgrade step of the schema: from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _double_precision_floats(conn: sa.Connection) -> None:
    # MySQL's FLOAT was 4 bytes (0.0123456789 came back as 0.0123457); elsewhere it was 8 already
    if _family(conn.dialect.name) == "mysql":
        doubles = [c.name for c in observations.columns if isinstance(c.type, sa.Float)]
        conn.execute(
            sa.text(f"ALTER TABLE {observations.name} " + ", ".join(f"MODIFY {c} DOUBLE" for c in doubles))
        )


#: The schema's versions after the first, in order. A fresh database is created whole at
#: :data:`SCHEMA_VERSION`; an older one gets every step above its version, in one transaction
#: (PostgreSQL and SQLite roll DDL back; MySQL commits DDL as it goes) under a schema lock.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "float columns in double precision on MySQL", _double_precision_floats),
)
#: The schema above is this version: the first was 1, and each step of :data:`MIGRATIONS` adds one.
SCHEMA_VERSION = max([1, *(m.version for m in MIGRATIONS)])

_engines: dict[str, Engine] = {}
_schema_ready: set[str] = set()
_engines_lock = threading.Lock()
#: Idle SQLite reader connections per URL, for the process's later stores: like an engine's pool,
#: they keep their page cache. Each is in one store's hands at a time (a timed-out read keeps its
#: own until it ends).
_idle_readers: dict[str, list[sqlite3.Connection]] = {}


def _shared_engine(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def _create_engine(url: str) -> Engine:
    # future=True: SQLAlchemy 2's connections (commit() included) on 1.4 too, which Airflow 3.0 pins
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, future=True, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(
            engine, "connect", lambda dbapi_connection, _record: _sqlite_pragmas(dbapi_connection)
        )
        return engine
    return sa.create_engine(url, future=True, pool_pre_ping=True, pool_size=2, max_overflow=2)


def _sqlite_pragmas(dbapi_connection: Any) -> None:
    """WAL with a busy timeout: the task processes of one machine read while one writes."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@functools.cache
def _sqlite_dialect() -> sa.Dialect:
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    return SQLiteDialect_pysqlite()


@functools.cache
def _sqlite_file_args(url_text: str) -> tuple[list[Any], dict[str, Any]] | None:
    """``sqlite3.connect`` arguments for a SQLite *file* database (``None`` for anything else).

    Kept per URL, like engines: a relative path resolves once per process, so a later change of
    directory cannot point the readers at another file than the engine's.
    """
    url = make_url(url_text)
    if url.get_backend_name() != "sqlite" or url.get_driver_name() != "pysqlite":
        return None
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        return None  # each connection would be its own database: only the engine's pool shares one
    args, kwargs = _sqlite_dialect().create_connect_args(url)
    # autocommit: each read sees the latest commit, and no transaction is held open between them;
    # a reader is used by one store at a time, but an idle one is picked up by the next store opened,
    # which may be on another thread (each bounded lookup or write runs on a thread of its own)
    return list(args), {
        **kwargs,
        "timeout": _BUSY_TIMEOUT_MS / 1000,
        "isolation_level": None,
        "check_same_thread": False,  # SQLAlchemy 2's dialect says so itself, 1.4's does not
    }


def _idle_reader(url: str) -> sqlite3.Connection | None:
    try:
        return _idle_readers.get(url, []).pop()
    except IndexError:
        return None


def _sqlite_connect(connect_args: tuple[list[Any], dict[str, Any]]) -> sqlite3.Connection:
    args, kwargs = connect_args
    connection: sqlite3.Connection = sqlite3.connect(*args, **kwargs)
    _sqlite_pragmas(connection)
    return connection


class SqlStore:
    """A :class:`~airflow_emr_sizing.store.MetricsStore` on any SQLAlchemy database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = make_url(url).render_as_string(hide_password=True)
        self._sqlite_reader: sqlite3.Connection | None = None
        try:
            #: A SQLite file is read through ``sqlite3`` itself: a submission makes two reads, and
            #: building an engine and its pool for them costs more than the reads (the engine is
            #: built on first write, after the submission).
            self._sqlite_args = _sqlite_file_args(url)
            if self._sqlite_args is None:
                self._engine  # noqa: B018 - a cached property: connect errors surface here
            if url not in _schema_ready:
                self._ensure_schema()
                _schema_ready.add(url)
        except Exception as err:
            self._discard_reader()  # not handed back: the file may be the trouble
            if isinstance(err, StoreError):
                raise
            raise StoreError(f"cannot open store {self.description}: {_brief(err)}") from err

    @functools.cached_property
    def _engine(self) -> Engine:
        try:
            return _shared_engine(self.url)
        except Exception as err:
            raise StoreError(f"cannot open store {self.description}: {_brief(err)}") from err

    def _reader(self) -> contextlib.AbstractContextManager[Any]:
        """A DB-API connection for one read: this store's own for a SQLite file, else a pooled one."""
        if self._sqlite_args is not None:
            if self._sqlite_reader is None:
                self._sqlite_reader = _idle_reader(self.url) or _sqlite_connect(self._sqlite_args)
            return contextlib.nullcontext(self._sqlite_reader)
        return self._pooled_reader()

    def _fetch(self, sql: str, parameters: Any = ()) -> list[Any]:
        """The rows of one statement as the driver's own SQL, on its own cursor: compiling the
        statement and building result metadata would cost more than the read."""
        with self._reader() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    def _discard_reader(self) -> None:
        if self._sqlite_reader is not None:
            self._sqlite_reader.close()
            self._sqlite_reader = None

    @contextlib.contextmanager
    def _pooled_reader(self) -> Iterator[Any]:
        # one statement: no transaction to open and roll back (two round trips on a server)
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn.connection

    def _ensure_schema(self) -> None:
        version = self._stored_version()
        if version == SCHEMA_VERSION:
            return  # the common case: one indexed read, no DDL checks
        self._check_not_newer(version)
        with self._engine.connect() as conn, _schema_transaction(conn):
            version = _schema_version(conn)  # again: another process may have been first
            self._check_not_newer(version)
            if version is None:
                metadata.create_all(conn)
                conn.execute(meta_table.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
                return
            for step in sorted(MIGRATIONS, key=lambda m: m.version):
                if version < step.version <= SCHEMA_VERSION:
                    step.apply(conn)
                    version = step.version
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.description}: no upgrade path to schema version {SCHEMA_VERSION}"
                )
            conn.execute(
                meta_table.update().where(meta_table.c.name == "schema_version").values(value=str(version))
            )

    def _stored_version(self) -> int | None:
        """The stored schema version, or ``None`` when it cannot be read (fresh database, or not).

        The cheap first look of every task process's first open: a single read, no inspection.
        Any trouble here is left to the full check, which reports it.
        """
        try:
            rows = self._fetch(_SCHEMA_VERSION_SQL)
            return int(rows[0][0]) if rows else None
        except Exception:  # the driver's own errors, unwrapped: no table yet, no server, ...
            return None

    def _check_not_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.description} has schema version {version}, newer than this "
                f"package understands ({SCHEMA_VERSION}); upgrade airflow-emr-sizing"
            )

    def record(self, observation: Observation) -> None:
        values = _row_of(observation)
        try:
            with self._engine.begin() as conn:
                conn.execute(_upsert(_family(self._engine.dialect.name)), values)
        except Exception as err:
            raise StoreError(
                f"cannot record job {observation.job_id} in {self.description}: {_brief(err)}"
            ) from err

    def history(
        self, signature_hash: str, *, limit: int = 500, since: datetime | None = None
    ) -> list[Observation]:
        return self._read("signature", {"signature_hash": signature_hash}, limit, since)

    def app_history(
        self,
        app_name: str,
        *,
        resource_spec: str | None = None,
        limit: int = 500,
        since: datetime | None = None,
    ) -> list[Observation]:
        values = {"app_key": _digest(app_name), "app_name": app_name}
        if resource_spec is None:
            return self._read("app", values, limit, since)
        values |= {"spec_key": _digest(resource_spec), "resource_spec": resource_spec}
        return self._read("app+spec", values, limit, since)

    def _read(
        self, kind: str, values: dict[str, Any], limit: int, since: datetime | None
    ) -> list[Observation]:
        try:
            reads = _driver_reads(_sqlite_dialect() if self._sqlite_args else self._engine.dialect)
            sql, names = reads.sql[kind, since is not None]
            given = {**values, "limit": limit}
            if since is not None:
                given["since"] = reads.bind_time(utc(since)) if reads.bind_time else utc(since)
            parameters = tuple(given[n] for n in names) if reads.positional else given
            rows = self._fetch(sql, parameters)
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(f"cannot read history from {self.description}: {_brief(err)}") from err
        return [_observation_of(row, reads.result_time) for row in rows]

    def prune(self, *, keep_last: int | None, older_than: datetime | None, dry_run: bool = False) -> int:
        """Delete (or count) runs beyond the ``keep_last`` newest of their signature or older than a date."""
        doomed = []
        if older_than is not None:
            doomed.append(observations.c.started_at < utc(older_than))
        if keep_last is not None:
            rank = (
                sa.func.row_number()
                .over(
                    partition_by=observations.c.signature_hash,
                    order_by=(observations.c.started_at.desc(), observations.c.job_id.desc()),
                )
                .label("rank")
            )
            ranked = sa.select(observations.c.job_id, rank).subquery("ranked")
            # one more derived table: MySQL cannot delete from a table it selects from directly
            beyond = sa.select(ranked.c.job_id).where(ranked.c.rank > keep_last).subquery("beyond")
            doomed.append(observations.c.job_id.in_(sa.select(beyond.c.job_id)))
        if not doomed:
            return 0
        condition = sa.or_(*doomed)
        try:
            with self._engine.begin() as conn:
                if dry_run:
                    count = sa.select(sa.func.count()).select_from(observations).where(condition)
                    return int(conn.execute(count).scalar_one())
                return int(conn.execute(observations.delete().where(condition)).rowcount)
        except Exception as err:
            raise StoreError(f"cannot prune {self.description}: {_brief(err)}") from err

    def remember_signature(self, signature: Signature) -> None:
        values = {
            "hash": signature.hash,
            "key": signature.key,
            "app_name": signature.app_name,
            "format_version": signature.format_version,
            "first_seen": datetime.now(timezone.utc),
        }
        dialect = _family(self._engine.dialect.name)
        insert = _dialect_insert(dialect)(signatures).values(values)
        statement = (
            insert.prefix_with("IGNORE")
            if dialect == "mysql"
            else insert.on_conflict_do_nothing(index_elements=["hash"])
        )
        try:
            with self._engine.begin() as conn:
                conn.execute(statement)
        except Exception as err:
            raise StoreError(f"cannot record signature in {self.description}: {_brief(err)}") from err

    def lookup_signature(self, signature_hash: str) -> SignatureRecord | None:
        query = sa.select(signatures).where(signatures.c.hash == signature_hash)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        except Exception as err:
            raise StoreError(f"cannot read signatures from {self.description}: {_brief(err)}") from err
        if row is None:
            return None
        return SignatureRecord(row["hash"], row["key"], row["app_name"], row["format_version"])

    def close(self) -> None:
        """Hands the SQLite reader back; like engines, it is kept for the process's later tasks."""
        if self._sqlite_reader is not None:
            _idle_readers.setdefault(self.url, []).append(self._sqlite_reader)
            self._sqlite_reader = None


def _schema_version(conn: sa.Connection) -> int | None:
    """The stored schema version, or ``None`` on a fresh database."""
    if not sa.inspect(conn).has_table(meta_table.name):
        return None
    row = conn.exec_driver_sql(_SCHEMA_VERSION_SQL).first()
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError as err:
        raise StoreError(f"unreadable schema version {row[0]!r}") from err


@contextlib.contextmanager
def _schema_transaction(conn: sa.Connection) -> Iterator[None]:
    """One transaction holding the schema lock, so processes create or upgrade the schema in turn."""
    if _family(conn.dialect.name) == "mysql":
        # a session lock, taken before the transaction: InnoDB's snapshot then already shows
        # what the previous holder committed; released explicitly (the connection is pooled)
        taken = conn.execute(sa.text("SELECT GET_LOCK('emr_sizing_schema', 60)")).scalar()
        conn.commit()
        if taken != 1:
            raise StoreError("another process has held the schema lock for 60 s (an upgrade?)")
        try:
            with conn.begin():
                yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK('emr_sizing_schema')"))
            conn.commit()
        return
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the database's write lock, taken now
        yield


#: An arbitrary constant naming this package's advisory lock in PostgreSQL.
_SCHEMA_LOCK_KEY = 0x656D_7273_697A_65


_WHERE = {
    "signature": "signature_hash = :signature_hash",
    "app": "app_key = :app_key AND app_name = :app_name",
    "app+spec": "app_key = :app_key AND app_name = :app_name AND spec_key = :spec_key "
    "AND resource_spec = :resource_spec",
}
_PLACEHOLDER = re.compile(r":([a-z_]+)")


@dataclass(frozen=True)
class _DriverReads:
    """The history reads as the database driver's own SQL, with the only conversion they need.

    Every task process reads history once on a new engine, where compiling a statement of two
    dozen typed columns costs more than the read itself. The SQL goes to the driver as written;
    only the timestamp goes through SQLAlchemy's own conversion for the dialect (SQLite keeps it
    as text); :func:`_observation_of` checks and converts the rest.
    """

    sql: dict[tuple[str, bool], tuple[str, tuple[str, ...]]]
    positional: bool
    bind_time: Callable[[Any], Any] | None
    result_time: Callable[[Any], Any] | None


@functools.cache
def _driver_reads(dialect: sa.Dialect) -> _DriverReads:
    style = dialect.paramstyle
    columns = ", ".join(c.name for c in _FIELDS)
    sql = {}
    for kind, where in _WHERE.items():
        for since in (False, True):
            bound = " AND started_at >= :since" if since else ""
            text = (
                f"SELECT {columns} FROM {observations.name} WHERE {where}{bound} "
                "ORDER BY started_at DESC, job_id DESC LIMIT :limit"
            )
            sql[kind, since] = _in_paramstyle(text, style)
    time_type = observations.c.started_at.type.dialect_impl(dialect)
    return _DriverReads(
        sql=sql,
        positional=style in ("qmark", "format", "numeric"),
        bind_time=time_type.bind_processor(dialect),
        result_time=time_type.result_processor(dialect, None),
    )


#: A placeholder in each DB-API parameter style.
_PARAMSTYLES = {
    "qmark": "?",
    "format": "%s",
    "numeric": ":{index}",
    "named": ":{name}",
    "pyformat": "%({name})s",
}


def _in_paramstyle(text: str, style: str) -> tuple[str, tuple[str, ...]]:
    """``text`` with its ``:name`` placeholders in a DB-API parameter style, and their names in order."""
    if style not in _PARAMSTYLES:
        raise StoreError(f"unsupported database driver parameter style {style!r}")
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return _PARAMSTYLES[style].format(name=match.group(1), index=len(names))

    return _PLACEHOLDER.sub(placeholder, text), tuple(names)


_SCHEMA_VERSION_SQL = f"SELECT value FROM {meta_table.name} WHERE name = 'schema_version'"


def _family(dialect: str) -> str:
    """MariaDB speaks MySQL's SQL (SQLAlchemy names it apart for a ``mariadb://`` URL)."""
    return "mysql" if dialect == "mariadb" else dialect


def _dialect_insert(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    inserts = {"sqlite": sqlite.insert, "postgresql": postgresql.insert, "mysql": mysql.insert}
    if dialect not in inserts:
        raise StoreError(f"unsupported database dialect {dialect!r} (sqlite, postgresql, mysql)")
    return inserts[dialect]


@functools.cache
def _upsert(dialect: str) -> Any:
    """Insert, or merge into the existing row: known new values win, ``oom`` is sticky.

    Built once per dialect (building it costs more than running it); the row comes as parameters.
    """
    insert = _dialect_insert(dialect)(observations)
    if dialect == "mysql":
        new = insert.inserted
        return insert.on_duplicate_key_update(**_merge_from(new))
    return insert.on_conflict_do_update(index_elements=["job_id"], set_=_merge_from(insert.excluded))


def _merge_from(new: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {name: sa.func.coalesce(new[name], observations.c[name]) for name in _MERGED}
    merged["oom"] = sa.or_(observations.c.oom, new.oom)
    return merged


def _row_of(observation: Observation) -> dict[str, Any]:
    spec = observation.resource_spec
    return {
        **dataclasses.asdict(observation),
        "started_at": utc(observation.started_at),
        "app_key": _digest(observation.app_name),
        "spec_key": None if spec is None else _digest(spec),
    }


def _brief(err: BaseException) -> str:
    """The first line of a database error: SQLAlchemy appends the SQL and a documentation link."""
    return str(err).split("\n", 1)[0]


def _digest(text: str) -> str:
    """A short fixed-size stand-in for free text in an index (128 bits of SHA-256, hex)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _observation_of(row: Any, decode_time: Callable[[Any], Any] | None = None) -> Observation:
    """Rebuild an observation, refusing rows whose values cannot be what we wrote.

    Runs for every history row on the submit path, so it unpacks and checks the row directly
    (the column order is the table's).
    """
    (
        job_id,
        signature_hash,
        app_name,
        started_at,
        day,
        hour,
        holiday,
        spec,
        state,
        oom,
        *sizes,
        reason,
        source,
        predicted,
        predicted_level,
        predicted_drift,
    ) = row
    pod, heap, request_cores, executors, duration, peak, peak_heap, cpu = sizes
    if decode_time is not None and started_at is not None:
        try:
            started_at = decode_time(started_at)
        except (TypeError, ValueError) as err:
            raise StoreError(f"corrupt history row for job {job_id!r}: started_at={started_at!r}") from err
    if not isinstance(started_at, datetime):
        raise StoreError(f"corrupt history row for job {job_id!r}: started_at={started_at!r}")
    for value in (pod, heap, executors, peak, peak_heap, predicted):
        if value is not None and (type(value) is not int or value < 0):
            raise StoreError(f"corrupt history row for job {job_id!r}: {value!r} where a size belongs")
    for value in (request_cores, duration, cpu, predicted_drift):
        if value is not None and type(value) is not float and type(value) is not int:
            raise StoreError(f"corrupt history row for job {job_id!r}: {value!r} where a number belongs")
    return Observation(
        job_id,
        signature_hash,
        app_name,
        started_at if started_at.tzinfo else started_at.replace(tzinfo=timezone.utc),
        day,
        hour,
        None if holiday is None else bool(holiday),
        spec,
        state,
        bool(oom),
        pod,
        heap,
        request_cores,
        executors,
        duration,
        peak,
        peak_heap,
        cpu,
        reason,
        source,
        predicted,
        predicted_level,
        predicted_drift,
    )


def url_from_connection(conn_id: str) -> str:
    """A SQLAlchemy URL from the Airflow connection ``conn_id``; see :func:`sql_url`."""
    from airflow_emr_sizing.airflow_compat import get_connection

    return sql_url(get_connection(conn_id))


#: PostgreSQL's driver: psycopg 3 has a SQLAlchemy dialect from SQLAlchemy 2 on; on 1.4 (which
#: Airflow 3.0 pins) it is psycopg2, which Airflow's postgres provider installs.
POSTGRES_DRIVER = "postgresql+psycopg" if int(sa.__version__.split(".")[0]) >= 2 else "postgresql+psycopg2"

#: SQLAlchemy drivers for the Airflow connection types this store understands.
_DRIVERS = {"postgres": POSTGRES_DRIVER, "postgresql": POSTGRES_DRIVER, "mysql": "mysql+pymysql"}


def sql_url(conn: Any) -> str:
    """A SQLAlchemy URL from an Airflow connection: ``sqlite`` (the file path), ``postgres``, ``mysql``.

    ``extra`` may carry ``{"sqlalchemy_url": ...}`` for anything else SQLAlchemy can reach.
    PostgreSQL needs the ``postgres`` extra of this package (psycopg 3), or with SQLAlchemy 1.4
    ``psycopg2-binary``; MySQL the ``mysql`` extra.
    """
    extra = conn.extra_dejson
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        # the file is the host when typed in the UI, the path when given as a URI (sqlite:////a/b.db)
        path = conn.host or conn.schema
        if not path or path == ":memory:":
            raise StoreError(
                f"connection {conn.conn_id!r} names no SQLite file (host, or the path of its URI): "
                "an in-memory store would forget every run"
            )
        return f"sqlite:///{path}"
    if conn.conn_type in _DRIVERS:
        url = sa.engine.URL.create(
            _DRIVERS[conn.conn_type],
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
        return url.render_as_string(hide_password=False)
    raise StoreError(
        f"connection {conn.conn_id!r} has type {conn.conn_type!r}; use sqlite, postgres, mysql or aws"
    )
