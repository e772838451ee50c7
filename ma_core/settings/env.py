"""Reading configuration from environment variables.

Every variable Kizuki reads is declared in ``VARIABLES`` so the README table,
``.env.example`` and the docker-compose consistency test can all be checked
against one list. ``get_from_env`` fails loudly, naming the variable, when a
required one is missing (PostHog's pattern).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

_env = environ.Env()


@dataclass(frozen=True)
class Variable:
    name: str
    doc: str
    required_in_production: bool = False


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        Variable("KIZUKI_MODE", "development, test or production (default development)"),
        Variable("SECRET_KEY", "Django secret key", required_in_production=True),
        Variable("DEBUG", "true/false; default true in development, false in production"),
        Variable("ALLOWED_HOSTS", "comma-separated host names served", required_in_production=True),
        Variable("CSRF_TRUSTED_ORIGINS", "comma-separated origins (https://kizuki.example.com)"),
        Variable(
            "DATABASE_URL",
            "postgres://user:pass@host:5432/db; unset = embedded PostgreSQL",
            required_in_production=True,
        ),
        Variable(
            "REDIS_URL",
            "redis://host:6379/0; unset = embedded Redis",
            required_in_production=True,
        ),
        Variable("KIZUKI_DATA_DIR", "where embedded services keep data (default ./var)"),
        Variable("TIME_ZONE", "default Asia/Tokyo"),
        Variable("LANGUAGE_CODE", "default ja"),
        Variable("EMAIL_URL", "smtp://user:pass@host:587 (default: console in development)"),
        Variable("ANYMAIL_ESP", "an ESP known to django-anymail (sendgrid, amazon_ses, …)"),
        Variable("ANYMAIL_API_KEY", "the ESP's API key"),
        Variable("ANYMAIL_WEBHOOK_SECRET", "user:password guarding the ESP's tracking webhooks"),
        Variable("DEFAULT_FROM_EMAIL", "sender of system mail"),
        Variable("PUBLIC_URL", "the URL people reach Kizuki at, used in mail links"),
        Variable("LOG_LEVEL", "default INFO"),
        Variable("EVENT_RETENTION_MONTHS", "months of web events kept (default 25)"),
        Variable("ABSENCE_DAYS", "days away that make a visit a return (default 60)"),
        Variable("SCORE_WINDOW_DAYS", "initial rolling window of the score (default 90)"),
        Variable("TRUNCATE_IP", "store visitors' IPs truncated to /24 or /48 (default true)"),
    ]
}


def mode() -> str:
    value = os.environ.get("KIZUKI_MODE", "development").strip().lower()
    if value not in {"development", "test", "production"}:
        raise ImproperlyConfigured(
            f"KIZUKI_MODE must be development, test or production, not {value!r}."
        )
    return value


def get_from_env(name: str, default: object = None, *, cast: type | None = None) -> object:
    """Return the variable ``name`` cast to ``cast``.

    In production a variable declared ``required_in_production`` must be set;
    its absence stops the process with a message naming it.
    """
    if name not in VARIABLES:
        raise ImproperlyConfigured(f"{name} is read but not declared in ma_core.settings.env.")
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if VARIABLES[name].required_in_production and mode() == "production":
            raise ImproperlyConfigured(
                f"Missing required environment variable {name} "
                f"({VARIABLES[name].doc}). Set it, e.g. in .env, and start again."
            )
        return default
    if cast is bool:
        return _env.bool(name)
    if cast is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if cast is int:
        try:
            return int(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from exc
    return raw


def database_config(url: str) -> dict:
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] not in {
        "django.db.backends.postgresql",
        "django.db.backends.postgresql_psycopg2",
    }:
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…).")
    config["ENGINE"] = "django.db.backends.postgresql"
    return config


def email_config(url: str) -> dict:
    return environ.Env.email_url_config(url)
