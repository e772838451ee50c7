"""The JavaScript snippet customers paste: ``<script async src=…/t.js …>``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from tracking.models import Site

SOURCE = Path(__file__).resolve().parent / "static_src" / "kizuki.js"
EXTRAS = Path(__file__).resolve().parent / "static_src" / "extras.js"
CACHE_SECONDS = 3600


def endpoint_for(request: HttpRequest | None = None) -> str:
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return settings.PUBLIC_URL


def snippet_tag(site: Site) -> str:
    return format_html(
        '<script async src="{}/t.js?s={}" data-kizuki-site="{}"></script>',
        settings.PUBLIC_URL,
        site.key,
        site.key,
    )


@lru_cache(maxsize=1)
def _source() -> str:
    return SOURCE.read_text(encoding="utf-8")


def render_snippet(endpoint: str, *, respect_dnt: bool) -> str:
    return (
        _source()
        .replace("__ENDPOINT__", endpoint.replace('"', ""))
        .replace("__RESPECT_DNT__", "true" if respect_dnt else "false")
    )


def snippet_js(request: HttpRequest) -> HttpResponse:
    """GET /t.js?s=<site key>: the snippet, honouring Do Not Track / Global
    Privacy Control when that site asks for it."""
    respect = Site.objects.filter(key=request.GET.get("s", ""), respect_do_not_track=True).exists()
    body = render_snippet(endpoint_for(request), respect_dnt=respect)
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@lru_cache(maxsize=1)
def _extras() -> str:
    return EXTRAS.read_text(encoding="utf-8")


def extras_js(request: HttpRequest) -> HttpResponse:
    """GET /t/x.js: embedded forms, popups and personalized slots (loaded by t.js)."""
    response = HttpResponse(_extras(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
