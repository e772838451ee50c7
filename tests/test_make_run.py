"""`make run` end to end: embedded services, migrate, demo, web + worker + beat;
a second terminal's manage.py uses the same services; Ctrl-C leaves nothing."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from conftest import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


def launcher_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "KIZUKI_MODE", "DJANGO_SETTINGS_MODULE"}
    }
    env.update({"KIZUKI_DATA_DIR": str(data_dir), "PORT": str(port), "PYTHONUNBUFFERED": "1"})
    return env


def processes_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in cmdline or environ.get("KIZUKI_DATA_DIR") == str(data_dir):
            found.append(proc)
    return [p for p in found if p.pid != os.getpid()]


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not seen in {timeout}s. Output:\n{log.read_text()[-4000:]}")


def healthz(port: int) -> dict | None:
    import json

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


def manage_shell(data_dir: Path, port: int, code: str) -> subprocess.CompletedProcess:
    """`.venv/bin/python manage.py shell -c …` from "another terminal"."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=BASE_DIR,
        env=launcher_env(data_dir, port),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_launcher(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ma_core.launcher"],
        cwd=BASE_DIR,
        env=launcher_env(data_dir, port),
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def test_make_run_serves_admin_and_ctrl_c_leaves_nothing(tmp_path, browser):
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "run.log"
    launcher = start_launcher(data_dir, port, log)
    try:
        # the launcher prints where and how to log in
        banner = wait_for(lambda: "Press Ctrl-C" in log.read_text(), 180, "banner", log)
        assert banner
        output = log.read_text()
        url = re.search(r"Kizuki is running: (\S+)", output).group(1)
        username, password = re.search(r"Log in as: (\S+) / (\S+)", output).groups()
        assert url == f"http://127.0.0.1:{port}/admin/"

        # a worker heartbeat shows in /healthz, and beat is up
        health = wait_for(
            lambda: (h := healthz(port)) and h["status"] == "ok" and h, 60, "healthy", log
        )
        assert health["worker"]["status"] == "ok"
        # beat reports itself as soon as it starts, not after its first 30 s tick
        wait_for(lambda: (h := healthz(port)) and h["beat"]["status"] == "ok", 20, "beat", log)

        # a person logs in, in Japanese, with the printed credentials
        driver = browser("ja")
        driver.get(url)
        driver.find_element("name", "username").send_keys(username)
        driver.find_element("name", "password").send_keys(password)
        driver.find_element("css selector", "input[type=submit]").click()
        # #user-tools appears once logged in (the implicit wait covers the page load)
        assert "ログアウト" in driver.find_element("id", "user-tools").text
        assert "Kizuki" in driver.title

        # manage.py in another terminal works against the same embedded services
        second = manage_shell(
            data_dir,
            port,
            "from django.contrib.auth.models import User; "
            "User.objects.create_user('from-terminal', password='x-terminal-pass')",
        )
        assert second.returncode == 0, second.stderr
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 5  # gunicorn + workers, celery worker + pool, beat
        assert processes_using(data_dir)  # postgres and redis
    finally:
        # Ctrl-C
        launcher.send_signal(signal.SIGINT)
        launcher.wait(60)

    assert launcher.returncode == 0
    assert "Nothing is left running" in log.read_text()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    wait_for(lambda: not processes_using(data_dir), 20, "no process left", log)

    # running it again keeps the data
    port = free_port()
    log2 = tmp_path / "run2.log"
    launcher = start_launcher(data_dir, port, log2)
    try:
        wait_for(lambda: "Press Ctrl-C" in log2.read_text(), 120, "banner", log2)
        assert "Demo company already loaded" in log2.read_text()
        check = manage_shell(
            data_dir,
            port,
            "from django.contrib.auth.models import User; "
            "print(User.objects.filter(username='from-terminal').count())",
        )
        assert check.stdout.strip().splitlines()[-1] == "1", check.stderr
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(60)
    wait_for(lambda: not processes_using(data_dir), 20, "no process left", log2)


def test_busy_port_says_how_to_pick_another(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ma_core.launcher"],
            cwd=BASE_DIR,
            env=launcher_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"Port {port} is already in use" in result.stdout
    assert f"PORT={port + 1} make run" in result.stdout
    assert not processes_using(tmp_path)
