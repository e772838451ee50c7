"""``make bench`` → ``python -m bench --size tiny|medium|full``.

Uses its own database (the test database's name plus ``_bench``, so
``kizuki_bench`` by default) on the same server choice as the tests,
migrates it, runs every benchmark and writes JSON results under
bench/results/ plus the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    "bench.b0_web",
    "bench.b1_collect",
    "bench.b2_writer",
    "bench.b3_rescore",
    "bench.b4_hot_search",
    "bench.b5_newsletter",
    "bench.b6_dispatcher",
    "bench.b7_pages",
    "bench.b7_workbench",
    "bench.b8_sfa",
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--size", choices=["tiny", "medium", "full"], default="tiny")
    parser.add_argument("--out", type=Path, default=BASE_DIR / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=BASE_DIR / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--only", default="", help="comma-separated module names, e.g. b4_hot_search"
    )
    parser.add_argument(
        "--server",
        choices=["tests", "embedded"],
        default="tests",
        help="tests: the PostgreSQL the tests use (DATABASE_URL, else 127.0.0.1:5432, else "
        "embedded); embedded: a server of its own under var/bench-postgres started with "
        "Kizuki's PostgreSQL settings (ma_core.postgres_profile), left running so later "
        "runs reuse its dataset (python -m ma_core.embedded stop var/bench-postgres)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("KIZUKI_MODE", "test")
    if args.server == "embedded":
        from ma_core.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(BASE_DIR / "var" / "bench-postgres")
        os.environ["DATABASE_URL"] = server.ensure_running()
    from ma_core.testing.services import choose_services

    choose_services()
    base, name = os.environ["DATABASE_URL"].rsplit("/", 1)
    name = name.split("?", 1)[0]
    # Two checkouts on one server (CI beside a developer) never share a bench database.
    os.environ["DATABASE_URL"] = f"{base}/{name if name.endswith('_bench') else name + '_bench'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ma_core.settings")
    _create_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    import importlib

    from bench.harness import SIZES, write_results

    figures = []
    wanted = {f"bench.{n.strip()}" for n in args.only.split(",") if n.strip()}
    for name in BENCHMARKS:
        if wanted and name not in wanted:
            continue
        done = importlib.import_module(name).run({**SIZES[args.size], "name": args.size})
        figures.extend(done)
        # Printed as each benchmark ends, and saved as it goes: a long run that
        # fails late keeps what it measured.
        for f in done:
            print(
                f"{f.bench_id} {f.figure}: {f.value:.4g} {f.unit} vs {f.baseline} "
                f"{f.baseline_value:.4g} {f.unit} (ratio {f.ratio:.2f}) — {f.workload}",
                flush=True,
            )
        write_results(args.size, figures, args.out / "partial", None)
    path = write_results(args.size, figures, args.out, None if args.no_docs else args.docs)
    print(f"results: {path}")
    return 0


def _create_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    base, name = url.rsplit("/", 1)
    conn = psycopg2.connect(base + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
