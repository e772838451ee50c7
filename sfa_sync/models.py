"""SFA handoff: connectors, the outbox of handoffs and field syncs, inbound won/lost.

Exactly once: a lead is handed to a connector once (``SyncLink`` under
UNIQUE (lead, connector)); every push is an ``OutboxItem`` with a state a
retry can see, at most one *pending* row per (lead, connector, kind) so
changes coalesce; the dispatcher claims rows by a conditional UPDATE.
kintone writes are upserts by ``updateKey``, so a retry after a crash
updates the record the first try created instead of adding a second one.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Company, Lead


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class ConnectorKind(models.TextChoices):
    KINTONE = "kintone", _("kintone")
    WEBHOOK = "webhook", _("Webhook")
    DEALS = "deals", _("Built-in deals")


class DealStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


#: Kizuki fields a kintone field code can be mapped to (key → label).
MAPPABLE_FIELDS = {
    "lead_id": _("Kizuki lead id"),
    "email": _("email"),
    "last_name": _("last name (姓)"),
    "first_name": _("first name (名)"),
    "full_name": _("name"),
    "company": _("company name"),
    "phone": _("phone"),
    "title": _("job title"),
    "score": _("score"),
    "rank": _("rank"),
    "tags": _("tags"),
    "owner": _("owner"),
    "owner_email": _("owner's email"),
    "last_activity": _("last activity"),
    "stage": _("stage"),
    "lead_url": _("link to the lead in Kizuki"),
}


def default_field_map() -> dict:
    return {
        "lead_id": "kizuki_lead_id",
        "email": "email",
        "full_name": "name",
        "company": "company",
        "phone": "phone",
        "score": "score",
        "rank": "rank",
        "tags": "tags",
        "owner": "owner",
        "last_activity": "last_activity",
        "lead_url": "kizuki_url",
    }


def default_status_map() -> dict:
    return {"受注": "won", "失注": "lost", "商談中": "open"}


class Connector(models.Model):
    """Where handed-off leads go: a kintone app, a webhook, or Kizuki's own deal list."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=ConnectorKind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    handoff_on_hot = models.BooleanField(
        _("hand over when the rank becomes HOT"),
        default=False,
        help_text=_("Besides an activity with the result “opportunity” and the lead-page button."),
    )
    # -- kintone
    base_url = models.URLField(
        _("kintone base URL"),
        max_length=300,
        blank=True,
        default="",
        help_text=_("e.g. https://example.cybozu.com"),
    )
    app_id = models.PositiveIntegerField(_("kintone app ID"), null=True, blank=True)
    guest_space_id = models.PositiveIntegerField(
        _("guest space ID"),
        null=True,
        blank=True,
        help_text=_("Only when the app is in a guest space."),
    )
    api_token = models.CharField(
        _("API token"),
        max_length=500,
        blank=True,
        default="",
        help_text=_("Needs view, add and edit permissions on the app. Never shown again."),
    )
    update_key_field = models.CharField(
        _("update key field code"),
        max_length=100,
        blank=True,
        default="kizuki_lead_id",
        help_text=_(
            "A single-line text or number field with “Prohibit duplicate values”; "
            "it holds the value of the Kizuki field mapped to it (the lead id or email)."
        ),
    )
    field_map = models.JSONField(
        _("field mapping"),
        default=default_field_map,
        blank=True,
        help_text=_("Kizuki field → kintone field code (a JSON object), e.g. score → score."),
    )
    updated_time_field = models.CharField(
        _("updated-time field code"), max_length=100, blank=True, default="更新日時"
    )
    deal_status_field = models.CharField(
        _("deal status field code"), max_length=100, blank=True, default=""
    )
    status_map = models.JSONField(
        _("deal status values"),
        default=default_status_map,
        blank=True,
        help_text=_(
            "kintone value → won, lost or open (a JSON object), e.g. 受注 → won, 失注 → lost."
        ),
    )
    daily_request_budget = models.PositiveIntegerField(
        _("daily request budget"),
        default=9000,
        help_text=_(
            "kintone allows 10,000 requests per app and day; Kizuki stops at this "
            "many and resumes the next day (nothing is lost)."
        ),
    )
    # -- webhook
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True, default="")
    webhook_secret = models.CharField(
        _("webhook signing secret"),
        max_length=100,
        default=new_webhook_secret,
        blank=True,
        help_text=_("Signs each body (HMAC-SHA256); inbound deal updates must be signed with it."),
    )
    # -- delivery
    max_attempts = models.PositiveIntegerField(
        _("attempts before parking"),
        default=12,
        help_text=_("With the backoff (30 s doubling up to 1 h) 12 tries span about 6 hours."),
    )
    # -- bookkeeping (kept by the services)
    requests_day = models.DateField(null=True, blank=True, editable=False)
    requests_today = models.PositiveIntegerField(_("requests today"), default=0, editable=False)
    inbound_cursor = models.DateTimeField(_("inbound synced up to"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("SFA connector")
        verbose_name_plural = _("SFA connectors")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def api_token_hint(self) -> str:
        """What the admin shows of the token: its last four characters."""
        if not self.api_token:
            return ""
        return "••••" + self.api_token[-4:] if len(self.api_token) > 8 else "••••"

    @property
    def records_url(self) -> str:
        base = self.base_url.rstrip("/")
        if self.guest_space_id:
            return f"{base}/k/guest/{self.guest_space_id}/v1/records.json"
        return f"{base}/k/v1/records.json"


class SyncLink(models.Model):
    """A lead handed to a connector (once), what was last pushed and the deal's status."""

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="sfa_links"
    )
    connector = models.ForeignKey(
        Connector, verbose_name=_("connector"), on_delete=models.CASCADE, related_name="links"
    )
    handed_off_at = models.DateTimeField(_("handed over at"), default=timezone.now)
    reason = models.CharField(_("reason"), max_length=50, blank=True, default="")
    external_id = models.CharField(_("record ID in the SFA"), max_length=100, blank=True)
    last_pushed_at = models.DateTimeField(_("last pushed at"), null=True, blank=True)
    pushed_score = models.IntegerField(_("score last pushed"), null=True, blank=True)
    deal_status = models.CharField(
        _("deal status"), max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN
    )
    deal_status_at = models.DateTimeField(_("deal status at"), null=True, blank=True)

    class Meta:
        verbose_name = _("handed-over lead")
        verbose_name_plural = _("handed-over leads")
        ordering = ["-handed_off_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead", "connector"], name="sfa_synclink_once"),
        ]
        permissions = [("handoff_lead", _("Can hand a lead to the SFA"))]

    def __str__(self) -> str:
        return f"{self.lead} → {self.connector}"


class OutboxKind(models.TextChoices):
    HANDOFF = "handoff", _("Handoff")
    UPDATE = "update", _("Update")


class OutboxState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class OutboxItem(models.Model):
    """One push of a lead to a connector. At most one pending row per
    (lead, connector, kind): a change while one waits joins it (the record
    is built from the lead when it is sent)."""

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+"
    )
    connector = models.ForeignKey(
        Connector, verbose_name=_("connector"), on_delete=models.CASCADE, related_name="outbox"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=OutboxKind.choices)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("outbox item")
        verbose_name_plural = _("outbox")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "connector", "kind"],
                condition=Q(state="pending"),
                name="sfa_outbox_one_pending",
            ),
            # A lead is handed to a connector once, whatever state the row is in.
            models.UniqueConstraint(
                fields=["lead", "connector"],
                condition=Q(kind="handoff"),
                name="sfa_outbox_one_handoff",
            ),
        ]
        indexes = [
            # The claim walks this in order and stops after a batch.
            models.Index(
                fields=["connector", "next_attempt_at", "id"],
                name="sfa_outbox_due",
                condition=Q(state="pending"),
            ),
            # "Is a row of this lead in flight?", asked for each candidate of a claim.
            models.Index(
                fields=["lead", "connector"],
                name="sfa_outbox_in_flight",
                condition=Q(state="sending"),
            ),
            models.Index(
                fields=["claimed_at"], name="sfa_outbox_sending", condition=Q(state="sending")
            ),
            models.Index(fields=["lead", "-finished_at"], name="sfa_outbox_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.lead_id} → {self.connector_id}"


class InboundUpdate(models.Model):
    """A deal status that came back from the SFA (kintone poll, webhook, built-in deal)."""

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+"
    )
    connector = models.ForeignKey(
        Connector,
        verbose_name=_("connector"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    status = models.CharField(_("deal status"), max_length=10, choices=DealStatus.choices)
    external_value = models.CharField(_("value in the SFA"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True, default="")
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("inbound deal update")
        verbose_name_plural = _("inbound deal updates")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["lead", "-received_at"], name="sfa_inbound_lead")]


class DealStage(models.TextChoices):
    QUALIFICATION = "qualification", _("Qualification")
    PROPOSAL = "proposal", _("Proposal")
    NEGOTIATION = "negotiation", _("Negotiation")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


OPEN_DEAL_STAGES = (DealStage.QUALIFICATION, DealStage.PROPOSAL, DealStage.NEGOTIATION)


class Deal(models.Model):
    """Kizuki's own deal list, for teams without an SFA."""

    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="deals"
    )
    connector = models.ForeignKey(
        Connector,
        verbose_name=_("connector"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    name = models.CharField(_("deal name"), max_length=200, blank=True, default="")
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    stage = models.CharField(
        _("stage"), max_length=20, choices=DealStage.choices, default=DealStage.QUALIFICATION
    )
    amount = models.DecimalField(
        _("amount (yen)"), max_digits=14, decimal_places=0, null=True, blank=True
    )
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    close_reason = models.CharField(_("won/lost reason"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(stage__in=["qualification", "proposal", "negotiation"]),
                name="sfa_deal_one_open_per_lead",
            ),
        ]

    def __str__(self) -> str:
        return self.name or str(self.lead)

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_DEAL_STAGES
