"""Admin of sfa_sync: connectors (Admin role), the outbox with its errors and a
retry action, handed-over leads, deal updates and Kizuki's own deal list."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from leads.models import Lead
from sfa_sync.models import (
    Connector,
    Deal,
    DealStage,
    InboundUpdate,
    OutboxItem,
    OutboxState,
    SyncLink,
)
from sfa_sync.services import (
    HandoffReason,
    check_connector,
    check_deal_close,
    deal_close,
    handoff_request,
    outbox_retry,
)

CHECKED_FIELDS = [
    "kind",
    "base_url",
    "app_id",
    "api_token",
    "update_key_field",
    "field_map",
    "deal_status_field",
    "status_map",
    "webhook_url",
    "webhook_secret",
    "daily_request_budget",
    "max_attempts",
]


class ConnectorForm(forms.ModelForm):
    """The API token is write-only: the field starts empty, empty keeps the
    stored token, and only its last characters are ever shown."""

    api_token = forms.CharField(
        label=gettext_lazy("API token"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy("Leave empty to keep the stored token."),
    )

    class Meta:
        model = Connector
        fields = [
            "name",
            "kind",
            "is_active",
            "handoff_on_hot",
            "max_attempts",
            "base_url",
            "app_id",
            "guest_space_id",
            "api_token",
            "update_key_field",
            "field_map",
            "deal_status_field",
            "status_map",
            "updated_time_field",
            "daily_request_budget",
            "webhook_url",
            "webhook_secret",
        ]

    def clean_api_token(self) -> str:
        token = (self.cleaned_data.get("api_token") or "").strip()
        return token or (self.instance.api_token if self.instance.pk else "")

    def clean(self):
        cleaned = super().clean()
        values = {
            name: cleaned.get(name, getattr(self.instance, name, None)) for name in CHECKED_FIELDS
        }
        try:
            check_connector(**values)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    form = ConnectorForm
    list_display = ["name", "kind", "is_active", "handoff_on_hot", "token_hint", "requests_today"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["token_hint", "requests_today", "inbound_cursor"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active", "handoff_on_hot", "max_attempts"]}),
        (
            gettext_lazy("kintone"),
            {
                "fields": [
                    "base_url",
                    "app_id",
                    "guest_space_id",
                    "api_token",
                    "token_hint",
                    "update_key_field",
                    "field_map",
                    "deal_status_field",
                    "status_map",
                    "updated_time_field",
                    "daily_request_budget",
                    "requests_today",
                    "inbound_cursor",
                ]
            },
        ),
        (gettext_lazy("Webhook"), {"fields": ["webhook_url", "webhook_secret"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        """Those who may only view a connector see neither the token (not even
        read-only) nor the signing secret."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        hidden = {"api_token", "webhook_secret"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    @admin.display(description=gettext_lazy("stored API token"))
    def token_hint(self, obj: Connector) -> str:
        return obj.api_token_hint or "—"


@admin.register(OutboxItem)
class OutboxItemAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "lead",
        "connector",
        "kind",
        "state",
        "attempts",
        "next_attempt_at",
        "finished_at",
        "short_error",
    ]
    list_filter = ["state", "kind", "connector"]
    list_select_related = ["lead", "connector"]
    search_fields = ["lead__email"]
    actions = ["retry"]
    readonly_fields = [
        "lead",
        "connector",
        "kind",
        "pretty_payload",
        "state",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "finished_at",
        "last_error",
        "created_at",
    ]
    exclude = ["payload"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=gettext_lazy("last error"))
    def short_error(self, obj: OutboxItem) -> str:
        return obj.last_error[:120]

    @admin.display(description=gettext_lazy("payload"))
    def pretty_payload(self, obj: OutboxItem) -> str:
        return json.dumps(obj.payload, ensure_ascii=False, indent=2)

    @admin.action(
        description=gettext_lazy("Retry the selected failed items"), permissions=["change"]
    )
    def retry(self, request, queryset) -> None:
        failed = list(queryset.filter(state=OutboxState.FAILED).values_list("pk", flat=True))
        count = outbox_retry(item_ids=failed)
        self.message_user(
            request,
            ngettext(
                "%(count)d item will be sent again.", "%(count)d items will be sent again.", count
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(SyncLink)
class SyncLinkAdmin(admin.ModelAdmin):
    list_display = [
        "lead",
        "connector",
        "handed_off_at",
        "reason",
        "last_pushed_at",
        "pushed_score",
        "deal_status",
    ]
    list_filter = ["connector", "deal_status"]
    list_select_related = ["lead", "connector"]
    search_fields = ["lead__email"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "handoff/<int:lead_id>/",
                self.admin_site.admin_view(self.handoff_view),
                name="sfa_sync_synclink_handoff",
            ),
            *super().get_urls(),
        ]

    def handoff_view(self, request: HttpRequest, lead_id: int):
        """The lead page's button: hand the lead over now (or re-send it)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("sfa_sync.handoff_lead"):
            raise PermissionDenied
        lead = get_object_or_404(Lead, pk=lead_id)
        if not Connector.objects.filter(is_active=True).exists():
            self.message_user(request, _("No active SFA connector is set up."), messages.ERROR)
        elif handoff_request(lead_id=lead.pk, reason=HandoffReason.MANUAL):
            self.message_user(request, _("The lead is being handed over to the SFA."))
        else:
            self.message_user(
                request, _("The lead was already handed over; its data is being sent again.")
            )
        return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[lead.pk]) + "#sfa")


@admin.register(InboundUpdate)
class InboundUpdateAdmin(admin.ModelAdmin):
    list_display = ["lead", "connector", "status", "external_value", "reason", "received_at"]
    list_filter = ["status", "connector"]
    list_select_related = ["lead", "connector"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DealForm(forms.ModelForm):
    class Meta:
        model = Deal
        fields = [
            "lead",
            "name",
            "company",
            "owner",
            "stage",
            "amount",
            "expected_close",
            "close_reason",
        ]

    def clean(self):
        cleaned = super().clean()
        stage = cleaned.get("stage")
        if stage in (DealStage.WON, DealStage.LOST) and (
            not self.instance.pk or self.instance.stage != stage
        ):
            try:
                check_deal_close(stage=stage, reason=cleaned.get("close_reason") or "")
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return cleaned


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    form = DealForm
    list_display = ["__str__", "lead", "company", "owner", "stage", "amount", "expected_close"]
    list_filter = ["stage"]
    list_select_related = ["lead", "company", "owner"]
    search_fields = ["name", "lead__email", "company__name"]
    raw_id_fields = ["lead"]
    actions = ["mark_won"]

    def save_model(self, request, obj: Deal, form, change) -> None:
        closing = obj.stage in (DealStage.WON, DealStage.LOST)
        previous = Deal.objects.filter(pk=obj.pk).values_list("stage", flat=True).first()
        if not closing or previous == obj.stage:
            super().save_model(request, obj, form, change)
            return
        # Saved open first, then closed through the service so the lead follows.
        target, reason = obj.stage, obj.close_reason
        obj.stage = previous or DealStage.QUALIFICATION
        super().save_model(request, obj, form, change)
        closed = deal_close(deal=obj, stage=target, reason=reason)
        obj.stage, obj.closed_at = closed.stage, closed.closed_at

    @admin.action(description=gettext_lazy("Mark the selected deals won"), permissions=["change"])
    def mark_won(self, request, queryset) -> None:
        count = 0
        for deal in queryset.exclude(stage=DealStage.WON).order_by("pk"):
            deal_close(deal=deal, stage=DealStage.WON)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d deal marked won.", "%(count)d deals marked won.", count)
            % {"count": count},
        )
