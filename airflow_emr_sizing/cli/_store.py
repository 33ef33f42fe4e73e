"""What the store commands share: which store to open, and how to name a signature."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable
from datetime import timezone
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from airflow_emr_sizing.store import MetricsStore, Observation

__all__ = ["observation_json", "observation_table", "open_cli_store", "resolve_signature", "store_options"]

F = TypeVar("F", bound=Callable[..., Any])
#: A hash as :func:`signature_hash` writes it: ``s<version>-`` and 32 lower-case base32 characters.
_HASH = re.compile(r"s[0-9]+-[a-z2-7]{32}")
#: What only a hash (typed wrongly) can look like: the prefix, then nothing but hash characters.
_HASH_SHAPED = re.compile(r"s[0-9]+-[a-z2-7]*", re.IGNORECASE)


def store_options(command: F) -> F:
    """``--conn-id`` / ``--path``; without either, the store the tasks use (``[emr_sizing]``)."""
    command = click.option(
        "--path", default=None, help="SQLite file of the store (default: [emr_sizing] store_path)."
    )(command)
    return click.option(
        "--conn-id",
        default=None,
        help="Airflow connection of the store (default: [emr_sizing] store_conn_id).",
    )(command)


def open_cli_store(conn_id: str | None, path: str | None) -> MetricsStore:
    """Open the store named on the command line, else the configured one; errors end the command.

    A SQLite file must already exist: these commands read (or trim) what tasks recorded, and
    opening a mistyped path would create an empty store and answer "0 runs" instead.
    """
    from airflow_emr_sizing.exceptions import EmrSizingError
    from airflow_emr_sizing.settings import load_settings
    from airflow_emr_sizing.store import open_store, sqlite_file

    try:
        where = f"--conn-id {conn_id}" if conn_id else "--path"
        if not conn_id and not path:
            settings = load_settings()
            conn_id, path = settings.store_conn_id, settings.store_path
            where = "[emr_sizing] store_conn_id" if conn_id else "[emr_sizing] store_path"
        # Airflow 3.0 logs to stdout (e.g. "Connection Retrieved"): keep stdout for the output
        with contextlib.redirect_stdout(sys.stderr):
            file = sqlite_file(conn_id, path)
            if file and file != ":memory:" and not os.path.exists(file):
                raise click.ClickException(f"no store at {file} ({where})")
            return open_store(conn_id, path)
    except EmrSizingError as err:
        raise click.ClickException(str(err)) from err


def resolve_signature(key_or_hash: str, param_hint: str = "'SIGNATURE'") -> tuple[str, str | None]:
    """``(hash, key)`` of a signature given by its hash (key unknown: ``None``) or by its key.

    Input shaped like a hash but not one (a character short, upper case, cut off) is a usage error:
    hashed as a key it would name some other, empty signature and answer "0 runs". No key is ever
    hash-shaped, whatever its app name: a key is ``{app}-day-{d}-hour-{h}-...`` (``signature.py``),
    so even the key of an app named ``s1`` has ``-`` after ``s1-``, and ``-`` is no hash character.
    """
    from airflow_emr_sizing.signature import signature_hash

    if _HASH.fullmatch(key_or_hash):
        return key_or_hash, None
    if _HASH_SHAPED.fullmatch(key_or_hash):
        given = len(key_or_hash.partition("-")[2])
        raise click.BadParameter(
            f"{key_or_hash!r} is not a valid signature hash: one is s<version>- and 32 characters of "
            f"a-z and 2-7 ({given} here), as on a pod label",
            param_hint=param_hint,
        )
    return signature_hash(key_or_hash), key_or_hash


def observation_json(observation: Observation) -> dict[str, Any]:
    return {**dataclasses.asdict(observation), "started_at": observation.started_at.isoformat()}


_COLUMNS = (
    ("started_at", "started (UTC)"),
    ("job_id", "job"),
    ("state", "state"),
    ("oom", "oom"),
    ("pod_memory_mib", "pod MiB"),
    ("peak_pod_memory_mib", "peak MiB"),
    ("request_cores", "cores"),
    ("cpu_used_cores_p90", "cpu p90"),
    ("executors", "execs"),
    ("duration_s", "secs"),
    ("source", "source"),
)


def observation_table(runs: list[Observation]) -> str:
    """Runs as a plain fixed-width table (one line each, newest first as given)."""

    def cell(run: Observation, name: str) -> str:
        value = getattr(run, name)
        if name == "started_at":
            return str(value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"))
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value).replace("\n", " ")

    rows = [[title for _, title in _COLUMNS]] + [[cell(r, name) for name, _ in _COLUMNS] for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
