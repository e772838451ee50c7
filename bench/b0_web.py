"""B0: the cost of Kizuki's request stack and health checks.

Figure: one ``GET /healthz`` (database, Redis and heartbeat checks through the
full middleware stack). Baseline: a bare Django view returning JSON through
the same stack, so the ratio is what the checks themselves cost.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.test import Client
from django.urls import clear_url_caches, path

from bench.harness import Figure, median_seconds


def hello(request):
    return JsonResponse({"hello": "world"})


urlpatterns = [path("bench/hello", hello)]


def run(size: dict) -> list[Figure]:
    from django.conf import settings

    from ma_core.health import record_worker_heartbeat

    record_worker_heartbeat("bench@local")
    client = Client(HTTP_HOST="localhost")
    inner = 50

    def get(url: str) -> None:
        response = client.get(url)
        # A benchmark of an error page measures nothing.
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:200]}")

    figure = median_seconds(lambda: get("/healthz"), size["repeats"], inner)
    original = settings.ROOT_URLCONF
    settings.ROOT_URLCONF = "bench.b0_web"
    clear_url_caches()
    try:
        baseline = median_seconds(lambda: get("/bench/hello"), size["repeats"], inner)
    finally:
        settings.ROOT_URLCONF = original
        clear_url_caches()
    to_ms = 1000
    return [
        Figure(
            bench_id="B0",
            workload="GET /healthz in process (DB + Redis + heartbeat checks)",
            figure="median latency",
            unit="ms",
            value=sorted(figure)[len(figure) // 2] * to_ms,
            baseline="bare JSON view, same middleware",
            baseline_value=sorted(baseline)[len(baseline) // 2] * to_ms,
            samples=[s * to_ms for s in figure],
            baseline_samples=[s * to_ms for s in baseline],
        )
    ]
