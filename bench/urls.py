"""Kizuki's URLs plus /bench/hello, the "hello world" baseline served the same way."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def hello(request):
    return JsonResponse({"hello": "world"})


urlpatterns = [
    path("bench/hello", hello),
    path("", include("ma_core.urls")),
]
