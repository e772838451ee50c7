"""The API root and the API's own 404 (JSON, in the shared error shape)."""

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ApiRootView(APIView):
    """Lists the collections this Kizuki serves."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        links = {}
        for name in ("lead", "segment", "event", "score-rule", "tag-adjustment"):
            try:
                links[name + "s"] = request.build_absolute_uri(reverse(f"api:{name}-list"))
            except NoReverseMatch:
                continue
        return Response(
            {
                "version": "1",
                "schema": request.build_absolute_uri(reverse("api-schema")),
                "collections": links,
            }
        )
