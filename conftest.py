"""Fixtures shared by every app's tests: real Redis, a real Celery worker,
a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ma_core.launcher import _die_with_parent as die_with_parent

BASE_DIR = Path(__file__).resolve().parent

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def redis_client() -> redis_lib.Redis:
    """The test Redis database, emptied before the test."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


def service_env(**overrides: str) -> dict[str, str]:
    """Environment for a child process (worker, server) using the test services."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "ma_core.settings",
            "KIZUKI_MODE": "test",
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{db['NAME']}"
            ),
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


class WorkerProcess:
    """A real ``celery worker`` in a child process, against the test services."""

    def __init__(self, *queues: str, concurrency: int = 1, pool: str = "prefork") -> None:
        self.queues = queues or ("default", "tracking", "mail", "sync")
        self.concurrency = concurrency
        self.pool = pool
        self.proc: subprocess.Popen | None = None
        self.log_path = BASE_DIR / "var" / "test-worker.log"

    def start(self, env: dict[str, str], ready_timeout: float = 60) -> WorkerProcess:
        from ma_core.health import WORKER_KEY_PREFIX

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "ma_core", "worker",
                "-Q", ",".join(self.queues),
                "--pool", self.pool,
                "--concurrency", str(self.concurrency),
                "--hostname", f"test-{os.getpid()}@%h",
                "--without-gossip", "--without-mingle",
                "--loglevel", "INFO",
            ],
            env=env, cwd=BASE_DIR, stdout=self.log, stderr=subprocess.STDOUT,
            # Its own process group (kill() takes the pool too), and SIGTERM if
            # this test run dies, so no worker outlives the run.
            preexec_fn=die_with_parent,
        )  # fmt: skip
        client = redis_lib.Redis.from_url(settings.REDIS_URL)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if any(client.scan_iter(match=WORKER_KEY_PREFIX + f"test-{os.getpid()}@*")):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool: what a crashed machine does."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if hasattr(self, "log"):
            self.log.close()


@pytest.fixture
def celery_worker_process(redis_client):
    """Start real Celery workers for the test; stopped afterwards."""
    workers: list[WorkerProcess] = []

    def start(*queues: str, env: dict[str, str] | None = None, **kwargs) -> WorkerProcess:
        worker = WorkerProcess(*queues, **kwargs).start(service_env(**(env or {})))
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def browser():
    """Headless Debian Chromium driven by Selenium through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    drivers = []

    def open_browser(language: str = "ja"):
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--lang={language}")
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.implicitly_wait(5)
        drivers.append(driver)
        return driver

    yield open_browser
    for driver in drivers:
        driver.quit()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(autouse=True)
def _empty_unmanaged_tables(request, django_db_blocker):
    """Transactional tests end with a flush, which skips unmanaged tables; the
    partitioned event table is one, so empty it here."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
        or (marker and marker.kwargs.get("transaction"))
    )
    if transactional:
        from django.db import connection

        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE tracking_event")


def api_client_for(role: str, username: str) -> APIClient:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def marketer_api(db) -> APIClient:
    return api_client_for("Marketer", "api-marketer")


@pytest.fixture
def sales_api(db) -> APIClient:
    return api_client_for("Sales rep", "api-sales")


@pytest.fixture
def inside_api(db) -> APIClient:
    return api_client_for("Inside sales", "api-inside")


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Code called directly from a test speaks English, so tests can read its
    messages; requests still get the visitor's language (Japanese by default)
    from LocaleMiddleware, which is what the i18n and page tests check."""
    from django.utils import translation

    with translation.override("en"):
        yield
