"""Hot-lead alerts (社内アラート): rules, the alerts they raised, and each send.

Exactly once per (lead, rule, cooldown window): ``AlertWindow`` holds one row
per (rule, lead) whose ``opened_at`` only moves forward once the cooldown has
passed (an ``INSERT … ON CONFLICT DO UPDATE … WHERE`` in one statement), and
the ``Alert`` row is written with it under UNIQUE (rule, lead, window_start)
before anything is sent. Each channel and recipient is an ``AlertDelivery``
with a state a retry can see (pending → sending → sent / failed), claimed by
a conditional UPDATE; every try is kept in ``AlertAttempt`` (the alert's log).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Lead


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class AlertTrigger(models.TextChoices):
    BECAME_HOT = "became_hot", _("Rank becomes HOT")
    SCORE_CROSSED = "score_crossed", _("Score reaches a threshold")
    RETURNED = "returned_after_absence", _("Returns after an absence")
    FORM_SUBMITTED = "form_submitted", _("Submits a form")
    PAGE_VISITED = "page_visited", _("Visits a page")


class AlertRule(models.Model):
    """When to alert whom, through which channels, and how often per lead."""

    name = models.CharField(_("name"), max_length=200)
    trigger = models.CharField(_("trigger"), max_length=30, choices=AlertTrigger.choices)
    score_threshold = models.IntegerField(
        _("score threshold"),
        null=True,
        blank=True,
        help_text=_("For “Score reaches a threshold”: alert when the score rises to this."),
    )
    absence_days = models.PositiveIntegerField(
        _("days away"),
        default=60,
        help_text=_("For “Returns after an absence”: the previous visit at least this long ago."),
    )
    form_key = models.CharField(
        _("form"),
        max_length=50,
        blank=True,
        default="",
        help_text=_("For “Submits a form”: the form's key; empty = any form."),
    )
    url_pattern = models.CharField(
        _("URL pattern"),
        max_length=500,
        blank=True,
        default="",
        help_text=_("For “Visits a page”: part of the URL, * for any characters: /pricing"),
    )
    # The SQL LIKE form of url_pattern, kept by the services (never typed).
    url_like = models.CharField(max_length=600, blank=True, default="", editable=False)
    notify_owner = models.BooleanField(
        _("notify the lead's owner"),
        default=True,
        help_text=_("A lead without an owner alerts the Inside sales group instead."),
    )
    extra_emails = ArrayField(
        models.EmailField(max_length=254),
        verbose_name=_("also email"),
        default=list,
        blank=True,
        help_text=_("Fixed addresses, separated by commas."),
    )
    send_email = models.BooleanField(_("send email"), default=True)
    slack_webhook_url = models.URLField(
        _("Slack incoming webhook URL"), max_length=500, blank=True, default=""
    )
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True, default="")
    webhook_secret = models.CharField(
        _("webhook signing secret"),
        max_length=100,
        default=new_webhook_secret,
        help_text=_("Signs each webhook body (HMAC-SHA256) so the receiver can check it."),
    )
    cooldown_days = models.PositiveIntegerField(
        _("cooldown (days)"),
        default=7,
        help_text=_("At most one alert per lead and rule within this many days."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from scoring.alerts.services import check_alert_rule

        try:
            check_alert_rule(
                trigger=self.trigger,
                score_threshold=self.score_threshold,
                absence_days=self.absence_days,
                form_key=self.form_key,
                url_pattern=self.url_pattern,
                send_email=self.send_email,
                notify_owner=self.notify_owner,
                extra_emails=self.extra_emails,
                slack_webhook_url=self.slack_webhook_url,
                webhook_url=self.webhook_url,
                cooldown_days=self.cooldown_days,
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc


class AlertWindow(models.Model):
    """The cooldown key: when the current window of (rule, lead) opened."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "lead"], name="scoring_alertwindow_once"),
        ]


class AlertScoreMark(models.Model):
    """A lead at or above a score rule's threshold when last looked at; it
    crosses again only after falling below (the mark is then removed)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "lead"], name="scoring_alertscoremark_once"),
        ]


class Alert(models.Model):
    """One alert: a rule fired for a lead, once per cooldown window."""

    rule = models.ForeignKey(
        AlertRule, verbose_name=_("alert rule"), on_delete=models.CASCADE, related_name="alerts"
    )
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="alerts"
    )
    window_start = models.DateTimeField(_("raised at"))
    reason = models.JSONField(_("reason"), default=dict, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-window_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "lead", "window_start"], name="scoring_alert_once_per_window"
            ),
        ]
        indexes = [models.Index(fields=["lead", "-window_start"], name="scoring_alert_lead")]

    def __str__(self) -> str:
        return f"{self.rule} → {self.lead}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class AlertChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SLACK = "slack", _("Slack")
    WEBHOOK = "webhook", _("Webhook")


class AlertDelivery(models.Model):
    """One send of an alert: a channel and a recipient (address or URL)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(_("channel"), max_length=10, choices=AlertChannel.choices)
    recipient = models.CharField(_("recipient"), max_length=500)
    language = models.CharField(_("language"), max_length=10, default="ja")
    state = models.CharField(
        _("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "recipient"], name="scoring_alertdelivery_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="scoring_alertdelivery_due",
                condition=models.Q(state__in=["pending", "sending"]),
            ),
        ]


class AlertAttempt(models.Model):
    """The log: every try of a delivery and how it went."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery_id", "number"]


class AlertPreference(models.Model):
    """A user's choices for the alerts they receive (the language of the email)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="alert_preference",
    )
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="ja"
    )

    class Meta:
        verbose_name = _("alert preference")
        verbose_name_plural = _("alert preferences")

    def __str__(self) -> str:
        return f"{self.user} ({self.language})"


__all__ = [
    "Alert",
    "AlertAttempt",
    "AlertChannel",
    "AlertDelivery",
    "AlertPreference",
    "AlertRule",
    "AlertScoreMark",
    "AlertTrigger",
    "AlertWindow",
    "DeliveryState",
]
