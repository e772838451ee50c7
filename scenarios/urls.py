"""API routes of scenarios, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scenarios import apis

router = SimpleRouter()
router.register("send-windows", apis.SendWindowViewSet, basename="send-window")
router.register("email-templates", apis.EmailTemplateViewSet, basename="email-template")
router.register("newsletters", apis.NewsletterViewSet, basename="newsletter")
router.register("sends", apis.SendViewSet, basename="send")
router.register("step-sequences", apis.StepSequenceViewSet, basename="step-sequence")
router.register("enrollments", apis.EnrollmentViewSet, basename="enrollment")
router.register("scenarios", apis.ScenarioViewSet, basename="scenario")
router.register(
    "scenario-enrollments", apis.ScenarioEnrollmentViewSet, basename="scenario-enrollment"
)

urlpatterns = [
    path("sender-profile/", apis.SenderProfileView.as_view(), name="sender-profile"),
    path("mail-stats/", apis.MailStatsView.as_view(), name="mail-stats"),
    *router.urls,
]
