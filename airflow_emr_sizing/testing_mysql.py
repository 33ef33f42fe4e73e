"""A throwaway MySQL-compatible server (MariaDB) for tests, from the machine's own server binaries.

Like :mod:`airflow_emr_sizing.testing_postgres`: a data directory in a temporary folder, a server on
a free loopback port, grant tables skipped (a test server with no users to manage), stopped and
deleted at the end. As root the server runs as the ``mysql`` user. This is how the MySQL dialect of
the SQL store is tested; MySQL itself (Oracle's server) is not packaged for these machines.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["ThrowawayMariaDB", "find_mariadb"]


def find_mariadb() -> tuple[Path, Path] | None:
    """``(mariadb-install-db, mariadbd)``, or ``None`` when the server is not installed."""
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    for server in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld", shutil.which("mariadbd") or ""):
        if install and server and Path(server).is_file():
            return Path(install), Path(server)
    return None


class ThrowawayMariaDB:
    """One MariaDB server in a temporary directory; ``root`` without a password on loopback."""

    def __init__(self) -> None:
        found = find_mariadb()
        if found is None:
            raise FileNotFoundError("MariaDB server binaries not found; install the mariadb-server package")
        self._install, self._server = found
        self.root = Path(tempfile.mkdtemp(prefix="emr-sizing-mariadb-"))
        self.data = self.root / "data"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._user = ["--user=mysql"] if os.geteuid() == 0 else []
        if self._user:
            shutil.chown(self.root, "mysql")
        subprocess.run(
            [str(self._install), "--no-defaults", f"--datadir={self.data}", "--skip-test-db", *self._user],
            capture_output=True,
            check=True,
            timeout=120,
        )

    def start_server(self) -> ThrowawayMariaDB:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._process = subprocess.Popen(
            [
                str(self._server), "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.root / 'sock'}", "--skip-grant-tables",
                f"--log-error={self.root / 'server.log'}", "--innodb-flush-log-at-trx-commit=2", *self._user,
            ],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None:
                    break
                time.sleep(0.2)
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"MariaDB did not start:\n{log}")

    def url(self, database: str = "mysql") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def create_database(self, name: str) -> str:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        finally:
            engine.dispose()
        return self.url(name)

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(60)
        shutil.rmtree(self.root, ignore_errors=True)
