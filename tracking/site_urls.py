"""Public tracking endpoints, mounted at the site root (DESIGN.md's contract)."""

from django.urls import path

from tracking import snippet, views

urlpatterns = [
    path("t.js", snippet.snippet_js, name="tracking-snippet"),
    path("t/collect", views.collect, name="tracking-collect"),
    path("t/px.gif", views.pixel, name="tracking-pixel"),
]
