from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ma_core import api, views
from scoring.hotlists import urls as hotlist_urls

api_v1 = [
    path("", api.ApiRootView.as_view(), name="api-root"),
    path("", include("leads.urls")),
    path("", include("tracking.urls")),
    path("", include("scoring.urls")),
    path("", include(hotlist_urls.api_urlpatterns)),
    path("", include("scenarios.urls")),
    path("", include("sfa_sync.urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("tracking.site_urls")),
    path("", include("scenarios.site_urls")),
    path("anymail/", include("anymail.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("workbench/", include(hotlist_urls)),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]


handler404 = "ma_core.views.not_found"
