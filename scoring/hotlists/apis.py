"""REST API of the HOT lists (/api/v1/): lists CRUD for marketers, "run now",
and the weeks with their members (read) for the roles that may see them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from leads.models import Segment
from ma_core.api_permissions import ChangePermissions, RolePermissions
from scoring.hotlists import selectors, services
from scoring.hotlists.models import HotList, HotListRun


def _raise(exc: DjangoValidationError):
    raise serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    ) from exc


class HotListSerializer(serializers.ModelSerializer):
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all())
    team = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=get_user_model().objects.filter(is_active=True)
    )
    report_recipients = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=get_user_model().objects.filter(is_active=True)
    )

    class Meta:
        model = HotList
        fields = [
            "id", "name", "segment", "activity_source", "is_active",
            "publish_weekday", "publish_time", "remind_weekday", "remind_time",
            "report_weekday", "report_time", "team", "report_recipients", "top_count",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        checked = (
            "publish_weekday", "publish_time", "remind_weekday", "remind_time",
            "report_weekday", "report_time", "top_count",
        )  # fmt: skip
        candidate = HotList(
            **{
                name: attrs.get(name, getattr(self.instance, name, None))
                if self.instance is not None or name in attrs
                else HotList._meta.get_field(name).get_default()
                for name in checked
            }
        )
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            _raise(exc)
        return attrs


class HotListRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = HotListRun
        fields = [
            "id", "hot_list", "week_start", "generated_at", "refreshed_at",
            "member_count", "carried_over_count",
        ]  # fmt: skip


class HotListViewSet(viewsets.ModelViewSet):
    """HOT lists: a saved search, a weekly schedule (Asia/Tokyo by default) and
    recipients. ``POST /hot-lists/{id}/run/`` makes this week's list now."""

    permission_classes = [RolePermissions]
    serializer_class = HotListSerializer
    queryset = HotList.objects.select_related("segment").prefetch_related(
        "team", "report_recipients"
    )
    pagination_class = None

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def run(self, request, pk=None):
        hot_list = self.get_object()
        try:
            run = services.hot_list_run_now(hot_list=hot_list, by=request.user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {"segment": [_("The saved search has errors: %(errors)s")
                             % {"errors": " ".join(exc.messages)}]}
            ) from exc  # fmt: skip
        return Response(HotListRunSerializer(run).data, status=status.HTTP_200_OK)


class HotListRunViewSet(viewsets.ReadOnlyModelViewSet):
    """The weeks of every list; ``/members/`` the members the caller may see."""

    permission_classes = [RolePermissions]
    serializer_class = HotListRunSerializer
    queryset = HotListRun.objects.select_related("hot_list")
    pagination_class = None

    def get_queryset(self):
        queryset = super().get_queryset()
        hot_list = self.request.query_params.get("hot_list")
        if hot_list and hot_list.isdigit():
            queryset = queryset.filter(hot_list_id=int(hot_list))
        return queryset

    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        run = self.get_object()
        members = selectors.members_visible_to(request.user, selectors.run_members(run))
        return Response(
            {
                "count": len(members),
                "results": [selectors.member_row(m) for m in members],
            }
        )
