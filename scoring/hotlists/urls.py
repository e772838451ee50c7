"""Routes: the workbench page and its JSON (mounted at /workbench/) and the
REST API (``api_urlpatterns``, mounted under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scoring.hotlists import apis, views

router = SimpleRouter()
router.register("hot-lists", apis.HotListViewSet, basename="hot-list")
router.register("hot-list-runs", apis.HotListRunViewSet, basename="hot-list-run")

api_urlpatterns = router.urls

urlpatterns = [
    path("", views.workbench, name="workbench"),
    path("api/runs/<int:run_id>/members/", views.members_json, name="workbench-members"),
    path("api/runs/<int:run_id>/assign/", views.bulk_assign_json, name="workbench-bulk-assign"),
    path("api/members/<int:member_id>/", views.member_json, name="workbench-member"),
    path(
        "api/members/<int:member_id>/assign/",
        views.member_assign_json,
        name="workbench-assign",
    ),
    path(
        "api/members/<int:member_id>/activities/",
        views.member_activity_json,
        name="workbench-activity",
    ),
    path(
        "api/members/<int:member_id>/remove/",
        views.member_remove_json,
        name="workbench-remove",
    ),
]
