"""Admin of alerts: rules marketers configure, alerts with their sends and log."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from scoring.alerts.models import Alert, AlertAttempt, AlertDelivery, AlertPreference, AlertRule
from scoring.alerts.services import alert_rule_saved


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger", "cooldown_days", "send_email", "is_active"]
    list_filter = ["trigger", "is_active"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        (
            _("Trigger"),
            {"fields": ["trigger", "score_threshold", "absence_days", "form_key", "url_pattern"]},
        ),
        (
            _("Recipients and channels"),
            {
                "fields": [
                    "notify_owner",
                    "extra_emails",
                    "send_email",
                    "slack_webhook_url",
                    "webhook_url",
                    "webhook_secret",
                ]
            },
        ),
        (_("Cooldown"), {"fields": ["cooldown_days"]}),
    ]

    def save_model(self, request, obj, form, change):
        # Model.clean (called by the form) ran check_alert_rule already.
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            alert_rule_saved(obj)


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["channel", "recipient", "language", "state", "attempts", "sent_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["window_start", "rule", "lead", "states"]
    list_filter = ["rule", "deliveries__state"]
    search_fields = ["lead__email", "lead__last_name", "lead__company_name"]
    list_select_related = ["rule", "lead"]
    readonly_fields = ["rule", "lead", "window_start", "reason", "delivery_log"]
    fields = readonly_fields
    inlines = [AlertDeliveryInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.display(description=_("sends"))
    def states(self, obj: Alert) -> str:
        return ", ".join(
            f"{d.get_channel_display()}: {d.get_state_display()}" for d in obj.deliveries.all()
        )

    @admin.display(description=_("log"))
    def delivery_log(self, obj: Alert) -> str:
        attempts = AlertAttempt.objects.filter(delivery__alert=obj).select_related("delivery")
        if not attempts:
            return _("Nothing tried yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(a.at).strftime("%Y-%m-%d %H:%M:%S"),
                    a.delivery.get_channel_display(),
                    a.number,
                    _("OK") if a.ok else _("Failed"),
                    a.detail,
                )
                for a in attempts.order_by("at", "pk")
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            _("time"),
            _("channel"),
            _("attempt"),
            _("result"),
            _("detail"),
            rows,
        )


@admin.register(AlertPreference)
class AlertPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "language"]
    autocomplete_fields = ["user"]
