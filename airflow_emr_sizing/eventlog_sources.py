"""Find one application's event-log files, on a local disk or in S3, and open them as streams.

A location is one of:

- a single event-log file (``app-…``, ``application_…``, ``local-…``, with or without a codec
  suffix and ``.inprogress``);
- a rolling event-log directory ``eventlog_v2_<appId>/`` (``events_<n>_<appId>[.codec]`` files
  read in ``n`` order, from the last ``.compact`` file on; ``appstatus_<appId>.inprogress`` while
  the application runs);
- a folder that holds exactly one of those — such as the run-unique ``spark.eventLog.dir`` the
  operator gives each run; :func:`open_event_logs` takes every one a folder holds (a run's driver
  attempts each write their own).

S3 goes through the amazon provider's hooks, so Airflow connections, roles and endpoints apply: a
task passes its own S3 client (made on its EMR hook's session), the CLI an ``S3Hook``. Objects are
streamed, never downloaded whole.

What may change if read again raises :class:`EventLogUnavailable`: a log not there yet (EMR uploads
it as the application ends), a file renamed while listed (``.inprogress`` to its final name), a
storage or network failure, even mid-stream. Anything else (no such bucket, access denied, not an
S3 URL, several applications where one is wanted) is a plain :class:`EventLogError`.
"""

from __future__ import annotations

import contextlib
import http.client
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from airflow_emr_sizing.exceptions import EventLogError
from airflow_emr_sizing.settings import S3_SCHEMES

__all__ = [
    "EventLogFiles",
    "EventLogUnavailable",
    "make_event_log_dir",
    "open_event_log",
    "open_event_logs",
    "split_s3_url",
]

_ROLLING_DIR = "eventlog_v2_"
_EVENTS_FILE = re.compile(r"events_(\d+)_")
#: Not application logs: hidden and marker files, checksums, a rolling log's status, documents.
_IGNORED = re.compile(r"^(?:\.|_)|\.crc$|^appstatus_|\.(?:md|txt|rst|html?|csv|pdf)$", re.IGNORECASE)
#: S3 error codes that reading again can cure: throttling, S3's own failures, and a key gone
#: between listing and reading (Spark renames ``.inprogress`` when the application ends).
_TRANSIENT_S3_CODES = frozenset(
    {
        "NoSuchKey",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
    }
)


class EventLogUnavailable(EventLogError):
    """The event log cannot be read now, but may be later: not there yet, or storage failed."""


class _Storage(Protocol):
    def kind(self, path: str) -> str:
        """``"file"``, ``"dir"`` or ``"missing"``."""

    def children(self, path: str) -> tuple[list[str], list[str]]:
        """(file names, directory names) directly under ``path``."""

    def join(self, path: str, name: str) -> str: ...

    def open(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]: ...


@dataclass(frozen=True)
class EventLogFiles:
    """The files of one application's log, in reading order."""

    location: str
    files: tuple[str, ...]
    in_progress: bool
    storage: _Storage

    def open(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.storage.open(path)


def open_event_log(
    location: str, *, aws_conn_id: str | None = None, s3_client: Callable[[], Any] | None = None
) -> EventLogFiles:
    """Resolve ``location`` to one application's log files; :class:`EventLogError` if impossible.

    A folder holding several application logs is refused: which one is meant is the caller's to say.

    :param s3_client: makes the S3 client to read with (the task's, on its AWS session); without
        it, an ``S3Hook`` of ``aws_conn_id`` does.
    """
    logs = open_event_logs(location, aws_conn_id=aws_conn_id, s3_client=s3_client)
    if len(logs) > 1:
        names = ", ".join(sorted(_base(log.location) for log in logs)[:5])
        raise EventLogError(f"{len(logs)} application logs under {location} ({names}); give one of them")
    return logs[0]


def open_event_logs(
    location: str, *, aws_conn_id: str | None = None, s3_client: Callable[[], Any] | None = None
) -> tuple[EventLogFiles, ...]:
    """Every application log at ``location`` (one for a file or a rolling directory), by name.

    A run's own folder holds one log per driver attempt (EMR's job retry policy restarts the
    driver, which starts a new application), so the run's usage is all of them.
    """
    if location.startswith("file:"):
        location = "/" + location[len("file:") :].lstrip("/")
    storage: _Storage = _S3(aws_conn_id, s3_client) if location.startswith(S3_SCHEMES) else _Local()
    path = location.rstrip("/") or location
    kind = storage.kind(path)
    if kind == "missing":
        raise EventLogUnavailable(f"no event log at {location}: no such file or folder")
    if kind == "file":
        return (EventLogFiles(location, (path,), path.endswith(".inprogress"), storage),)
    files, dirs = storage.children(path)
    if _base(path).startswith(_ROLLING_DIR) or any(_EVENTS_FILE.match(f) for f in files):
        return (_rolling(location, path, files, storage),)
    apps = [storage.join(path, f) for f in files if not _IGNORED.search(f)]
    apps += [storage.join(path, d) for d in dirs if d.startswith(_ROLLING_DIR)]
    if not apps:
        raise EventLogUnavailable(f"no event log under {location}")
    return tuple(_one(app, storage) for app in sorted(apps))


def _one(path: str, storage: _Storage) -> EventLogFiles:
    """The log of one application named in a listing: a file, or a rolling directory."""
    if not _base(path).startswith(_ROLLING_DIR):
        return EventLogFiles(path, (path,), path.endswith(".inprogress"), storage)
    files, _ = storage.children(path)
    return _rolling(path, path, files, storage)


def make_event_log_dir(location: str, s3_client: Callable[[], Any]) -> None:
    """Create the S3 folder a run will log events into, before Spark starts.

    Spark refuses to start when ``spark.eventLog.dir`` does not exist, and an S3 prefix exists
    only once something is under it: like Hadoop's ``mkdirs``, an empty ``prefix/`` object is
    written. Other locations are not ours to vouch for (a local path here is not the driver's).

    :param s3_client: makes the S3 client to write with, only when there is something to write.
    """
    if not location.startswith(S3_SCHEMES):
        raise EventLogError(f"{location} is not an S3 URL")
    bucket, key = split_s3_url(location)
    if key.strip("/"):  # a bucket's root exists with the bucket
        s3_client().put_object(Bucket=bucket, Key=key.rstrip("/") + "/", Body=b"")


def _rolling(location: str, path: str, files: list[str], storage: _Storage) -> EventLogFiles:
    numbered: list[tuple[int, bool, str]] = []
    for name in files:
        match = _EVENTS_FILE.match(name)
        if match:
            numbered.append((int(match.group(1)), ".compact" in name, name))
    if not numbered:
        raise EventLogUnavailable(f"rolling event log {location} has no events_<n>_ files")
    numbered.sort()
    compacted = [index for index, compact, _ in numbered if compact]
    first = compacted[-1] if compacted else numbered[0][0]
    chosen = tuple(storage.join(path, name) for index, _, name in numbered if index >= first)
    in_progress = any(f.startswith("appstatus_") and f.endswith(".inprogress") for f in files)
    return EventLogFiles(location, chosen, in_progress, storage)


def _base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


class _Local:
    def kind(self, path: str) -> str:
        p = Path(path)
        return "dir" if p.is_dir() else "file" if p.is_file() else "missing"

    def children(self, path: str) -> tuple[list[str], list[str]]:
        entries = list(Path(path).iterdir())
        return sorted(e.name for e in entries if e.is_file()), sorted(e.name for e in entries if e.is_dir())

    def join(self, path: str, name: str) -> str:
        return str(Path(path) / name)

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as err:  # renamed since listed: the application just ended
            raise EventLogUnavailable(f"cannot read {path}: {err}") from err
        except OSError as err:
            raise EventLogError(f"cannot read {path}: {err}") from err
        with stream:
            yield stream


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    rest = url.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise EventLogError(f"not an S3 URL: {url}")
    return bucket, key


class _S3:
    def __init__(self, aws_conn_id: str | None, make_client: Callable[[], Any] | None = None) -> None:
        if make_client is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            make_client = S3Hook(aws_conn_id=aws_conn_id).get_conn
        self._make_client = make_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def kind(self, path: str) -> str:
        bucket, key = split_s3_url(path)
        try:
            if key and not key.endswith("/"):
                try:
                    self.client.head_object(Bucket=bucket, Key=key)
                    return "file"
                except self.client.exceptions.ClientError as err:
                    if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                        raise
            prefix = key.rstrip("/") + "/" if key else ""
            listed = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except Exception as err:
            raise _s3_error(f"cannot read {path}", err) from err
        return "dir" if listed.get("KeyCount", 0) else "missing"

    def children(self, path: str) -> tuple[list[str], list[str]]:
        bucket, key = split_s3_url(path)
        prefix = key.rstrip("/") + "/" if key else ""
        files: list[str] = []
        dirs: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                files += [o["Key"][len(prefix) :] for o in page.get("Contents", ())]
                dirs += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", ())]
        except Exception as err:
            raise _s3_error(f"cannot list {path}", err) from err
        return sorted(f for f in files if f), sorted(dirs)

    def join(self, path: str, name: str) -> str:
        return path.rstrip("/") + "/" + name

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        bucket, key = split_s3_url(path)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as err:
            raise _s3_error(f"cannot read {path}", err) from err
        try:
            yield cast(BinaryIO, _S3Body(body, path))
        finally:
            body.close()


class _S3Body:
    """An object's body whose read errors (a connection reset or timed out mid-stream, a body
    shorter than its length) are :class:`EventLogUnavailable`, like those of the request itself."""

    def __init__(self, body: Any, path: str) -> None:
        self._body = body
        self._path = path

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._body.read(size if size >= 0 else None)
        except Exception as err:
            raise _s3_error(f"cannot read {self._path}", err) from err
        return data


def _s3_error(problem: str, err: Exception) -> EventLogError:
    """``problem`` as the error it is: :class:`EventLogUnavailable` if reading again may work."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        HTTPClientError,
        IncompleteReadError,
    )
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from urllib3.exceptions import HTTPError

    transient: tuple[type[Exception], ...] = (
        BotocoreConnectionError,  # endpoint unreachable, connect timeout
        HTTPClientError,  # read timeout, connection closed, response stream broken
        IncompleteReadError,  # a body shorter than its Content-Length
        HTTPError,  # urllib3's own, should one escape botocore
        http.client.HTTPException,
        ConnectionError,
        TimeoutError,
    )
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if error.get("Code") in _TRANSIENT_S3_CODES or int(status) >= 500:
            return EventLogUnavailable(f"{problem}: {err}")
    elif isinstance(err, transient):
        return EventLogUnavailable(f"{problem}: {type(err).__name__}: {err}")
    return EventLogError(f"{problem}: {err}")
