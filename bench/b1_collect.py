"""B1: /t/collect under load vs a bare "hello world" view, same gunicorn.

Figure: the highest request rate at which p99 ≤ 50 ms with no errors, each
request one page-view event, from a separate load-generator process on
loopback: wrk (C, one thread) when it is installed, else bench.loadgen.
Baseline: the same search for GET /bench/hello on the same server. The two
endpoints alternate at each concurrency level for several rounds, and each
level's rate is the median of its rounds, so a noisy neighbour hits both.
Also reported: event-to-row lag (seconds from the end of the load until
every accepted event is a row in PostgreSQL, drained during the load by one
writer run once a second, as beat runs it in production).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import dataset
from bench.harness import Figure
from ma_core.schedule import BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent
P99_LIMIT_MS = 50.0
SIZES = {
    # levels of concurrency, seconds per run, rounds
    "tiny": ([2, 8], 2.0, 1),
    "medium": ([2, 4, 8, 16], 5.0, 3),
    "full": ([2, 4, 8, 16, 32], 8.0, 3),
}
WRK = shutil.which("wrk")


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
    if WRK:
        env = dict(os.environ, KIZUKI_BODY=body or "", KIZUKI_ORIGIN="https://bench.example")
        argv = [WRK, "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency",
                "-s", str(BASE_DIR / "bench" / "wrk_report.lua"), url]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
        line = next(x for x in result.stdout.splitlines() if x.startswith('{"requests"'))
        return {"concurrency": concurrency, **json.loads(line)}
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--concurrency",
            str(concurrency), "--seconds", str(seconds)]  # fmt: skip
    if body:
        argv += ["--body", body, "--origin", "https://bench.example"]
    result = subprocess.run(argv, cwd=BASE_DIR, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def _best_rate(runs: dict[int, list[dict]]) -> tuple[float, bool]:
    """Per level the median of its rounds; the best level that kept p99 ≤ 50 ms
    (median) with no errors, and True. When no level kept that latency (a
    machine busy with other work), the best error-free level and False, so the
    figure still says what was served and the workload text says the limit was
    missed."""
    within, any_level = 0.0, 0.0
    for rounds in runs.values():
        if any(r["errors"] for r in rounds):
            continue
        rate = statistics.median(r["rate"] for r in rounds)
        any_level = max(any_level, rate)
        if statistics.median(r["p99_ms"] for r in rounds) <= P99_LIMIT_MS:
            within = max(within, rate)
    return (within, True) if within else (any_level, False)


def run(size: dict) -> list[Figure]:
    from django.db import connection

    from tracking import writer
    from tracking.models import Event, Site

    name = size["name"]
    levels, seconds, rounds = SIZES[name]
    site, _ = Site.objects.get_or_create(name="bench", defaults={"domains": ["bench.example"]})
    if site.domains != ["bench.example"]:
        site.domains = ["bench.example"]
        site.save()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_event")
    dataset.forget()
    writer.redis_client().delete(writer.STREAM)
    body = json.dumps(
        {"site": site.key, "visitor": "bench-visitor",
         "events": [{"id": "__UUID__", "type": "page_view",
                     "url": "https://bench.example/pricing", "title": "料金"}]}
    )  # fmt: skip

    stop = threading.Event()

    # The writer drains as beat makes it in production: ``drain_events`` once
    # a second (``ma_core.schedule``), each run storing what has arrived in
    # batches of up to 5,000. (Draining again the moment a run ends, as this
    # bench did before, stores a batch of a few events at a time, each with
    # the same fixed cost in statements, and took CPU from the server.)
    interval = BEAT_SCHEDULE["tracking-drain-events"]["schedule"]

    def drain_loop():
        while not stop.wait(interval):
            writer.drain()

    port = _free_port()
    server = _start_server(port)
    drainer = threading.Thread(target=drain_loop, daemon=True)
    drainer.start()
    try:
        hello_url = f"http://127.0.0.1:{port}/bench/hello"
        collect_url = f"http://127.0.0.1:{port}/t/collect"
        _load(hello_url, 2, 1.0)  # warm both processes up
        warm = _load(collect_url, 2, 1.0, body)
        hello_runs: dict[int, list[dict]] = {c: [] for c in levels}
        collect_runs: dict[int, list[dict]] = {c: [] for c in levels}
        for _round in range(rounds):
            for c in levels:
                hello_runs[c].append(_load(hello_url, c, seconds))
                collect_runs[c].append(_load(collect_url, c, seconds, body))
        (hello_rate, hello_ok), (collect_rate, collect_ok) = (
            _best_rate(hello_runs),
            _best_rate(collect_runs),
        )
        # Every answered request was accepted (202) unless counted as an error;
        # wrk may stop with a few requests in flight, so rows can exceed this.
        every = [warm, *(r for runs in collect_runs.values() for r in runs)]
        accepted = sum(r["requests"] - r["errors"] for r in every)
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
            workload=f"POST /t/collect, 1 page view per request, load by "
            f"{'wrk' if WRK else 'bench.loadgen'} ({len(levels)} levels x {rounds} rounds x "
            f"{seconds:g} s); stored {stored}/{accepted}, event-to-row lag {lag:.2f} s"
            + ("" if hello_ok else "; no hello level kept p99 ≤ 50 ms")
            + ("" if collect_ok else "; no collect level kept p99 ≤ 50 ms"),
            figure="max rate with p99 ≤ 50 ms, no errors",
            unit="req/s",
            value=collect_rate,
            baseline="GET hello-world view, same gunicorn",
            baseline_value=hello_rate,
            samples=[r["rate"] for runs in collect_runs.values() for r in runs],
            baseline_samples=[r["rate"] for runs in hello_runs.values() for r in runs],
        )
    ]
