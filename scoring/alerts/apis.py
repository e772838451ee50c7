"""REST API of alerts: rules (CRUD), the alerts raised with their sends and
log (read), users' alert language (CRUD). Mounted under /api/v1/."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers, viewsets

from leads.selectors import leads_visible_to
from ma_core.api_pagination import IdCursorPagination
from ma_core.api_permissions import RolePermissions
from scoring.alerts.models import Alert, AlertAttempt, AlertDelivery, AlertPreference, AlertRule
from scoring.alerts.services import alert_rule_saved, check_alert_rule

RULE_FIELDS = [
    "trigger",
    "score_threshold",
    "absence_days",
    "form_key",
    "url_pattern",
    "send_email",
    "notify_owner",
    "extra_emails",
    "slack_webhook_url",
    "webhook_url",
    "cooldown_days",
]


class AlertRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertRule
        fields = ["id", "name", *RULE_FIELDS, "webhook_secret", "is_active", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"webhook_secret": {"required": False}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        # The signing secret is for those who may change the rule, not every reader.
        if request is not None and not request.user.has_perm("scoring.change_alertrule"):
            data.pop("webhook_secret", None)
        return data

    def validate(self, attrs):
        defaults = {
            f.name: f.get_default() for f in AlertRule._meta.fields if f.name in RULE_FIELDS
        }
        merged = {
            name: attrs.get(name, getattr(self.instance, name, defaults.get(name)))
            for name in RULE_FIELDS
        }
        try:
            check_alert_rule(**merged)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class AlertRuleViewSet(viewsets.ModelViewSet):
    """Alert rules: trigger, recipients, channels, cooldown."""

    permission_classes = [RolePermissions]
    serializer_class = AlertRuleSerializer
    queryset = AlertRule.objects.all()
    pagination_class = None

    def perform_create(self, serializer):
        with transaction.atomic():
            alert_rule_saved(serializer.save())

    perform_update = perform_create


class AlertAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertAttempt
        fields = ["number", "at", "ok", "detail"]


class AlertDeliverySerializer(serializers.ModelSerializer):
    log = AlertAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "channel",
            "recipient",
            "language",
            "state",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "last_error",
            "log",
        ]


class AlertSerializer(serializers.ModelSerializer):
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "rule", "lead", "window_start", "reason", "deliveries"]


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts raised, newest first, with each send and its log. ``?lead=`` filters."""

    permission_classes = [RolePermissions]
    serializer_class = AlertSerializer
    pagination_class = IdCursorPagination
    queryset = Alert.objects.all()

    def get_queryset(self):
        queryset = Alert.objects.filter(lead__in=leads_visible_to(self.request.user))
        lead = self.request.query_params.get("lead", "")
        if lead.isdigit():
            queryset = queryset.filter(lead_id=int(lead))
        return queryset.prefetch_related("deliveries__log")


class AlertPreferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertPreference
        fields = ["id", "user", "language"]


class AlertPreferenceViewSet(viewsets.ModelViewSet):
    """The language each user reads alert emails in (default: the site language)."""

    permission_classes = [RolePermissions]
    serializer_class = AlertPreferenceSerializer
    queryset = AlertPreference.objects.all()
    pagination_class = None
