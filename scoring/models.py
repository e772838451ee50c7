"""Lead qualification (リードクオリフィケーション): rules, the score ledger, ranks.

The ledger is the truth: one ``ScoreDay`` per (lead, rule, local day) with
the number of events the rule matched and the first/last event time. A
lead's behaviour score is the sum over its ledger days inside the rolling
window (the last 90 local days, today included, by default) of each active
rule's points × events, capped per day; total = behaviour + fit + tag
adjustments. ``Lead.score`` / ``Lead.rank`` are kept current
for search and lists by ``scoring.services`` (set-based SQL).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Lead, Rank, Tag


class ScoringSettings(models.Model):
    """One row: rank thresholds and the window."""

    hot_min = models.IntegerField(_("HOT from score"), default=100)
    warm_min = models.IntegerField(_("WARM from score"), default=30)
    window_days = models.PositiveIntegerField(_("rolling window (days)"), default=90)

    class Meta:
        verbose_name = _("scoring settings")
        verbose_name_plural = _("scoring settings")

    def __str__(self) -> str:
        return str(_("HOT ≥ %(hot)d, WARM ≥ %(warm)d, %(days)d days")) % {
            "hot": self.hot_min,
            "warm": self.warm_min,
            "days": self.window_days,
        }

    def clean(self) -> None:
        if self.hot_min <= self.warm_min:
            raise ValidationError(
                {
                    "hot_min": _("HOT must start above WARM (HOT %(hot)d ≤ WARM %(warm)d).")
                    % {"hot": self.hot_min, "warm": self.warm_min}
                }
            )
        if not 1 <= self.window_days <= 3650:
            raise ValidationError({"window_days": _("Choose a window of 1 to 3650 days.")})

    @classmethod
    def current(cls) -> ScoringSettings:
        row = cls.objects.order_by("pk").first()
        if row is None:
            row = cls.objects.create(window_days=settings.KIZUKI_SCORE_WINDOW_DAYS)
        return row


class ScoreRule(models.Model):
    """Behaviour rule: an event type (optionally a URL pattern or a form) gives points."""

    name = models.CharField(_("name"), max_length=200)
    event_type = models.CharField(_("event type"), max_length=40)
    url_pattern = models.CharField(
        _("URL pattern"),
        max_length=500,
        blank=True,
        default="",
        help_text=_("Part of the URL, * for any characters: /pricing or */case/*"),
    )
    form_key = models.CharField(
        _("form"), max_length=50, blank=True, default="", help_text=_("Only this form (key).")
    )
    # The SQL LIKE form of url_pattern, kept by scoring.services (never typed).
    url_like = models.CharField(max_length=600, blank=True, default="", editable=False)
    points = models.IntegerField(_("points"))
    daily_cap = models.PositiveIntegerField(
        _("cap per lead per day"),
        null=True,
        blank=True,
        help_text=_("At most this many points a day from this rule (40 reloads ≠ HOT)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # What the rule's ledger rows were counted by (scoring.services.COUNTED_AS):
    # when it differs from event_type/url_like/form_key, the rule is recounted.
    counted = models.TextField(blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("score rule")
        verbose_name_plural = _("score rules")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class FitRule(models.Model):
    """Fit points from attributes (seed 003): industry in a set, employees or
    capital in a range, a custom-field condition. The condition is a search
    block of kind "attribute", e.g. {"field": "industry", "op": "in", "value": [...]}."""

    name = models.CharField(_("name"), max_length=200)
    condition = models.JSONField(_("condition"))
    points = models.IntegerField(_("points"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("fit rule")
        verbose_name_plural = _("fit rules")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class TagAdjustment(models.Model):
    """While a lead has the tag its score moves by ``points`` (失注 −50, コール拒否 −500)."""

    tag = models.OneToOneField(Tag, on_delete=models.CASCADE, related_name="score_adjustment")
    points = models.IntegerField(_("points"))

    class Meta:
        verbose_name = _("tag adjustment")
        verbose_name_plural = _("tag adjustments")

    def __str__(self) -> str:
        return f"{self.tag.name} {self.points:+d}"


class ScoreDay(models.Model):
    """The ledger, one row per (lead, rule, local day): how many of the lead's
    events the rule matched that day and the first and last of them. The points
    are applied when it is read (``scoring.services.day_points``: points ×
    events, capped by ``daily_cap``), so changing a rule's points, cap or
    active flag rescores without recounting. Every rule is counted, active or
    not. The events themselves stay in ``tracking_event``;
    ``scoring.selectors.score_day_events`` lists them.

    Rows are recomputed from events, never added to, so a retried task cannot
    double-count. No FK constraints: the full rebuild writes the whole table
    set-based into a fresh table and swaps it in (``scoring.services``), and a
    per-row FK check would cost more than the rebuild itself. Deleting a lead or
    a rule still deletes its rows (Django's cascade, ``lead_id``/``rule_id``).
    """

    pk = models.CompositePrimaryKey("lead_id", "rule_id", "day")
    lead = models.ForeignKey(
        Lead,
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="score_days",
    )
    rule = models.ForeignKey(
        ScoreRule,
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="days",
    )
    day = models.DateField(_("day"))
    events = models.IntegerField(_("events"))
    first_at = models.DateTimeField(_("first event"))
    last_at = models.DateTimeField(_("last event"))

    class Meta:
        verbose_name = _("score ledger day")
        verbose_name_plural = _("score ledger days")


class ScoreSnapshot(models.Model):
    """A lead's score and rank at the end of a day, for trend charts. Written by
    the daily job for every lead whose score is not 0; a missing day means 0."""

    pk = models.CompositePrimaryKey("lead_id", "day")
    lead = models.ForeignKey(
        Lead,
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="score_snapshots",
    )
    day = models.DateField(_("day"))
    score = models.IntegerField(_("score"))
    rank = models.CharField(_("rank"), max_length=4, choices=Rank.choices)

    class Meta:
        verbose_name = _("score snapshot")
        verbose_name_plural = _("score snapshots")
        indexes = [models.Index(fields=["day"], name="scoring_snapshot_day")]


class RankChange(models.Model):
    """A lead's rank moved (timeline, alerts and scenarios react)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="rank_changes")
    old_rank = models.CharField(max_length=4, choices=Rank.choices)
    new_rank = models.CharField(max_length=4, choices=Rank.choices)
    score = models.IntegerField()
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("rank change")
        verbose_name_plural = _("rank changes")
        indexes = [models.Index(fields=["lead", "-changed_at"], name="scoring_rankchange_lead")]


class RescoreJob(models.Model):
    """A background full rescore (after a rule change), with progress."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    reason = models.CharField(_("reason"), max_length=200)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    total_steps = models.PositiveIntegerField(_("steps"), default=2)
    done_steps = models.PositiveIntegerField(_("steps done"), default=0)
    leads_changed = models.PositiveIntegerField(_("leads changed"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rescore job")
        verbose_name_plural = _("rescore jobs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason}"


from scoring.alerts.models import *  # noqa: E402, F403 - alerts live in their own package
from scoring.hotlists.models import HotList, HotListMail, HotListMember, HotListRun  # noqa: E402,F401
