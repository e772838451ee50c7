"""API routes of leads, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from leads import apis

router = SimpleRouter()
router.register("leads", apis.LeadViewSet, basename="lead")
router.register("companies", apis.CompanyViewSet, basename="company")
router.register("tags", apis.TagViewSet, basename="tag")
router.register("custom-fields", apis.CustomFieldViewSet, basename="custom-field")
router.register("activity-choices", apis.ActivityChoiceViewSet, basename="activity-choice")
router.register("lists", apis.StaticListViewSet, basename="list")
router.register("segments", apis.SegmentViewSet, basename="segment")
router.register("imports", apis.ImportJobViewSet, basename="import")

lead_activities = apis.LeadActivityViewSet.as_view({"get": "list", "post": "create"})

lead_consents = apis.LeadConsentViewSet.as_view({"get": "list", "post": "create"})
lead_suppressions = apis.LeadSuppressionViewSet.as_view({"get": "list", "post": "create"})
lift_suppression = apis.LeadSuppressionViewSet.as_view({"post": "lift"})

urlpatterns = [
    path("leads/<int:lead_pk>/consents/", lead_consents, name="lead-consents"),
    path("leads/<int:lead_pk>/suppressions/", lead_suppressions, name="lead-suppressions"),
    path(
        "leads/<int:lead_pk>/suppressions/<int:pk>/lift/",
        lift_suppression,
        name="lead-suppression-lift",
    ),
    path("leads/<int:lead_pk>/activities/", lead_activities, name="lead-activities"),
    *router.urls,
]
