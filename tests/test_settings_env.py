"""Settings come only from environment variables; production fails loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "KIZUKI_MODE": "production",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "kizuki.example.com",
    "DATABASE_URL": "postgres://kizuki:secret@db.example.com:5432/kizuki",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.TIME_ZONE, s.LANGUAGE_CODE, s.DATABASES['default']['HOST'], "
    "s.CELERY_BROKER_URL, s.ALLOWED_HOSTS, s.EMAIL_BACKEND)"
)


def run_settings(env: dict[str, str], code: str = PRINT_SETTINGS) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    base.update({"DJANGO_SETTINGS_MODULE": "ma_core.settings", **env})
    base.pop("KIZUKI_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=base, cwd=BASE_DIR, capture_output=True, text=True
    )


def test_production_reads_everything_from_env():
    # given every required variable
    # when settings load
    result = run_settings(PRODUCTION_ENV)
    # then production defaults apply and the URLs are the ones given
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:4] == ["False", "Asia/Tokyo", "ja", "db.example.com"]
    assert "redis://cache.example.com:6379/0" in result.stdout
    assert "['kizuki.example.com']" in result.stdout
    assert "smtp.EmailBackend" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"])
def test_production_names_a_missing_variable(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_settings(env)
    assert result.returncode != 0
    assert f"Missing required environment variable {missing}" in result.stderr


def test_time_zone_and_language_are_configurable():
    result = run_settings({**PRODUCTION_ENV, "TIME_ZONE": "UTC", "LANGUAGE_CODE": "en"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:3] == ["UTC", "en"]


def test_a_database_that_is_not_postgresql_is_refused():
    result = run_settings({**PRODUCTION_ENV, "DATABASE_URL": "sqlite:///kizuki.db"})
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_unknown_mode_is_refused():
    result = run_settings({**PRODUCTION_ENV, "KIZUKI_MODE": "staging"})
    assert result.returncode != 0
    assert "KIZUKI_MODE must be development, test or production" in result.stderr


def test_email_url_sends_through_that_smtp_server(smtp_server):
    # given EMAIL_URL pointing at a real SMTP server on loopback
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "DEFAULT_FROM_EMAIL": "Kizuki <kizuki@example.com>",
    }
    code = (
        "import django; django.setup(); from django.core.mail import send_mail; "
        "send_mail('テスト', '本文です', None, ['rep@example.com'])"
    )
    # when Django sends a mail
    result = run_settings(env, code)
    # then the server received it, from the configured sender
    assert result.returncode == 0, result.stderr
    assert len(smtp_server.messages) == 1
    envelope = smtp_server.messages[0]
    assert envelope.mail_from == "kizuki@example.com"
    assert envelope.rcpt_tos == ["rep@example.com"]
