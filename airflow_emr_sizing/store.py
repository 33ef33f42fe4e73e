"""Where past runs live: the metrics-store interface, an in-memory fake, and the factory.

A store keeps two things: observations of finished runs (what each run requested and what its
executors really used), keyed by the run's job id so recording twice never double-counts; and the
signature key ↔ hash mapping, so a label value seen on a pod can be traced back to its key after
XCom is cleaned up. Stores are opened at execute time only, never while a DAG file is parsed.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_emr_sizing.exceptions import StoreError

if TYPE_CHECKING:
    from airflow_emr_sizing.signature import Signature

__all__ = ["InMemoryStore", "MetricsStore", "Observation", "SignatureRecord", "StoreLocation", "open_store"]


@dataclass(slots=True)
class Observation:
    """One finished job run of a signature: what it asked for and what it really used.

    Memory is per executor pod in MiB; ``None`` means unknown (e.g. no usage source configured).
    Treat it as a value (derive changed copies with ``dataclasses.replace``); it is not frozen
    only because frozen dataclasses build ten times slower, and hundreds are read per submission.
    """

    job_id: str
    signature_hash: str
    app_name: str
    started_at: datetime
    #: The signature's parts, so coarser levels (same hour, same day type, same app) can be pooled.
    day_of_week: int | None = None
    hour: int | None = None
    holiday: bool | None = None
    resource_spec: str | None = None
    state: str = "COMPLETED"
    oom: bool = False
    pod_memory_mib: int | None = None
    heap_mib: int | None = None
    request_cores: float | None = None
    executors: int | None = None
    duration_s: float | None = None
    peak_pod_memory_mib: int | None = None
    peak_heap_mib: int | None = None
    cpu_used_cores_p90: float | None = None
    failure_reason: str | None = None
    source: str = "outcome"
    #: The recommender's point estimate of the need when the run was planned: its errors are
    #: what the recommender's safety margin is learnt from.
    predicted_peak_mib: int | None = None
    #: Which level of history that estimate came from (exact, hour+daytype, ... see recommender).
    predicted_level: str | None = None
    #: The drift correction (log) included in that estimate.
    predicted_drift: float | None = None

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError(f"started_at must be timezone-aware, got {self.started_at!r}")

    @classmethod
    def of(cls, signature: Signature, job_id: str, started_at: datetime, **fields: Any) -> Observation:
        """An observation of a run of ``signature`` (its hash, app and parts filled in)."""
        return cls(
            job_id=job_id,
            signature_hash=signature.hash,
            app_name=signature.app_name,
            started_at=started_at,
            day_of_week=signature.day_of_week,
            hour=signature.hour,
            holiday=signature.holiday,
            resource_spec=signature.resource_spec,
            **fields,
        )

    def merged_with(self, newer: Observation) -> Observation:
        """Combine two reports of one run: the newer's known fields win, unknown ones keep ours."""
        updates = {
            f.name: getattr(newer, f.name)
            for f in dataclasses.fields(self)
            if getattr(newer, f.name) is not None
        }
        updates["oom"] = self.oom or newer.oom
        return dataclasses.replace(self, **updates)


@dataclass(frozen=True)
class SignatureRecord:
    """The key ↔ hash mapping of one signature, as stored."""

    hash: str
    key: str
    app_name: str
    format_version: int


@runtime_checkable
class MetricsStore(Protocol):
    """What the operator and the recommender need from a store."""

    #: Human-readable location for the audit, never with credentials.
    description: str

    def record(self, observation: Observation) -> None:
        """Insert or merge (by ``job_id``) one observation."""

    def history(
        self, signature_hash: str, *, limit: int = 500, since: datetime | None = None
    ) -> list[Observation]:
        """A signature's observations, newest first, at most ``limit``, none before ``since``."""

    def app_history(
        self,
        app_name: str,
        *,
        resource_spec: str | None = None,
        limit: int = 500,
        since: datetime | None = None,
    ) -> list[Observation]:
        """An app's observations across its signatures (optionally one resource spec), newest first."""

    def remember_signature(self, signature: Signature) -> None:
        """Keep the key ↔ hash mapping of a signature (idempotent)."""

    def lookup_signature(self, signature_hash: str) -> SignatureRecord | None:
        """The mapping recorded for a hash, or ``None``."""

    def close(self) -> None:
        """Release connections."""


class InMemoryStore:
    """A process-local store: the backtest's engine and the unit tests' fake; same semantics.

    Kept indexed (sorted by start time per signature, app and app + spec) so that replaying a
    long history costs O(log n) per recorded run and O(limit) per read.
    """

    description = "memory://"

    def __init__(self, observations: Sequence[Observation] = ()) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Observation] = {}
        self._indexes: dict[tuple[str, ...], list[tuple[datetime, str]]] = {}
        self._signatures: dict[str, SignatureRecord] = {}
        for observation in observations:
            self.record(observation)

    @staticmethod
    def _keys(o: Observation) -> tuple[tuple[str, ...], ...]:
        return ("sig", o.signature_hash), ("app", o.app_name), ("spec", o.app_name, str(o.resource_spec))

    def record(self, observation: Observation) -> None:
        with self._lock:
            earlier = self._runs.get(observation.job_id)
            if earlier is not None:
                self._unindex(earlier)
                observation = earlier.merged_with(observation)
            self._runs[observation.job_id] = observation
            for key in self._keys(observation):
                bisect.insort(self._indexes.setdefault(key, []), (observation.started_at, observation.job_id))

    def _unindex(self, observation: Observation) -> None:
        for key in self._keys(observation):
            entries = self._indexes[key]
            del entries[bisect.bisect_left(entries, (observation.started_at, observation.job_id))]

    def _read(self, key: tuple[str, ...], limit: int, since: datetime | None) -> list[Observation]:
        with self._lock:
            entries = self._indexes.get(key, [])
            newest_first: list[Observation] = []
            for started_at, job_id in reversed(entries):
                if len(newest_first) >= limit or (since is not None and started_at < since):
                    break
                newest_first.append(self._runs[job_id])
            return newest_first

    def history(
        self, signature_hash: str, *, limit: int = 500, since: datetime | None = None
    ) -> list[Observation]:
        return self._read(("sig", signature_hash), limit, since)

    def app_history(
        self,
        app_name: str,
        *,
        resource_spec: str | None = None,
        limit: int = 500,
        since: datetime | None = None,
    ) -> list[Observation]:
        key = ("app", app_name) if resource_spec is None else ("spec", app_name, resource_spec)
        return self._read(key, limit, since)

    def remember_signature(self, signature: Signature) -> None:
        with self._lock:
            self._signatures.setdefault(
                signature.hash,
                SignatureRecord(signature.hash, signature.key, signature.app_name, signature.format_version),
            )

    def lookup_signature(self, signature_hash: str) -> SignatureRecord | None:
        return self._signatures.get(signature_hash)

    def prune(self, *, keep_last: int | None, older_than: datetime | None, dry_run: bool = False) -> int:
        with self._lock:
            newest_first = sorted(self._runs.values(), key=lambda o: (o.started_at, o.job_id), reverse=True)
            seen: dict[str, int] = {}
            doomed = []
            for o in newest_first:
                seen[o.signature_hash] = rank = seen.get(o.signature_hash, 0) + 1
                if (keep_last is not None and rank > keep_last) or (
                    older_than is not None and o.started_at < older_than
                ):
                    doomed.append(o.job_id)
            if not dry_run:
                for job_id in doomed:
                    self._unindex(self._runs.pop(job_id))
        return len(doomed)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class StoreLocation:
    """Where a task's store is: an Airflow connection, else the embedded SQLite file."""

    conn_id: str | None = None
    path: str | None = None

    def open(self) -> MetricsStore:
        return open_store(self.conn_id, self.path)


def open_store(conn_id: str | None = None, path: str | None = None) -> MetricsStore:
    """Open the configured store: an Airflow connection if given, else the SQLite file at ``path``.

    A connection of type ``aws`` with ``{"emr_sizing_table": ...}`` in its extra is a DynamoDB
    store; ``sqlite``, ``postgres`` and ``mysql`` connections (or an extra ``sqlalchemy_url``) are SQL.

    Raises :class:`StoreError` when the store cannot be used; callers decide how to degrade.
    """
    from airflow_emr_sizing.sql_store import SqlStore, sql_url

    if conn_id:
        conn = _connection(conn_id)
        if _is_dynamodb(conn):
            from airflow_emr_sizing.dynamodb_store import DynamoDBStore
            from airflow_emr_sizing.settings import load_settings

            return DynamoDBStore.from_connection(conn, load_settings().retention_days)
        return SqlStore(sql_url(conn))
    if not path:
        raise StoreError("no store configured: set store_conn_id or [emr_sizing] store_path")
    return SqlStore(f"sqlite:///{path}")


def sqlite_file(conn_id: str | None = None, path: str | None = None) -> str | None:
    """The SQLite file the store at this location is, if it is one (``None`` for a server store).

    Opening a SQLite store creates its file; a command that only reads checks it exists first.
    """
    if not conn_id:
        return path
    conn = _connection(conn_id)
    if _is_dynamodb(conn):
        return None
    from sqlalchemy.engine import make_url

    from airflow_emr_sizing.sql_store import sql_url

    url = make_url(sql_url(conn))
    return url.database if url.get_backend_name() == "sqlite" else None


def _is_dynamodb(conn: Any) -> bool:
    """An ``aws`` connection names its table in its extra; a ``sqlalchemy_url`` extra wins on any type."""
    return conn.conn_type == "aws" and not conn.extra_dejson.get("sqlalchemy_url")


def _connection(conn_id: str) -> Any:
    from airflow_emr_sizing.airflow_compat import get_connection

    try:
        return get_connection(conn_id)
    except Exception as err:  # not found, secrets backend down: the store cannot be used
        raise StoreError(f"cannot read store connection {conn_id!r}: {err}") from err


def utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC (stores compare and sort in UTC)."""
    return moment.astimezone(timezone.utc)
