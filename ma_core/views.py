from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from ma_core.api_errors import json_not_found
from ma_core.health import health_report
from ma_core.models import Organization
from ma_core.roles import ROLE_LABELS


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    roles = [
        ROLE_LABELS.get(name, name) for name in request.user.groups.values_list("name", flat=True)
    ]
    return render(
        request,
        "home.html",
        {"organization": Organization.objects.first(), "roles": roles},
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON for API clients, the usual page for people."""
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception)
