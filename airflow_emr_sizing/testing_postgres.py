"""A throwaway PostgreSQL server for tests and benchmarks, from the machine's own server binaries.

No Docker and no network: ``initdb`` a cluster in a temporary directory, start it on a free
loopback port with ``pg_ctl``, hand out SQLAlchemy URLs, stop it and delete the directory. As root
(CI, containers) the server runs as the ``postgres`` user, because ``initdb`` refuses root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["ThrowawayPostgres", "find_postgres_bin"]

#: Where to look for ``initdb`` and ``pg_ctl`` besides ``$EMR_SIZING_PG_BIN`` (Debian's layout first).
_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin", "/usr/bin")


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest version first), or ``None``."""
    explicit = os.environ.get("EMR_SIZING_PG_BIN")
    candidates = [explicit] if explicit else []
    for pattern in _BIN_GLOBS:
        candidates += sorted(glob.glob(pattern), key=_version_of, reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _version_of(path: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in path).split()
    return tuple(int(d) for d in digits)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayPostgres:
    """One PostgreSQL cluster in a temporary directory, trust auth for user ``postgres`` on loopback.

    ``stop_server``/``start_server`` keep the data (to play a store outage); ``close`` removes all.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_postgres_bin()
        if found is None:
            raise FileNotFoundError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql "
                "package or set EMR_SIZING_PG_BIN"
            )
        self.bin_dir = found
        self.root = Path(tempfile.mkdtemp(prefix="emr-sizing-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}\n{log}")

    def start_server(self) -> ThrowawayPostgres:
        """Start (or restart) the server; a new free port the first time, the same one after."""
        self.port = self.port or _free_port()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start"
        )
        return self

    def stop_server(self) -> None:
        if self.port and (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        from airflow_emr_sizing.sql_store import POSTGRES_DRIVER

        return f"{POSTGRES_DRIVER}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start_server()

    def __exit__(self, *_: object) -> None:
        self.close()
