"""`make bench` at the tiny size runs end to end, so the scripts never rot."""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def test_tiny_bench_writes_figures_with_baselines(tmp_path):
    docs = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--out", str(tmp_path),
         "--docs", str(docs)],
        cwd=BASE_DIR, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(next(tmp_path.glob("bench-tiny-*.json")).read_text())
    assert payload["machine"]["cpu_count"] >= 1
    ids = {f["bench_id"] for f in payload["figures"]}
    assert {"B0", "B1", "B2", "B3", "B4"} <= ids
    for figure in payload["figures"]:
        assert figure["value"] > 0 and figure["baseline_value"] > 0
        assert figure["ratio"] == figure["value"] / figure["baseline_value"]
    table = docs.read_text()
    assert "## Size `tiny`" in table and "| B0 |" in table
