"""Wiring only: settings, URLs, the Celery app, roles, the home page."""

from .celery import app as celery_app

__all__ = ["celery_app"]
