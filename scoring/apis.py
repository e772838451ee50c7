"""REST API of scoring: rules, fit rules, tag adjustments, thresholds, explanation."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.models import Lead, Tag
from leads.selectors import leads_visible_to
from leads.services import tags_ensure
from ma_core.api_pagination import IdCursorPagination
from ma_core.api_permissions import RolePermissions
from scoring import services
from scoring.models import FitRule, ScoreRule, ScoringSettings, TagAdjustment
from scoring.selectors import lead_explanation, lead_score_history, score_day_events


def _raise(exc: DjangoValidationError):
    raise serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    ) from exc


class ScoreRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoreRule
        fields = [
            "id",
            "name",
            "event_type",
            "url_pattern",
            "form_key",
            "points",
            "daily_cap",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        merged = {
            name: attrs.get(name, getattr(self.instance, name, default))
            for name, default in (
                ("event_type", ""),
                ("url_pattern", ""),
                ("points", None),
                ("daily_cap", None),
            )
        }
        try:
            services.check_score_rule(**merged)
        except DjangoValidationError as exc:
            _raise(exc)
        return attrs


class ScoreRuleViewSet(viewsets.ModelViewSet):
    """Behaviour rules. Creating or changing one rescores every lead in the background."""

    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = ScoreRuleSerializer
    queryset = ScoreRule.objects.all()

    def perform_create(self, serializer):
        with transaction.atomic():
            services.score_rule_saved(serializer.save())

    def perform_update(self, serializer):
        with transaction.atomic():
            services.score_rule_saved(serializer.save())

    def perform_destroy(self, instance):
        with transaction.atomic():
            instance.delete()
            services.rescore_in_background(reason=f"rule {instance.pk} deleted")


class FitRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = FitRule
        fields = ["id", "name", "condition", "points", "is_active"]

    def validate_condition(self, value):
        from leads.segments import get_block

        if not isinstance(value, dict):
            raise serializers.ValidationError(_("Give a condition object."))
        try:
            return get_block("attribute").validate({k: v for k, v in value.items() if k != "kind"})
        except DjangoValidationError as exc:
            _raise(exc)


class FitRuleViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = FitRuleSerializer
    queryset = FitRule.objects.all()
    pagination_class = None

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save()
            services.rescore_in_background(reason="fit rules changed")

    perform_update = perform_create

    def perform_destroy(self, instance):
        with transaction.atomic():
            instance.delete()
            services.rescore_in_background(reason="fit rules changed")


class TagAdjustmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    tag = serializers.CharField(max_length=100)
    points = serializers.IntegerField()

    def to_representation(self, instance):
        return {"id": instance.pk, "tag": instance.tag.name, "points": instance.points}

    def validate_points(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError(_("An adjustment of 0 points changes nothing."))
        return value


class TagAdjustmentViewSet(viewsets.ModelViewSet):
    """While a lead has the tag its score moves by the points (失注 −50)."""

    permission_classes = [RolePermissions]
    serializer_class = TagAdjustmentSerializer
    queryset = TagAdjustment.objects.select_related("tag")
    pagination_class = None

    def perform_create(self, serializer):
        with transaction.atomic():
            tag = tags_ensure([serializer.validated_data["tag"]])[
                serializer.validated_data["tag"].strip()
            ]
            if TagAdjustment.objects.filter(tag=tag).exists():
                raise serializers.ValidationError(
                    {"tag": [_("This tag has an adjustment already; change that one.")]}
                )
            serializer.instance = TagAdjustment.objects.create(
                tag=tag, points=serializer.validated_data["points"]
            )
            services.rescore_in_background(reason=f"tag {tag.name} adjustment")

    def perform_update(self, serializer):
        with transaction.atomic():
            adjustment = serializer.instance
            name = serializer.validated_data.get("tag", adjustment.tag.name).strip()
            adjustment.tag = Tag.objects.filter(name=name).first() or tags_ensure([name])[name]
            adjustment.points = serializer.validated_data.get("points", adjustment.points)
            adjustment.save()
            services.rescore_in_background(reason=f"tag {name} adjustment")

    def perform_destroy(self, instance):
        with transaction.atomic():
            instance.delete()
            services.rescore_in_background(reason="tag adjustment removed")


class ScoringSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoringSettings
        fields = ["hot_min", "warm_min", "window_days"]

    def validate(self, attrs):
        candidate = ScoringSettings(
            **{
                name: attrs.get(name, getattr(self.instance, name))
                for name in ("hot_min", "warm_min", "window_days")
            }
        )
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            _raise(exc)
        return attrs


class ScoringSettingsView(APIView):
    """GET/PATCH the rank thresholds and window (a change rescores everyone)."""

    permission_classes = [RolePermissions]
    queryset = ScoringSettings.objects.all()

    def get(self, request: Request) -> Response:
        return Response(ScoringSettingsSerializer(ScoringSettings.current()).data)

    def patch(self, request: Request) -> Response:
        row = ScoringSettings.current()
        data = ScoringSettingsSerializer(row, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        window_days = row.window_days
        with transaction.atomic():
            data.save()
            services.rescore_in_background(
                reason="thresholds or window changed",
                recount_all=data.instance.window_days != window_days,
            )
        return Response(data.data)


class LeadScoreView(APIView):
    """GET /leads/{id}/score/: why the lead has its score ("why is this lead HOT?"),
    plus ``history``: its daily score and rank over the last 90 days."""

    permission_classes = [RolePermissions]
    queryset = Lead.objects.all()

    def get(self, request: Request, lead_pk: int) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        return Response({**lead_explanation(lead), "history": lead_score_history(lead)})


class LeadScoreEventsView(APIView):
    """GET /leads/{id}/score/events/?rule=<id>&day=<YYYY-MM-DD>: the events behind
    one line of the explanation (one rule on one day)."""

    permission_classes = [RolePermissions]
    queryset = Lead.objects.all()

    class InputSerializer(serializers.Serializer):
        rule = serializers.IntegerField()
        day = serializers.DateField()

    def get(self, request: Request, lead_pk: int) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        rule = ScoreRule.objects.filter(pk=data.validated_data["rule"]).first()
        if rule is None:
            raise serializers.ValidationError({"rule": [_("There is no such score rule.")]})
        events = score_day_events(lead=lead, rule=rule, day=data.validated_data["day"])
        return Response({"rule": rule.pk, "day": data.validated_data["day"], "events": events})
