"""API routes of scoring, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scoring import apis
from scoring.alerts import apis as alert_apis

router = SimpleRouter()
router.register("score-rules", apis.ScoreRuleViewSet, basename="score-rule")
router.register("fit-rules", apis.FitRuleViewSet, basename="fit-rule")
router.register("tag-adjustments", apis.TagAdjustmentViewSet, basename="tag-adjustment")
router.register("alert-rules", alert_apis.AlertRuleViewSet, basename="alert-rule")
router.register("alerts", alert_apis.AlertViewSet, basename="alert")
router.register("alert-preferences", alert_apis.AlertPreferenceViewSet, basename="alert-preference")

urlpatterns = [
    path("scoring-settings/", apis.ScoringSettingsView.as_view(), name="scoring-settings"),
    path("leads/<int:lead_pk>/score/", apis.LeadScoreView.as_view(), name="lead-score"),
    path(
        "leads/<int:lead_pk>/score/events/",
        apis.LeadScoreEventsView.as_view(),
        name="lead-score-events",
    ),
    *router.urls,
]
