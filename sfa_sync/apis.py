"""REST API of sfa_sync, under /api/v1/: connectors (CRUD, the API token
write-only), the outbox (read, retry), deals (CRUD, closing won/lost), a
handoff per lead, and the signed inbound webhook for deal statuses."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.selectors import leads_visible_to
from ma_core.api_errors import api_response_error
from ma_core.api_pagination import IdCursorPagination
from ma_core.api_permissions import ChangePermissions, RolePermissions
from sfa_sync import webhook
from sfa_sync.admin import CHECKED_FIELDS
from sfa_sync.models import (
    Connector,
    ConnectorKind,
    Deal,
    DealStage,
    DealStatus,
    OutboxItem,
    SyncLink,
)
from sfa_sync.services import (
    HandoffReason,
    check_connector,
    check_deal_close,
    deal_close,
    deal_statuses_apply,
    handoff_request,
    outbox_retry,
)


class ConnectorSerializer(serializers.ModelSerializer):
    api_token = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=True
    )
    api_token_hint = serializers.CharField(read_only=True)

    class Meta:
        model = Connector
        fields = [
            "id",
            "name",
            "kind",
            "is_active",
            "handoff_on_hot",
            "base_url",
            "app_id",
            "guest_space_id",
            "api_token",
            "api_token_hint",
            "update_key_field",
            "field_map",
            "updated_time_field",
            "deal_status_field",
            "status_map",
            "daily_request_budget",
            "requests_today",
            "webhook_url",
            "webhook_secret",
            "max_attempts",
            "inbound_cursor",
            "created_at",
        ]
        read_only_fields = ["requests_today", "inbound_cursor", "created_at"]
        extra_kwargs = {"webhook_secret": {"required": False}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and not request.user.has_perm("sfa_sync.change_connector"):
            data.pop("webhook_secret", None)
        return data

    def validate(self, attrs):
        if not attrs.get("api_token") and self.instance is not None:
            attrs.pop("api_token", None)  # empty keeps the stored token
        defaults = {f.name: f.get_default() for f in Connector._meta.fields}
        merged = {
            name: attrs.get(name, getattr(self.instance, name, defaults.get(name)))
            for name in CHECKED_FIELDS
        }
        try:
            check_connector(**merged)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class ConnectorViewSet(viewsets.ModelViewSet):
    """SFA connectors: kintone, webhook, built-in deals. The API token is never answered."""

    permission_classes = [RolePermissions]
    serializer_class = ConnectorSerializer
    queryset = Connector.objects.all()
    pagination_class = None


class OutboxItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboxItem
        fields = [
            "id",
            "lead",
            "connector",
            "kind",
            "payload",
            "state",
            "attempts",
            "next_attempt_at",
            "finished_at",
            "last_error",
            "created_at",
        ]


class OutboxItemViewSet(viewsets.ReadOnlyModelViewSet):
    """The outbox, newest first; ``?state=failed``, ``?lead=``, ``?connector=`` filter.
    ``POST …/{id}/retry/`` sends a parked row again."""

    permission_classes = [RolePermissions]
    serializer_class = OutboxItemSerializer
    pagination_class = IdCursorPagination
    queryset = OutboxItem.objects.all()

    def get_queryset(self):
        queryset = OutboxItem.objects.filter(lead__in=leads_visible_to(self.request.user))
        params = self.request.query_params
        if params.get("state"):
            queryset = queryset.filter(state=params["state"])
        for name in ("lead", "connector"):
            if params.get(name, "").isdigit():
                queryset = queryset.filter(**{f"{name}_id": int(params[name])})
        return queryset

    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def retry(self, request, pk=None):
        item = self.get_object()
        if item.state != "failed":
            return api_response_error(
                "not_failed", _("Only a failed item can be retried."), status.HTTP_409_CONFLICT
            )
        outbox_retry(item_ids=[item.pk])
        item.refresh_from_db()
        return Response(self.get_serializer(item).data)


class DealSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deal
        fields = [
            "id",
            "lead",
            "connector",
            "name",
            "company",
            "owner",
            "stage",
            "amount",
            "expected_close",
            "closed_at",
            "close_reason",
            "created_at",
        ]
        read_only_fields = ["closed_at", "created_at"]

    def validate_lead(self, lead):
        request = self.context.get("request")
        if request is not None and not leads_visible_to(request.user).filter(pk=lead.pk).exists():
            raise serializers.ValidationError(_("No such lead."))
        return lead

    def validate(self, attrs):
        stage = attrs.get("stage")
        previous = self.instance.stage if self.instance else None
        if stage in (DealStage.WON, DealStage.LOST) and stage != previous:
            reason = attrs.get("close_reason", getattr(self.instance, "close_reason", ""))
            try:
                check_deal_close(stage=stage, reason=reason or "")
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class DealViewSet(viewsets.ModelViewSet):
    """Kizuki's own deal list. Setting ``stage`` to ``won`` or ``lost`` (with
    ``close_reason``) closes the deal and moves the lead (customer / 失注)."""

    permission_classes = [RolePermissions]
    serializer_class = DealSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        return Deal.objects.filter(lead__in=leads_visible_to(self.request.user))

    def _save(self, serializer) -> None:
        stage = serializer.validated_data.get("stage")
        previous = serializer.instance.stage if serializer.instance else None
        closing = stage in (DealStage.WON, DealStage.LOST) and stage != previous
        with transaction.atomic():
            if closing:
                serializer.validated_data["stage"] = previous or DealStage.QUALIFICATION
            deal = serializer.save()
            if closing:
                serializer.instance = deal_close(
                    deal=deal, stage=stage, reason=deal.close_reason or ""
                )

    perform_create = _save
    perform_update = _save


class CanHandOver(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("sfa_sync.handoff_lead")


class LeadHandoffView(APIView):
    """``POST /api/v1/leads/{id}/handoff/`` hands the lead to the SFA (or re-sends it)."""

    permission_classes = [IsAuthenticated, CanHandOver]

    def post(self, request, lead_pk: int):
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        if not Connector.objects.filter(is_active=True).exists():
            return api_response_error(
                "no_connector", _("No active SFA connector is set up."), status.HTTP_409_CONFLICT
            )
        queued = handoff_request(lead_id=lead.pk, reason=HandoffReason.API)
        links = SyncLink.objects.filter(lead=lead).values("connector", "handed_off_at")
        return Response(
            {"lead": lead.pk, "handed_over": bool(queued), "links": list(links)},
            status=status.HTTP_202_ACCEPTED,
        )


class InboundDealStatusView(APIView):
    """The SFA tells Kizuki a deal's status: ``{"lead": id, "status":
    "won"|"lost"|"open", "reason"}``, signed like Kizuki's own webhooks
    (X-Kizuki-Timestamp, X-Kizuki-Signature). A bad signature: 401, nothing changes."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request, pk: int):
        connector = Connector.objects.filter(
            pk=pk, kind=ConnectorKind.WEBHOOK, is_active=True
        ).first()
        body = request.body
        if connector is None or not webhook.signature_valid(
            connector.webhook_secret,
            request.headers.get("X-Kizuki-Timestamp", ""),
            body,
            request.headers.get("X-Kizuki-Signature", ""),
        ):
            return api_response_error(
                "bad_signature",
                _("The signature is missing, wrong or too old."),
                status.HTTP_401_UNAUTHORIZED,
            )
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return api_response_error(
                "invalid", _("Send a JSON object."), status.HTTP_400_BAD_REQUEST
            )
        errors = {}
        lead_id = data.get("lead")
        if not isinstance(lead_id, int) or isinstance(lead_id, bool):
            errors["lead"] = [_("Give the Kizuki lead id (a number).")]
        if data.get("status") not in DealStatus.values:
            errors["status"] = [
                _("Use one of: %(values)s.") % {"values": ", ".join(DealStatus.values)}
            ]
        if errors:
            return api_response_error(
                "invalid", _("Some fields are not valid; see fields."), 400, errors
            )
        if not SyncLink.objects.filter(lead_id=lead_id, connector=connector).exists():
            return api_response_error(
                "not_found", _("This lead was not handed over to this connector."), 404
            )
        changed = deal_statuses_apply(
            connector=connector,
            statuses={lead_id: (data["status"], data["status"])},
            reason=str(data.get("reason", ""))[:500],
        )
        return Response({"lead": lead_id, "status": data["status"], "changed": bool(changed)})
