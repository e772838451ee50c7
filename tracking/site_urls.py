"""Public tracking endpoints, mounted at the site root (DESIGN.md's contract)."""

from django.urls import path

from tracking import form_views, personalization_views, snippet, views

urlpatterns = [
    path("t.js", snippet.snippet_js, name="tracking-snippet"),
    path("t/collect", views.collect, name="tracking-collect"),
    path("t/px.gif", views.pixel, name="tracking-pixel"),
    path("t/x.js", snippet.extras_js, name="tracking-extras"),
    path("t/decide", personalization_views.decide, name="tracking-decide"),
    path("t/popup", personalization_views.popup_action, name="tracking-popup"),
    path("f/<slug:key>/", form_views.form_page, name="tracking-form"),
    path("f/<slug:key>/confirm/", form_views.form_confirm_resend, name="tracking-form-resend"),
    path(
        "f/<slug:key>/confirm/<str:token>/", form_views.form_confirm, name="tracking-form-confirm"
    ),
    path("f/<slug:key>/asset/<str:token>/", form_views.form_asset, name="tracking-form-asset"),
]
