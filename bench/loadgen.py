"""A small closed-loop HTTP load generator, run as its own process.

``python -m bench.loadgen --url URL --concurrency N --seconds S [--body FILE]``
prints JSON: requests, errors, rate (req/s), p50/p99 latency (ms). Each
thread keeps one connection alive and sends the next request as soon as the
previous one is answered.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit


def worker(url, body_template, headers, deadline, latencies, errors, lock):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    local, bad = [], 0
    while time.perf_counter() < deadline:
        body = body_template.replace("__UUID__", str(uuid.uuid4())) if body_template else None
        started = time.perf_counter()
        try:
            conn.request("POST" if body else "GET", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                bad += 1
        except (OSError, http.client.HTTPException):
            bad += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        local.append(time.perf_counter() - started)
    with lock:
        latencies.extend(local)
        errors.append(bad)


def run(url: str, concurrency: int, seconds: float, body: str | None, origin: str | None) -> dict:
    headers = {"Content-Type": "text/plain", "User-Agent": "Mozilla/5.0 (kizuki-bench) Chrome"}
    if origin:
        headers["Origin"] = origin
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    threads = [
        threading.Thread(
            target=worker, args=(url, body, headers, deadline, latencies, errors, lock)
        )
        for _ in range(concurrency)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0
        )

    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": sum(errors),
        "rate": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--body", default=None, help="request body; __UUID__ is replaced")
    parser.add_argument("--origin", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.url, args.concurrency, args.seconds, args.body, args.origin)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
