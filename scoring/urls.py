"""API routes of scoring, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scoring import apis

router = SimpleRouter()
router.register("score-rules", apis.ScoreRuleViewSet, basename="score-rule")
router.register("fit-rules", apis.FitRuleViewSet, basename="fit-rule")
router.register("tag-adjustments", apis.TagAdjustmentViewSet, basename="tag-adjustment")

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
