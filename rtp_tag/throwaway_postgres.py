"""A throwaway PostgreSQL cluster for the tests and the benchmarks: Debian's
``initdb`` / ``pg_ctl`` in a temporary directory, on a free port of 127.0.0.1,
removed afterwards.

PostgreSQL refuses to run as root, so when we are root the directory belongs to the
``postgres`` user and every server command runs through ``runuser -u postgres --``.
Clients log in over TCP as ``rtp`` with a password (scram-sha-256), as a deployed
collector would, so URLs in tests carry a password to keep out of error messages.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "rtp"
PASSWORD = "throwaway-secret"
START_TIMEOUT = 60


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def server_bin_dir() -> Path:
    """``RTP_TAG_PG_BIN``, or the newest ``/usr/lib/postgresql/N/bin`` holding ``initdb``."""
    configured = os.environ.get("RTP_TAG_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresMissing(
            "no PostgreSQL server here (/usr/lib/postgresql/*/bin/initdb): install Debian's "
            "`postgresql` (./dev test does), or set RTP_TAG_PG_BIN to the directory holding initdb"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayPostgres:
    """One cluster: ``start()``, ``create_database(name)`` -> URL, ``restart()``, ``close()``.

    ``fast`` turns off fsync (tests: a crash of the machine is not what they test,
    a crash of the server is);
    benchmarks pass ``fast=False`` to measure the settings a deployment would have.
    """

    def __init__(self, fast: bool = True) -> None:
        self.bin = server_bin_dir()
        self.fast = fast
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="rtp-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.socket_dir.mkdir()
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._initdb()

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run(
            [*prefix, *command], cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}):\n{done.stdout}")

    def _initdb(self) -> None:
        password_file = self.root / "pwfile"
        password_file.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(password_file, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={password_file}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )
        password_file.unlink()
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            "max_connections = 200",
            "shared_buffers = 64MB",
        ]
        if self.fast:
            # A crash of the server (stop -m immediate) loses nothing committed: only a crash
            # of the machine would, which no test makes. synchronous_commit stays on.
            settings += ["fsync = off", "full_page_writes = off"]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# rtp-tag throwaway cluster\n" + "\n".join(settings) + "\n")

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-w", "-t", str(START_TIMEOUT), "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clients cut off) or ``immediate`` (as a crash)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def create_database(self, name: str) -> str:
        """A new empty database; return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop the server (if running) and remove every file of the cluster."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
