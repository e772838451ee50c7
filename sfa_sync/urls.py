"""API routes of sfa_sync, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from sfa_sync import apis

router = SimpleRouter()
router.register("sfa-connectors", apis.ConnectorViewSet, basename="sfa-connector")
router.register("sfa-outbox", apis.OutboxItemViewSet, basename="sfa-outbox")
router.register("deals", apis.DealViewSet, basename="deal")

urlpatterns = [
    path(
        "sfa-connectors/<int:pk>/inbound/",
        apis.InboundDealStatusView.as_view(),
        name="sfa-connector-inbound",
    ),
    path("leads/<int:lead_pk>/handoff/", apis.LeadHandoffView.as_view(), name="lead-handoff"),
    *router.urls,
]
