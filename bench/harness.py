"""The benchmark harness: sizes, medians, baselines, results on disk.

These machines are shared and noisy, so every figure is the median of
several runs and is reported as a ratio to a baseline measured in the same
run, never as a bare time.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

SIZES = {
    # name: (leads, events, repeats)
    "tiny": {"leads": 1_000, "events": 20_000, "repeats": 5},
    "medium": {"leads": 100_000, "events": 3_000_000, "repeats": 5},
    "full": {"leads": 1_000_000, "events": 30_000_000, "repeats": 3},
}


@dataclass
class Figure:
    bench_id: str
    workload: str
    figure: str
    unit: str
    value: float
    baseline: str
    baseline_value: float
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")


def median_seconds(fn: Callable[[], object], repeats: int, inner: int = 1) -> list[float]:
    """Time ``fn`` ``inner`` times per sample, ``repeats`` samples; seconds per call."""
    fn()  # warm up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - started) / inner)
    return samples


def machine() -> dict:
    import django
    import psutil

    return {
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
    }


def write_results(size: str, figures: list[Figure], out_dir: Path, docs: Path | None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    payload = {
        "size": size,
        "machine": machine(),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    path = out_dir / f"bench-{size}-{stamp}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
    if docs is not None:
        write_table(docs, payload)
    return path


def write_table(docs: Path, payload: dict) -> None:
    """Replace this size's section of docs/benchmarks.md with the new table."""
    m = payload["machine"]
    lines = [
        f"## Size `{payload['size']}` — last run {time.strftime('%Y-%m-%d')}",
        "",
        f"Machine: {m['cpu_count']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"Django {m['django']}, {m['platform']}.",
        "",
        "| id | workload | figure | value | baseline (same run) | baseline value | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in payload["figures"]:
        lines.append(
            f"| {f['bench_id']} | {f['workload']} | {f['figure']} | "
            f"{f['value']:.4g} {f['unit']} | {f['baseline']} | "
            f"{f['baseline_value']:.4g} {f['unit']} | {f['ratio']:.2f} |"
        )
    section = "\n".join(lines) + "\n"
    header = (
        "# Benchmarks\n\nWritten by `make bench` (`SIZE=tiny|medium|full`). Each figure is a "
        "median of several runs; judge it by the ratio to its baseline, measured in the same "
        "run on the same machine.\n\n"
    )
    text = docs.read_text() if docs.exists() else header
    marker = f"## Size `{payload['size']}`"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## Size `", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    docs.write_text(text)
