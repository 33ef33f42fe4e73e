"""The SQL metrics store on SQLAlchemy Core: SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, so the task processes of one machine can read while
one writes. A signature's history is an index range scan on ``(signature_hash, started_at)`` and is
always bounded (most recent N). The schema carries a version; a database written by a newer
version of this package is refused rather than misread.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_emr_sizing.exceptions import StoreError
from airflow_emr_sizing.store import Observation, SignatureRecord, utc

if TYPE_CHECKING:
    from airflow_emr_sizing.signature import Signature

__all__ = ["SCHEMA_VERSION", "SqlStore", "url_from_connection"]

SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 5_000

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
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
)
observations = sa.Table(
    "emr_sizing_observations",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("signature_hash", sa.String(63), nullable=False),
    sa.Column("app_name", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("day_of_week", sa.SmallInteger),
    sa.Column("hour", sa.SmallInteger),
    sa.Column("holiday", sa.Boolean),
    sa.Column("resource_spec", sa.String(128)),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("oom", sa.Boolean, nullable=False),
    sa.Column("pod_memory_mib", sa.Integer),
    sa.Column("heap_mib", sa.Integer),
    sa.Column("request_cores", sa.Float),
    sa.Column("executors", sa.Integer),
    sa.Column("duration_s", sa.Float),
    sa.Column("peak_pod_memory_mib", sa.Integer),
    sa.Column("peak_heap_mib", sa.Integer),
    sa.Column("cpu_used_cores_p90", sa.Float),
    sa.Column("failure_reason", sa.Text),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("predicted_peak_mib", sa.Integer),
    sa.Column("predicted_level", sa.String(32)),
    sa.Column("predicted_drift", sa.Float),
    # newest-first history is a pure index range scan, tie-breaker included
    sa.Index("ix_emr_sizing_obs_signature_time", "signature_hash", "started_at", "job_id"),
    sa.Index("ix_emr_sizing_obs_app_time", "app_name", "started_at"),
    sa.Index("ix_emr_sizing_obs_app_spec_time", "app_name", "resource_spec", "started_at"),
)
_MERGED = [c.name for c in observations.columns if c.name not in ("job_id", "oom")]

_engines: dict[str, Engine] = {}
_schema_ready: set[str] = set()
_engines_lock = threading.Lock()


def _engine(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


class SqlStore:
    """A :class:`~airflow_emr_sizing.store.MetricsStore` on any SQLAlchemy database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = sa.make_url(url).render_as_string(hide_password=True)
        try:
            self._engine = _engine(url)
            if url not in _schema_ready:
                self._ensure_schema()
                _schema_ready.add(url)
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(f"cannot open store {self.description}: {err}") from err

    def _ensure_schema(self) -> None:
        with self._engine.begin() as conn:
            row = _schema_version(conn)
            if row is not None and int(row.value) == SCHEMA_VERSION:
                return  # the common case: one indexed read, no DDL checks
            metadata.create_all(conn)
            row = _schema_version(conn)
            if row is None:
                conn.execute(meta_table.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
            elif int(row.value) > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.description} has schema version {row.value}, newer than this "
                    f"package understands ({SCHEMA_VERSION}); upgrade airflow-emr-sizing"
                )

    def record(self, observation: Observation) -> None:
        values = _row_of(observation)
        try:
            with self._engine.begin() as conn:
                conn.execute(_upsert(self._engine.dialect.name, values))
        except Exception as err:
            raise StoreError(f"cannot record job {observation.job_id} in {self.description}: {err}") from err

    def history(
        self, signature_hash: str, *, limit: int = 500, since: datetime | None = None
    ) -> list[Observation]:
        return self._read(observations.c.signature_hash == signature_hash, limit, since)

    def app_history(
        self,
        app_name: str,
        *,
        resource_spec: str | None = None,
        limit: int = 500,
        since: datetime | None = None,
    ) -> list[Observation]:
        condition = observations.c.app_name == app_name
        if resource_spec is not None:
            condition = sa.and_(condition, observations.c.resource_spec == resource_spec)
        return self._read(condition, limit, since)

    def _read(self, condition: Any, limit: int, since: datetime | None) -> list[Observation]:
        query = (
            sa.select(observations)
            .where(condition)
            .order_by(observations.c.started_at.desc(), observations.c.job_id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(observations.c.started_at >= utc(since))
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except Exception as err:
            raise StoreError(f"cannot read history from {self.description}: {err}") from err
        return [_observation_of(row) for row in rows]

    def remember_signature(self, signature: Signature) -> None:
        values = {
            "hash": signature.hash,
            "key": signature.key,
            "app_name": signature.app_name,
            "format_version": signature.format_version,
            "first_seen": datetime.now(timezone.utc),
        }
        insert = _dialect_insert(self._engine.dialect.name)(signatures).values(values)
        statement = (
            insert.prefix_with("IGNORE")
            if self._engine.dialect.name == "mysql"
            else insert.on_conflict_do_nothing(index_elements=["hash"])
        )
        try:
            with self._engine.begin() as conn:
                conn.execute(statement)
        except Exception as err:
            raise StoreError(f"cannot record signature in {self.description}: {err}") from err

    def lookup_signature(self, signature_hash: str) -> SignatureRecord | None:
        query = sa.select(signatures).where(signatures.c.hash == signature_hash)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        except Exception as err:
            raise StoreError(f"cannot read signatures from {self.description}: {err}") from err
        if row is None:
            return None
        return SignatureRecord(row["hash"], row["key"], row["app_name"], row["format_version"])

    def close(self) -> None:
        """Engines are pooled per process and reused by later tasks; nothing to release per use."""


def _schema_version(conn: sa.Connection) -> Any:
    """The stored schema version row, or ``None`` on a fresh database."""
    if not sa.inspect(conn).has_table(meta_table.name):
        return None
    return conn.execute(_SCHEMA_VERSION_QUERY).first()


_SCHEMA_VERSION_QUERY = sa.select(meta_table.c.value).where(meta_table.c.name == "schema_version")


def _dialect_insert(dialect: str) -> Any:
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    inserts = {"sqlite": sqlite.insert, "postgresql": postgresql.insert, "mysql": mysql.insert}
    if dialect not in inserts:
        raise StoreError(f"unsupported database dialect {dialect!r} (sqlite, postgresql, mysql)")
    return inserts[dialect]


def _upsert(dialect: str, values: dict[str, Any]) -> Any:
    """Insert, or merge into the existing row: known new values win, ``oom`` is sticky."""
    insert = _dialect_insert(dialect)(observations).values(values)
    if dialect == "mysql":
        new = insert.inserted
        return insert.on_duplicate_key_update(**_merge_from(new))
    return insert.on_conflict_do_update(index_elements=["job_id"], set_=_merge_from(insert.excluded))


def _merge_from(new: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {name: sa.func.coalesce(new[name], observations.c[name]) for name in _MERGED}
    merged["oom"] = sa.or_(observations.c.oom, new.oom)
    return merged


def _row_of(observation: Observation) -> dict[str, Any]:
    return {**dataclasses.asdict(observation), "started_at": utc(observation.started_at)}


def _observation_of(row: Any) -> Observation:
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
    """A SQLAlchemy URL from an Airflow connection (``sqlite`` host = file path, or ``postgres``).

    ``extra`` may carry ``{"sqlalchemy_url": ...}`` for anything else SQLAlchemy can reach.
    """
    from airflow.providers.common.compat.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        url = sa.engine.URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
        return url.render_as_string(hide_password=False)
    raise StoreError(f"connection {conn_id!r} has type {conn.conn_type!r}; use sqlite or postgres")
