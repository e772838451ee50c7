"""``make run``: one command that starts all of Kizuki and stops all of it.

Starts (or reuses) the embedded PostgreSQL and Redis unless DATABASE_URL /
REDIS_URL point elsewhere, migrates, loads the demo company once, then runs
the web server (gunicorn), a Celery worker and Celery beat. Ctrl-C (or
SIGTERM) stops the children, then the embedded servers, and leaves no
process behind. Children get SIGTERM if this process dies (PR_SET_PDEATHSIG),
and each runs in its own process group so the shutdown order is ours.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
SHUTDOWN_GRACE_SECONDS = 15


def _die_with_parent() -> None:
    """Run in the child before exec: get SIGTERM when the launcher dies."""
    os.setpgrp()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Launcher:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.children: dict[str, subprocess.Popen] = {}
        self.embedded: list = []
        self.stopping = False
        self.env = dict(os.environ)
        self.env.setdefault("DJANGO_SETTINGS_MODULE", "ma_core.settings")
        self.env.setdefault("PYTHONUNBUFFERED", "1")

    # -- services -------------------------------------------------------
    def start_services(self) -> None:
        from ma_core import embedded

        data_dir = Path(self.env.get("KIZUKI_DATA_DIR") or BASE_DIR / "var").resolve()
        if not self.env.get("DATABASE_URL"):
            server = embedded.EmbeddedPostgres(data_dir)
            self.env["DATABASE_URL"] = server.ensure_running()
            self.embedded.append(server)
            say(f"PostgreSQL (embedded): {self.env['DATABASE_URL']}")
        if not self.env.get("REDIS_URL"):
            server = embedded.EmbeddedRedis(data_dir)
            self.env["REDIS_URL"] = server.ensure_running()
            self.embedded.append(server)
            say(f"Redis (embedded):      {self.env['REDIS_URL']}")

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), *args],
            env=self.env,
            cwd=BASE_DIR,
            check=True,
        )

    def spawn(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            argv, env=self.env, cwd=BASE_DIR, preexec_fn=_die_with_parent
        )

    def start_processes(self) -> None:
        python = sys.executable
        self.spawn(
            "web",
            [
                python, "-m", "gunicorn", "ma_core.wsgi:application",
                "--bind", f"{self.host}:{self.port}",
                "--workers", self.env.get("WEB_CONCURRENCY", "2"),
                "--threads", "4",
                "--access-logfile", "-",
                "--graceful-timeout", "5",
                "--no-control-socket",
            ],
        )  # fmt: skip
        self.spawn(
            "worker",
            [
                python, "-m", "celery", "-A", "ma_core", "worker",
                "-Q", "default,tracking,mail,sync",
                "--concurrency", self.env.get("WORKER_CONCURRENCY", "2"),
                "--hostname", "kizuki@%h",
                "--loglevel", "INFO",
            ],
        )  # fmt: skip
        self.spawn("beat", [python, "-m", "celery", "-A", "ma_core", "beat", "--loglevel", "INFO"])

    # -- shutdown ---------------------------------------------------------
    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        say("Stopping Kizuki …")
        for proc in self.children.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        # Pool processes of a child that died first are in its group too.
        for proc in self.children.values():
            _signal_group(proc, signal.SIGKILL)
        for server in reversed(self.embedded):
            server.stop()
        say("Stopped. Nothing is left running.")

    def wait(self) -> int:
        while True:
            for name, proc in self.children.items():
                code = proc.poll()
                if code is not None:
                    say(f"{name} exited with status {code}; stopping everything.")
                    return 1
            time.sleep(0.5)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def say(message: str) -> None:
    print(f"[kizuki] {message}", flush=True)


def main() -> int:
    from ma_core.embedded import port_is_free

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if not port_is_free(port, host):
        say(
            f"Port {port} is already in use on {host}. Stop what uses it, or pick "
            f"another port: PORT={port + 1} make run"
        )
        return 2

    launcher = Launcher(host, port)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        launcher.start_services()
        launcher.manage("migrate", "--noinput", "-v", "0")
        launcher.manage("loaddemo", "--once")
        launcher.start_processes()
        from ma_core.demo_accounts import DEMO_PASSWORD, DEMO_USERS

        say("")
        say(f"Kizuki is running: http://{host}:{port}/admin/")
        say(f"Log in as: admin / {DEMO_PASSWORD}")
        others = ", ".join(u[0] for u in DEMO_USERS[1:])
        say(f"Other demo users (same password): {others}")
        say(f"Health: http://{host}:{port}/healthz   API: http://{host}:{port}/api/docs/")
        say("Press Ctrl-C to stop everything.")
        code = launcher.wait()
    except KeyboardInterrupt:
        code = 0
    except subprocess.CalledProcessError as exc:
        say(f"Set-up step failed: {' '.join(map(str, exc.cmd[1:]))}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        launcher.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
