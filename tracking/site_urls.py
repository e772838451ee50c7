"""Public tracking endpoints, mounted at the site root (DESIGN.md's contract)."""

from django.urls import path

from tracking import views

urlpatterns = [
    path("t/collect", views.collect, name="tracking-collect"),
    path("t/px.gif", views.pixel, name="tracking-pixel"),
]
