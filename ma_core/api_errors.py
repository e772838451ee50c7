"""One error shape for the whole API: {"error": {"code", "message", "fields"}}.

Bad input is a 4xx with a message a marketer can act on, never a 500.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    return [str(detail)]


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {
            key: (_fields(value) if isinstance(value, dict) else _flatten(value))
            for key, value in detail.items()
            if key != "non_field_errors"
        }
    return {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _fields(detail)
        general = _flatten(detail.get("non_field_errors", [])) if isinstance(detail, dict) else []
        if isinstance(detail, list):
            general = _flatten(detail)
        message = general[0] if general else _("Some fields are not valid; see fields.")
        response.data = error_body("invalid", message, fields)
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if not isinstance(code, str):
            code = "error"
        response.data = error_body(code, " ".join(_flatten(getattr(exc, "detail", str(exc)))))
    return response


def json_not_found(request: HttpRequest, exception=None) -> JsonResponse:
    return JsonResponse(
        error_body("not_found", _("No such address.")), status=status.HTTP_404_NOT_FOUND
    )


def api_response_error(code: str, message: str, http_status: int, fields=None) -> Response:
    return Response(error_body(code, message, fields), status=http_status)
