"""The tracking endpoints skip the session, auth, CSRF and messages layers.

Every page view of every customer site hits ``/t/collect`` or ``/t/px.gif``;
neither reads a session, a user, a CSRF token or flash messages, and those
layers cost more than the endpoint's own work. This middleware sits right
after the security and static-file layers and answers the two paths itself,
with the language taken from the request as LocaleMiddleware would.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation


class TrackingFastPath:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from tracking import views

        self.get_response = get_response
        self.views = {"/t/collect": views.collect, "/t/px.gif": views.pixel}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path_info)
        if view is None:
            return self.get_response(request)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request)
        response.headers.setdefault("Content-Language", language)
        return response
