"""Weekly HOT lists (seed 004): a saved compound search materialized every
Monday into a dated snapshot that inside sales work through the week.

``HotList`` is the configuration (search, schedule, recipients);
``HotListRun`` one week's snapshot; ``HotListMember`` a lead on it with its
rank, score and reasons at the time; ``HotListMail`` every cadence email,
written under a unique constraint before it is sent.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Lead, Rank, Segment


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class HotList(models.Model):
    """A weekly list: which leads (a saved search), when, and who is told."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    segment = models.ForeignKey(
        Segment,
        on_delete=models.PROTECT,
        related_name="hot_lists",
        verbose_name=_("saved search"),
        help_text=_("The compound search run every week (the seed-004 HOT preset by default)."),
    )
    activity_source = models.CharField(
        _("activity source"),
        max_length=40,
        default="hot_list",
        help_text=_("Source pre-set on activities logged from this list."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    publish_weekday = models.PositiveSmallIntegerField(
        _("list made on"), choices=Weekday.choices, default=Weekday.MONDAY
    )
    publish_time = models.TimeField(_("list made at"), default=datetime.time(9, 0))
    remind_weekday = models.PositiveSmallIntegerField(
        _("reminder on"), choices=Weekday.choices, default=Weekday.THURSDAY
    )
    remind_time = models.TimeField(_("reminder at"), default=datetime.time(9, 0))
    report_weekday = models.PositiveSmallIntegerField(
        _("report on"), choices=Weekday.choices, default=Weekday.FRIDAY
    )
    report_time = models.TimeField(_("report at"), default=datetime.time(17, 0))
    team = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="hot_list_teams",
        verbose_name=_("inside sales team"),
        help_text=_("Told of the new list on Monday and of unfollowed leads on Thursday."),
    )
    report_recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="hot_list_reports",
        verbose_name=_("report recipients (marketing)"),
    )
    top_count = models.PositiveSmallIntegerField(_("leads named in the Monday mail"), default=20)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("HOT list")
        verbose_name_plural = _("HOT lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        order = [
            (self.publish_weekday, self.publish_time),
            (self.remind_weekday, self.remind_time),
            (self.report_weekday, self.report_time),
        ]
        if any(value is None for pair in order for value in pair):
            return
        if not order[0] < order[1] < order[2]:
            raise ValidationError(
                {
                    "remind_weekday": _(
                        "The week goes list → reminder → report: put the reminder after the "
                        "list is made and the report after the reminder."
                    )
                }
            )
        if not 1 <= (self.top_count or 0) <= 200:
            raise ValidationError({"top_count": _("Name 1 to 200 leads in the Monday mail.")})


class HotListRun(models.Model):
    """One week of a list: a dated snapshot, made once per list and week."""

    hot_list = models.ForeignKey(HotList, on_delete=models.CASCADE, related_name="runs")
    week_start = models.DateField(_("week of"), help_text=_("The Monday of the week."))
    generated_at = models.DateTimeField(_("made at"), default=timezone.now)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("members"), default=0)
    carried_over_count = models.PositiveIntegerField(_("carried over"), default=0)

    class Meta:
        verbose_name = _("HOT list week")
        verbose_name_plural = _("HOT list weeks")
        ordering = ["-week_start", "hot_list__name"]
        constraints = [
            models.UniqueConstraint(fields=["hot_list", "week_start"], name="hotlist_run_week")
        ]

    def __str__(self) -> str:
        return f"{self.hot_list.name} {self.week_start:%Y-%m-%d}"


class Handoff(models.TextChoices):
    NONE = "", _("none")
    PENDING = "pending", _("waiting for the SFA")
    DONE = "done", _("handed to the SFA")


class HotListMember(models.Model):
    """A lead on one week's list, with what made it HOT at the time.

    Who follows it is the lead's owner (``Lead.owner``), not a field here:
    the sales rep's view, alerts and the SFA handoff all go by the owner.
    Whether it was followed is read from the activities recorded since the
    list was made, so a call logged anywhere (admin, API) counts.
    """

    run = models.ForeignKey(HotListRun, on_delete=models.CASCADE, related_name="members")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="hot_list_members")
    position = models.PositiveIntegerField(_("priority"), default=0)
    rank = models.CharField(_("rank then"), max_length=4, choices=Rank.choices)
    score = models.IntegerField(_("score then"))
    last_behaviour_at = models.DateTimeField(_("last behaviour then"), null=True, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    carried_over = models.BooleanField(_("carried over"), default=False)
    added_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(_("taken off at"), null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removal_reason = models.CharField(_("reason taken off"), max_length=300, blank=True, default="")
    handoff = models.CharField(
        _("SFA handoff"), max_length=10, choices=Handoff.choices, blank=True, default=""
    )
    handoff_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("HOT list member")
        verbose_name_plural = _("HOT list members")
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "lead"], name="hotlist_member_lead")]
        indexes = [
            models.Index(fields=["run", "position"], name="hotlist_member_order"),
            models.Index(fields=["lead"], name="hotlist_member_by_lead"),
            models.Index(
                fields=["handoff"],
                name="hotlist_member_handoff",
                condition=models.Q(handoff="pending"),
            ),
        ]
        permissions = [
            ("work_hotlist", _("Can work every HOT list in the workbench")),
            ("work_own_hotlist_members", _("Can work the HOT list leads they own")),
        ]

    def __str__(self) -> str:
        return f"{self.run} #{self.position} {self.lead_id}"


class MailKind(models.TextChoices):
    PUBLISH = "publish", _("new list (Monday)")
    REMIND = "remind", _("reminder (Thursday)")
    REPORT = "report", _("report (Friday)")


class MailState(models.TextChoices):
    PENDING = "pending", _("to send")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class HotListMail(models.Model):
    """One cadence email to one person, recorded before it is sent.

    The unique (run, kind, recipient) row is inserted first; a worker claims
    it with a conditional UPDATE (pending → sending) and marks it sent after
    the SMTP server accepted it. A claim older than the lease is taken again,
    so a worker killed between claim and send never loses the mail.
    """

    run = models.ForeignKey(HotListRun, on_delete=models.CASCADE, related_name="mails")
    kind = models.CharField(_("kind"), max_length=10, choices=MailKind.choices)
    recipient = models.EmailField(_("to"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        _("state"), max_length=10, choices=MailState.choices, default=MailState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("HOT list email")
        verbose_name_plural = _("HOT list emails")
        constraints = [
            models.UniqueConstraint(fields=["run", "kind", "recipient"], name="hotlist_mail_once")
        ]
        indexes = [
            models.Index(
                fields=["state"],
                name="hotlist_mail_unsent",
                condition=models.Q(state__in=["pending", "sending"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient}"
