"""B1: /t/collect under load vs a bare "hello world" view, same gunicorn.

Figure: the highest request rate at which p99 ≤ 50 ms with no errors, each
request one page-view event, from a separate load-generator process on
loopback. Baseline: the same search for GET /bench/hello on the same server.
Also reported: event-to-row lag (seconds from the end of the load until
every accepted event is a row in PostgreSQL, drained by one writer).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.harness import Figure

BASE_DIR = Path(__file__).resolve().parent.parent
P99_LIMIT_MS = 50.0
SIZES = {
    "tiny": ([2, 4], 2.0),
    "medium": ([1, 2, 4, 8, 16], 8.0),
    "full": ([1, 2, 4, 8, 16, 32], 15.0),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(os.cpu_count() or 2), "--threads", "4",
         "--no-control-socket", "--log-level", "warning"],
        cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn did not start: {proc.stderr.read().decode()[-2000:]}")


def _load(url: str, concurrency: int, seconds: float, body: str | None = None) -> dict:
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--concurrency",
            str(concurrency), "--seconds", str(seconds)]  # fmt: skip
    if body:
        argv += ["--body", body, "--origin", "https://bench.example"]
    result = subprocess.run(argv, cwd=BASE_DIR, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def _best_rate(url: str, levels: list[int], seconds: float, body: str | None) -> tuple[float, list]:
    runs = [_load(url, c, seconds, body) for c in levels]
    ok = [r for r in runs if r["errors"] == 0 and r["p99_ms"] <= P99_LIMIT_MS]
    best = max((r["rate"] for r in ok), default=0.0)
    return best, runs


def run(size: dict) -> list[Figure]:
    from django.db import connection

    from tracking import writer
    from tracking.models import Event, Site

    name = size["name"]
    levels, seconds = SIZES[name]
    site, _ = Site.objects.get_or_create(name="bench", defaults={"domains": ["bench.example"]})
    if site.domains != ["bench.example"]:
        site.domains = ["bench.example"]
        site.save()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_event")
    writer.redis_client().delete(writer.STREAM)
    body = json.dumps(
        {"site": site.key, "visitor": "bench-visitor",
         "events": [{"id": "__UUID__", "type": "page_view",
                     "url": "https://bench.example/pricing", "title": "料金"}]}
    )  # fmt: skip

    stop = threading.Event()

    def drain_loop():
        while not stop.is_set():
            if not writer.drain():
                time.sleep(0.05)

    port = _free_port()
    server = _start_server(port)
    drainer = threading.Thread(target=drain_loop, daemon=True)
    drainer.start()
    try:
        hello_rate, hello_runs = _best_rate(
            f"http://127.0.0.1:{port}/bench/hello", levels, seconds, None
        )
        collect_rate, collect_runs = _best_rate(
            f"http://127.0.0.1:{port}/t/collect", levels, seconds, body
        )
        accepted = sum(r["requests"] - r["errors"] for r in collect_runs)
        load_end = time.monotonic()
        while Event.objects.count() < accepted and time.monotonic() - load_end < 120:
            time.sleep(0.05)
        lag = time.monotonic() - load_end
        stored = Event.objects.count()
    finally:
        stop.set()
        server.terminate()
        server.wait(10)
    return [
        Figure(
            bench_id="B1",
            workload=f"POST /t/collect, 1 page view per request ({len(levels)} levels x "
            f"{seconds:g} s); stored {stored}/{accepted}, event-to-row lag {lag:.2f} s",
            figure="max rate with p99 ≤ 50 ms, no errors",
            unit="req/s",
            value=collect_rate,
            baseline="GET hello-world view, same gunicorn",
            baseline_value=hello_rate,
            samples=[r["rate"] for r in collect_runs],
            baseline_samples=[r["rate"] for r in hello_runs],
        )
    ]
