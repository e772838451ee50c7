"""Public mail endpoints, mounted at the site root (addresses in sent mail)."""

from django.urls import path

from scenarios import views

urlpatterns = [
    path("m/c/<str:token>/", views.click, name="mail-click"),
    path("m/o/<str:token>/px.gif", views.open_pixel, name="mail-open"),
    path("m/u/<str:token>/", views.unsubscribe, name="mail-unsubscribe"),
]
