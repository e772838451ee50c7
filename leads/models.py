"""Lead management (リードマネジメント): the lead database every app writes into.

Writes go through ``leads.services``; reads through ``leads.selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.prefectures import PREFECTURE_CHOICES

# ``email__lower=…`` compiles to LOWER("email") = …, which the case-insensitive
# unique index serves (``email__iexact`` compiles to UPPER() and scans).
models.EmailField.register_lookup(Lower)


class Stage(models.TextChoices):
    AWARENESS = "awareness", _("Awareness (認知)")
    INTEREST = "interest", _("Interest (興味)")
    CONSIDERATION = "consideration", _("Consideration (検討)")
    TRIAL = "trial", _("Trial (トライアル)")
    CUSTOMER = "customer", _("Customer (導入)")
    RETENTION = "retention", _("Retention (継続)")
    ADVOCATE = "advocate", _("Advocate (ファン)")


class Rank(models.TextChoices):
    HOT = "HOT", "HOT"
    WARM = "WARM", "WARM"
    COLD = "COLD", "COLD"


class ActorKind(models.TextChoices):
    """Who or what made a change: shown on the timeline and in audits."""

    USER = "user", _("User")
    FORM = "form", _("Form")
    SCENARIO = "scenario", _("Scenario")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    SYSTEM = "system", _("System")
    SFA = "sfa", _("SFA")


class Company(models.Model):
    name = models.CharField(_("company name"), max_length=200)
    domain = models.CharField(_("domain"), max_length=253, blank=True, default="")
    industry = models.CharField(_("industry"), max_length=100, blank=True, default="")
    employee_count = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    capital = models.BigIntegerField(_("capital (yen)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"], condition=~Q(domain=""), name="leads_company_domain_unique"
            ),
        ]
        indexes = [models.Index(Lower("name"), name="leads_company_name_lower")]

    def __str__(self) -> str:
        return self.name


class Lead(models.Model):
    email = models.EmailField(_("email"), max_length=254)
    last_name = models.CharField(_("last name (姓)"), max_length=100, blank=True, default="")
    first_name = models.CharField(_("first name (名)"), max_length=100, blank=True, default="")
    last_name_kana = models.CharField(_("last name kana"), max_length=100, blank=True, default="")
    first_name_kana = models.CharField(_("first name kana"), max_length=100, blank=True, default="")
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,  # leads_lead_company; every index costs each score update
    )
    company_name = models.CharField(_("company name"), max_length=200, blank=True, default="")
    department = models.CharField(_("department"), max_length=200, blank=True, default="")
    title = models.CharField(_("job title"), max_length=200, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=40, blank=True, default="")
    industry = models.CharField(_("industry"), max_length=100, blank=True, default="")
    employee_count = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    capital = models.BigIntegerField(_("capital (yen)"), null=True, blank=True)
    prefecture = models.CharField(
        _("prefecture"), max_length=4, choices=PREFECTURE_CHOICES, blank=True, default=""
    )
    address = models.CharField(_("address"), max_length=300, blank=True, default="")
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.AWARENESS
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        db_index=False,  # leads_lead_owner (owner_id, id DESC) serves it
    )
    is_competitor = models.BooleanField(_("competitor (競合)"), default=False)
    is_nurture_target = models.BooleanField(_("nurture target (ナーチャリング対象)"), default=True)
    first_touch_source = models.CharField(
        _("first-touch source"), max_length=200, blank=True, default=""
    )
    last_touch_source = models.CharField(
        _("last-touch source"), max_length=200, blank=True, default=""
    )
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Kept current by scoring (issue: scoring); stored here for search and lists.
    score = models.IntegerField(_("score"), default=0)
    rank = models.CharField(_("rank"), max_length=4, choices=Rank.choices, default=Rank.COLD)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="leads_lead_email_ci_unique"),
        ]
        indexes = [
            GinIndex(fields=["custom"], name="leads_lead_custom_gin"),
            # Name and company search ("contains", Japanese included) at 1M leads.
            GinIndex(
                fields=["company_name"], name="leads_lead_company_trgm", opclasses=["gin_trgm_ops"]
            ),
            GinIndex(
                fields=["last_name"], name="leads_lead_last_name_trgm", opclasses=["gin_trgm_ops"]
            ),
            models.Index(fields=["owner", "-id"], name="leads_lead_owner"),
            models.Index(fields=["stage", "-id"], name="leads_lead_stage"),
            # Rank only, never score: an UPDATE that changes no indexed column
            # can stay on its page (a HOT update) and skip all ten indexes, which
            # is what keeps rescoring a million leads cheap (scoring.services).
            models.Index(fields=["rank"], name="leads_lead_rank"),
            models.Index(fields=["company"], name="leads_lead_company"),
            models.Index(fields=["-created_at"], name="leads_lead_created"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def full_name(self) -> str:
        """Japanese order: 姓 名."""
        return " ".join(part for part in (self.last_name, self.first_name) if part)


class CustomField(models.Model):
    """A field marketers define (カスタマー項目); values live in ``Lead.custom``."""

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Single choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")

    key = models.SlugField(
        _("key"),
        max_length=50,
        unique=True,
        help_text=_("Letters, digits, - and _; used in the API, CSV headers and merge tags."),
    )
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    choices = models.JSONField(
        _("choices"),
        default=list,
        blank=True,
        help_text=_('For choice types: a list such as ["製造業", "IT"].'),
    )
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    help_text = models.CharField(_("help text"), max_length=200, blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LeadTag(models.Model):
    # The unique (lead, tag) and the (tag, lead) indexes serve both directions.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="lead_tags", db_index=False
    )
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="lead_tags", db_index=False)
    added_at = models.DateTimeField(_("added at"), default=timezone.now)
    added_by_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("lead tag")
        verbose_name_plural = _("lead tags")
        constraints = [
            models.UniqueConstraint(fields=["lead", "tag"], name="leads_leadtag_unique"),
        ]
        indexes = [models.Index(fields=["tag", "lead"], name="leads_leadtag_tag_lead")]


class TagChange(models.Model):
    """Every tag added or removed: the event other apps react to."""

    class Action(models.TextChoices):
        ADDED = "added", _("added")
        REMOVED = "removed", _("removed")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tag_changes")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=10, choices=Action.choices)
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_ref = models.CharField(max_length=200, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tag change")
        verbose_name_plural = _("tag changes")
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="leads_tagchange_lead")]


class ActivityChoice(models.Model):
    """The editable choice lists of activities (活動履歴の項目設定)."""

    class Kind(models.TextChoices):
        TYPE = "type", _("Type")
        RESULT = "result", _("Result")
        SOURCE = "source", _("Source")

    kind = models.CharField(_("list"), max_length=10, choices=Kind.choices)
    code = models.SlugField(_("code"), max_length=40)
    label = models.CharField(_("label"), max_length=100)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("activity choice")
        verbose_name_plural = _("activity choices")
        ordering = ["kind", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "code"], name="leads_activitychoice_unique"),
        ]

    def __str__(self) -> str:
        return self.label


class Activity(models.Model):
    """A sales activity (活動履歴). Append-only: corrections are audited."""

    # (lead, -occurred_at) below serves lookups by lead; no second index.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    occurred_at = models.DateTimeField(_("date"))
    type = models.CharField(_("type"), max_length=40)
    content = models.TextField(_("content"), blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
    )
    result = models.CharField(_("result"), max_length=40)
    source = models.CharField(_("source"), max_length=40, blank=True, default="")
    note = models.TextField(_("free text"), blank=True, default="")
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    created_by_kind = models.CharField(max_length=20, choices=ActorKind.choices)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="leads_activity_lead"),
            models.Index(fields=["occurred_at"], name="leads_activity_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d} {self.type} {self.result}"


class ActivityCorrection(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="corrections")
    changes = models.JSONField(help_text="{field: [before, after]}")
    reason = models.CharField(_("reason"), max_length=300, blank=True, default="")
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    corrected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("activity correction")
        verbose_name_plural = _("activity corrections")


class StaticList(models.Model):
    """A static list of leads; a segment snapshot is one too (``source_segment``)."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    source_segment = models.ForeignKey(
        "Segment",
        verbose_name=_("snapshot of segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="snapshots",
    )
    snapshot_at = models.DateTimeField(_("snapshot taken at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("list")
        verbose_name_plural = _("lists")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ListMembership(models.Model):
    static_list = models.ForeignKey(
        StaticList, on_delete=models.CASCADE, related_name="memberships"
    )
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="list_memberships")
    added_at = models.DateTimeField(default=timezone.now)
    added_by_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("list membership")
        verbose_name_plural = _("list memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["static_list", "lead"],
                condition=Q(removed_at__isnull=True),
                name="leads_listmembership_active_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["static_list", "lead"],
                condition=Q(removed_at__isnull=True),
                name="leads_listmember_active",
            ),
            models.Index(fields=["lead"], name="leads_listmember_lead"),
        ]


class Segment(models.Model):
    """A saved compound search (複合検索): numbered blocks and an expression."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    expression = models.CharField(
        _("expression"), max_length=1000, help_text=_("For example: 1 AND 2 AND NOT 3")
    )
    blocks = models.JSONField(_("blocks"), default=dict)
    is_preset = models.BooleanField(_("preset"), default=False)
    # The key an app registered the preset under: stable when names are
    # translated or edited (see leads.segments.presets).
    preset_key = models.CharField(max_length=60, blank=True, default="", editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["preset_key"], condition=~Q(preset_key=""), name="leads_segment_preset"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Consent(models.Model):
    """How and when a lead consented to marketing mail (特定電子メール法). Kept as
    long as the lead is."""

    class Basis(models.TextChoices):
        FORM = "form", _("Form")
        BUSINESS_CARD = "business_card", _("Business card (名刺)")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        MANUAL = "manual", _("Manual")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=20, default="email")
    basis = models.CharField(_("basis"), max_length=20, choices=Basis.choices)
    source_ref = models.CharField(
        _("source"),
        max_length=200,
        blank=True,
        default="",
        help_text=_("Form and version, import batch, API client…"),
    )
    text_shown = models.TextField(_("text shown"), blank=True, default="")
    obtained_at = models.DateTimeField(_("obtained at"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [models.Index(fields=["lead", "-obtained_at"], name="leads_consent_lead")]


class Suppression(models.Model):
    """An unsubscribe or suppression per channel; checked before every send."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("All marketing email")
        NEWSLETTER = "newsletter", _("Newsletters only")
        PHONE = "phone", _("Phone calls")

    class Reason(models.TextChoices):
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCES = "soft_bounces", _("Repeated soft bounces")
        COMPLAINT = "complaint", _("Spam complaint")
        MANUAL = "manual", _("Set by a user")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="suppressions")
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("since"), default=timezone.now)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "channel"],
                condition=Q(lifted_at__isnull=True),
                name="leads_suppression_active_unique",
            ),
        ]


class LeadMerge(models.Model):
    """Audit of a merge: who merged which lead into which survivor."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges")
    merged_lead_id = models.BigIntegerField()
    merged_email = models.EmailField()
    merged_snapshot = models.JSONField()
    moved = models.JSONField(default=dict, help_text="rows moved per kind")
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("lead merge")
        verbose_name_plural = _("lead merges")


class ImportMapping(models.Model):
    """The column mapping last used for a set of CSV headers, offered next time."""

    header_signature = models.CharField(max_length=64, unique=True)
    headers = models.JSONField()
    mapping = models.JSONField(help_text="{header: field}")
    updated_at = models.DateTimeField(auto_now=True)


class ImportJob(models.Model):
    """A CSV import (名刺, Excel lists). The file is kept in the database so any
    worker can read it."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class OnExisting(models.TextChoices):
        UPDATE = "update", _("Update existing leads")
        SKIP = "skip", _("Skip existing leads")

    filename = models.CharField(_("file"), max_length=255)
    content = models.BinaryField(editable=False)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True, default="")
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    on_existing = models.CharField(
        _("existing emails"), max_length=10, choices=OnExisting.choices, default=OnExisting.UPDATE
    )
    tags = models.JSONField(_("tags to add"), default=list, blank=True)
    consent_basis = models.CharField(
        _("consent basis"), max_length=20, choices=Consent.Basis.choices, blank=True, default=""
    )
    consent_text = models.TextField(_("consent text shown"), blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected = models.JSONField(default=list, help_text="[{row, reason}]")
    error = models.TextField(blank=True, default="")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("CSV import")
        verbose_name_plural = _("CSV imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename
