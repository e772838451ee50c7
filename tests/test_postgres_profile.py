"""Kizuki's PostgreSQL settings: sized by memory, used by the embedded
server, and the same in docker-compose.yml."""

from pathlib import Path

import psycopg2
import pytest
import yaml

from ma_core.embedded import EmbeddedPostgres
from ma_core.postgres_profile import GB, MB, embedded_memory, parse_size, server_settings

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8GB", 8 * GB),
        ("512MB", 512 * MB),
        ("2g", 2 * GB),
        ("1.5 GB", int(1.5 * GB)),
        ("1024", 1024),
    ],
)
def test_sizes_are_read_as_an_operator_writes_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "8 GiB", "-1GB"])
def test_a_size_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_a_bad_memory_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("KIZUKI_POSTGRES_MEMORY", "half")
    with pytest.raises(ValueError, match="KIZUKI_POSTGRES_MEMORY: not a size: 'half'"):
        embedded_memory()
    monkeypatch.setenv("KIZUKI_POSTGRES_MEMORY", "4GB")
    assert embedded_memory() == 4 * GB


def test_buffers_are_a_quarter_of_memory_within_bounds():
    assert server_settings(8 * GB)["shared_buffers"] == "2048MB"
    assert server_settings(8 * GB)["effective_cache_size"] == "6144MB"
    # a small machine never goes under PostgreSQL's own default …
    assert server_settings(256 * MB)["shared_buffers"] == "128MB"
    # … and a huge one stops at 16 GB of buffers
    assert server_settings(256 * GB)["shared_buffers"] == "16384MB"


def test_docker_compose_passes_the_settings_for_an_8_gb_host():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    command = compose["services"]["postgres"]["command"]
    assert command[0] == "postgres"
    flags, values = command[1::2], command[2::2]
    assert len(flags) == len(values) and set(flags) == {"-c"}
    passed = dict(value.split("=", 1) for value in values)
    assert passed == server_settings(8 * GB)


def test_the_embedded_server_runs_with_the_settings(tmp_path, monkeypatch):
    # given a server allowed 1 GB
    monkeypatch.setenv("KIZUKI_POSTGRES_MEMORY", "1GB")
    server = EmbeddedPostgres(tmp_path)
    try:
        conn = psycopg2.connect(server.ensure_running())
        with conn.cursor() as cur:
            cur.execute(
                "SELECT name, setting, unit FROM pg_settings "
                "WHERE name IN ('shared_buffers', 'max_wal_size', 'wal_compression')"
            )
            running = {name: (setting, unit) for name, setting, unit in cur.fetchall()}
        conn.close()
    finally:
        server.stop()
    # then it uses a quarter of it for buffers (8 kB pages) and checkpoints by time
    assert running["shared_buffers"] == (str(256 * MB // 8192), "8kB")
    assert running["max_wal_size"] == (str(8 * 1024), "MB")
    assert running["wal_compression"][0] in {"on", "pglz"}
