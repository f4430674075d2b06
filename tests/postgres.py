"""A throwaway PostgreSQL server for tests: a fresh cluster in a temporary directory,
on a free loopback port, removed again when the tests are done.

The binaries are Debian's (``make postgres`` installs them) or any on the PATH.
PostgreSQL refuses to run as root, so as root every server command runs as the
``postgres`` system user (the Debian package creates it), in a directory it owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

MISSING = "no PostgreSQL found: run `make postgres` (apt-get install postgresql)"
DEBIAN_DIR = Path("/usr/lib/postgresql")
SUPERUSER = "recommender"
RUN_AS = "postgres"  # the system user of Debian's package
LOG_TAIL_LINES = 40
# Test settings: loopback only; fsync off because the data is thrown away; room for
# the connection pools of several application server workers.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here (no binaries, or root without a ``postgres`` user):
    callers skip rather than fail."""


def find_bin_dir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: Debian's newest version, else the PATH's."""
    versions = [p for p in DEBIAN_DIR.glob("*/bin") if (p / "initdb").is_file()]
    if versions:
        return max(versions, key=lambda p: _version_key(p.parent.name))
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl", path=str(Path(initdb).parent)):
        return Path(initdb).parent
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _server_user() -> pwd.struct_passwd:
    """The user to run PostgreSQL as when we are root."""
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root, and `runuser` is missing")
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and there is no `{RUN_AS}` user to run PostgreSQL as"
        ) from None


def free_port() -> int:
    """A loopback port that was free a moment ago.

    PostgreSQL cannot be told to bind port 0, so another process could take this
    port before the server binds it; the start then fails, its log saying so.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own, for tests.

    ``start()`` creates the cluster (``initdb`` with trust authentication and a
    superuser named ``recommender``) and starts it; ``stop()`` stops it and removes
    every file. In between, ``stop_server()`` and ``start_server()`` stop and start
    the same server on the same port and data, e.g. to test how an application
    behaves while its database is down. As a context manager: ``start()`` on
    entry, ``stop()`` on exit.

    Args:
        bin_dir: Where ``initdb`` and ``pg_ctl`` are; found by ``find_bin_dir`` if None.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.base_dir: Path | None = None
        self.port = 0

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def log_path(self) -> Path:
        return self._base() / "server.log"

    def start(self) -> ThrowawayPostgres:
        """Create the cluster and start the server.

        Raises:
            PostgresUnavailable: no binaries, or root without a ``postgres`` user.
            RuntimeError: the cluster could not be created or started (with the log's tail).
        """
        if self.base_dir is not None:
            raise RuntimeError("the cluster is already created: start_server() restarts it")
        self.bin_dir = self.bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise PostgresUnavailable(MISSING)
        owner = _server_user() if os.geteuid() == 0 else None
        # mkdtemp's directory is 0700, in a parent anyone may enter (the temp directory).
        self.base_dir = Path(tempfile.mkdtemp(prefix="pg-test-"))
        try:
            if owner is not None:
                # The server's user creates the data directory and the log in here.
                os.chown(self.base_dir, owner.pw_uid, owner.pw_gid)
            self._run(
                "initdb",
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "-A", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
            )  # fmt: skip
            settings = {**SETTINGS, "unix_socket_directories": f"'{self.base_dir}'"}
            # Appending keeps the file's owner; later lines win over initdb's.
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
            self.port = free_port()
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self) -> None:
        """Start the server (on its port and data) and wait until it accepts connections."""
        self._run(
            "pg_ctl", "start",
            "-D", str(self.data_dir),
            "-l", str(self.log_path),
            "-o", f"-p {self.port}",
            "-w", "-t", "60",
        )  # fmt: skip

    def stop_server(self) -> None:
        """Stop the server (fast shutdown: open connections are closed) and wait for it.

        If ``pg_ctl`` cannot stop it, the postmaster is killed; the data stays.
        """
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
        except RuntimeError:
            # Gone already, or the file with it: nothing left to kill.
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server and remove the cluster's files."""
        if self.base_dir is None:
            return
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def url(self, dbname: str = "postgres") -> str:
        """The connection URL of database ``dbname`` as the superuser."""
        if not self.port:
            raise RuntimeError("the server has not been started")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, even with connections left open (which
        ``WITH (FORCE)``, PostgreSQL 13+, terminates first)."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("the cluster has not been created")
        return self.base_dir

    def _run(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL tool (as the ``postgres`` user when we are root); a failure
        raises RuntimeError with its output and the tail of the server log."""
        assert self.bin_dir is not None
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        # PG* variables (PGPORT, PGDATA, ...) would change what the tools do.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # cwd: the tools warn when they cannot enter the current directory (e.g. /root).
        done = subprocess.run(
            command, cwd=self._base(), env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n--- server log, last lines ---\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-LOG_TAIL_LINES:])


def started_or_skip() -> ThrowawayPostgres:
    """A started cluster of the caller's own (it stops it); skips the test, saying
    why, where PostgreSQL is not installed."""
    import pytest

    try:
        return ThrowawayPostgres().start()
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))
