"""API routes of tracking, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tracking import apis

router = SimpleRouter()
router.register("sites", apis.SiteViewSet, basename="site")
router.register("forms", apis.FormViewSet, basename="form")
router.register("popups", apis.PopupViewSet, basename="popup")
router.register("slots", apis.SlotViewSet, basename="slot")

urlpatterns = [
    path("events/", apis.EventsView.as_view(), name="event-list"),
    path("identify/", apis.IdentifyView.as_view(), name="identify"),
    path("leads/<int:lead_pk>/events/", apis.LeadEventsView.as_view(), name="lead-events"),
    *router.urls,
]
