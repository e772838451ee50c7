"""Email: the sender profile, templates, send windows, newsletters and the
send ledger (one row per lead and message source, written before the mail is
handed to the backend)."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from leads.models import Lead, Segment, StaticList, Tag


def default_time_zone() -> str:
    return settings.TIME_ZONE


class SenderProfile(models.Model):
    """Who sends marketing mail, with what 特定電子メール法 requires in every
    mail's footer. One row, set once by the admin (``singleton`` is unique)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    from_name = models.CharField(_("sender name"), max_length=200)
    from_email = models.EmailField(_("from address"))
    reply_to = models.EmailField(_("reply-to address"), blank=True, default="")
    postal_address = models.TextField(
        _("postal address"), help_text=_("Required by 特定電子メール法 in every marketing mail.")
    )
    contact = models.CharField(
        _("contact"),
        max_length=300,
        help_text=_("A phone number, address or URL where recipients can reach you."),
    )
    weekly_cap = models.PositiveSmallIntegerField(
        _("marketing mails per lead per 7 days"),
        default=2,
        help_text=_("A mail over the cap is deferred to the next allowed time, never dropped."),
    )
    require_consent = models.BooleanField(
        _("send only to leads with recorded consent"), default=True
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sender profile")
        verbose_name_plural = _("sender profile")

    def __str__(self) -> str:
        return f"{self.from_name} <{self.from_email}>"


class SendWindow(models.Model):
    """Hours at which a kind of mail may go out, e.g. weekdays 09:00–18:00."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    weekdays = models.JSONField(
        _("weekdays"),
        default=list,
        help_text=_("Days mail may go out: 0 = Monday … 6 = Sunday."),
    )
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("until"))
    time_zone = models.CharField(_("time zone"), max_length=60, default=default_time_zone)

    class Meta:
        verbose_name = _("send window")
        verbose_name_plural = _("send windows")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from scenarios.services import check_send_window

        self.weekdays = check_send_window(
            weekdays=self.weekdays,
            start_time=self.start_time,
            end_time=self.end_time,
            time_zone=self.time_zone,
        )

    def next_open(self, moment: datetime.datetime) -> datetime.datetime:
        """``moment`` itself when it is inside the window, else the window's next opening."""
        tz = zoneinfo.ZoneInfo(self.time_zone)
        local = moment.astimezone(tz)
        days = set(self.weekdays)
        for offset in range(8):
            day = local.date() + datetime.timedelta(days=offset)
            if day.weekday() not in days:
                continue
            opens = datetime.datetime.combine(day, self.start_time, tzinfo=tz)
            closes = datetime.datetime.combine(day, self.end_time, tzinfo=tz)
            if local < opens:
                return opens
            if local < closes:
                return moment
        raise ValueError("a send window has no open day")


class EmailTemplate(models.Model):
    """A mail as the marketer writes it: Jinja2 merge tags, rendered sandboxed."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    subject = models.CharField(_("subject"), max_length=300)
    preheader = models.CharField(
        _("preheader"),
        max_length=300,
        blank=True,
        default="",
        help_text=_("The preview line mail clients show after the subject."),
    )
    html_body = models.TextField(
        _("HTML body"),
        help_text=_(
            "Merge tags: {{ lead.company }}, {{ lead.last_name }} 様, "
            "{{ lead.first_name|default('ご担当者') }}, {{ lead.custom.KEY }}."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("email template")
        verbose_name_plural = _("email templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from scenarios.rendering import check_template

        check_template(subject=self.subject, preheader=self.preheader, html_body=self.html_body)


class Newsletter(models.Model):
    """A mail to a segment or a static list (メルマガ) at a scheduled time."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Sent")

    name = models.CharField(_("name"), max_length=200)
    template = models.ForeignKey(
        EmailTemplate,
        on_delete=models.PROTECT,
        related_name="newsletters",
        verbose_name=_("template"),
    )
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("segment"),
    )
    static_list = models.ForeignKey(
        StaticList,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("static list"),
    )
    send_window = models.ForeignKey(
        SendWindow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("send window"),
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        _("mails per minute"),
        null=True,
        blank=True,
        help_text=_("Throttle: spread the sends at this rate. Empty = as fast as possible."),
    )
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.DRAFT, editable=False
    )
    recipients = models.PositiveIntegerField(_("recipients"), default=0, editable=False)
    materialized_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("newsletter")
        verbose_name_plural = _("newsletters")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(segment__isnull=True) | Q(static_list__isnull=True),
                name="scenarios_newsletter_one_audience",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from scenarios.services import check_newsletter

        check_newsletter(self)

    @property
    def source_key(self) -> str:
        return f"newsletter:{self.pk}"


class Send(models.Model):
    """One mail to one lead from one source (a newsletter, a step…).

    The row is written before the mail is handed to the backend; UNIQUE
    (lead, source_key) means a source can never mail a lead twice. A
    dispatcher claims due rows (``pending`` → ``claimed``) with a conditional
    UPDATE; a claim whose worker died is given back after its lease.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        CLAIMED = "claimed", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not sent")

    class Kind(models.TextChoices):
        NEWSLETTER = "newsletter", _("Newsletter")
        STEP = "step", _("Step mail")
        TRANSACTIONAL = "transactional", _("Transactional")
        SCENARIO = "scenario", _("Scenario")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="mail_sends")
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="sends")
    source_key = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NEWSLETTER)
    newsletter = models.ForeignKey(
        Newsletter, null=True, blank=True, on_delete=models.CASCADE, related_name="sends"
    )
    enrollment = models.ForeignKey(
        "Enrollment", null=True, blank=True, on_delete=models.CASCADE, related_name="sends"
    )
    send_window = models.ForeignKey(
        SendWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scenario_enrollment = models.ForeignKey(
        "ScenarioEnrollment", null=True, blank=True, on_delete=models.CASCADE, related_name="sends"
    )
    scenario_step = models.ForeignKey(
        "ScenarioStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="sends"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    reason = models.CharField(_("reason"), max_length=200, blank=True, default="")
    due_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    #: Set when the checks passed and the mail is about to be handed over; a
    #: send with it counts toward the lead's weekly cap.
    handed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    message_id = models.CharField(max_length=200, blank=True, default="")
    token = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    to_email = models.EmailField(blank=True, default="")
    subject = models.CharField(max_length=300, blank=True, default="")
    links = models.JSONField(default=list, blank=True, help_text="the links of the mail, in order")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("send")
        verbose_name_plural = _("sends")
        constraints = [
            models.UniqueConstraint(fields=["lead", "source_key"], name="scenarios_send_once"),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(state="pending"),
                name="scenarios_send_due",
            ),
            models.Index(
                fields=["lease_until"],
                condition=Q(state="claimed"),
                name="scenarios_send_leased",
            ),
            models.Index(fields=["lead", "-handed_at"], name="scenarios_send_lead_handed"),
            models.Index(fields=["newsletter", "state"], name="scenarios_send_newsletter"),
        ]

    def __str__(self) -> str:
        return f"{self.source_key} → {self.lead_id}"


class Bounce(models.Model):
    """A bounce or complaint an ESP reported through its anymail tracking webhook."""

    class Kind(models.TextChoices):
        HARD = "hard", _("Hard bounce")
        SOFT = "soft", _("Soft bounce")
        COMPLAINT = "complaint", _("Complaint")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="mail_bounces")
    email = models.EmailField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    esp_event_id = models.CharField(max_length=200, blank=True, default="")
    detail = models.CharField(max_length=500, blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        constraints = [
            models.UniqueConstraint(
                fields=["esp_event_id"],
                condition=~Q(esp_event_id=""),
                name="scenarios_bounce_event_once",
            ),
        ]
        indexes = [models.Index(fields=["lead", "kind"], name="scenarios_bounce_lead")]


class StepSequence(models.Model):
    """Step mail (ステップメール): mails at day offsets and a time of day, each
    lead at its own pace from the moment it entered."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("Manual or API")
        TAG_ADDED = "tag_added", _("Tag added")

    class Reentry(models.TextChoices):
        ONCE = "once", _("Once per lead")
        AFTER_EXIT = "after_exit", _("Again after finishing or leaving")

    name = models.CharField(_("name"), max_length=200, unique=True)
    trigger = models.CharField(
        _("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.MANUAL
    )
    trigger_tag = models.ForeignKey(
        Tag,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tag that starts it"),
        help_text=_("e.g. the tag a whitepaper form adds (資料A)."),
    )
    exit_tag = models.ForeignKey(
        Tag,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tag that ends it"),
        help_text=_("e.g. 失注: the lead leaves this sequence at once."),
    )
    reentry = models.CharField(
        _("re-entry"), max_length=20, choices=Reentry.choices, default=Reentry.ONCE
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("step mail")
        verbose_name_plural = _("step mails")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.trigger == self.Trigger.TAG_ADDED and not self.trigger_tag_id:
            raise ValidationError({"trigger_tag": _("Choose the tag that starts it.")})


class SequenceStep(models.Model):
    sequence = models.ForeignKey(StepSequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("order"))
    day_offset = models.PositiveSmallIntegerField(
        _("day"), help_text=_("Days after the lead entered: 0 = the same day.")
    )
    send_time = models.TimeField(_("time of day"), default=datetime.time(10, 0))
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.PROTECT, related_name="+", verbose_name=_("template")
    )
    send_window = models.ForeignKey(
        SendWindow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("send window"),
    )

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="scenarios_step_order"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence} #{self.position}"


class Enrollment(models.Model):
    """A lead in a step sequence; ``next_due_at`` is when its next step is due.
    The dispatcher claims due rows (``FOR UPDATE SKIP LOCKED``) and advances them."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Left")

    sequence = models.ForeignKey(StepSequence, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    started_at = models.DateTimeField(default=timezone.now)
    next_position = models.PositiveSmallIntegerField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "lead"],
                condition=Q(state="active"),
                name="scenarios_enrollment_active_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_due_at"], condition=Q(state="active"), name="scenarios_enroll_due"
            ),
            models.Index(fields=["lead", "state"], name="scenarios_enroll_lead"),
        ]


class Scenario(models.Model):
    """A branching scenario built by a marketer: a trigger, then a graph of
    steps (``ScenarioStep`` rows, the first by position is the entry).

    The graph is stored as rows rather than one JSON document: enrollments
    point at the step they are on, sends and actions name their step (so
    stats per step are a GROUP BY), and a marketer edits one step in the
    admin without rewriting the rest. Edges are step keys (short names
    unique in the scenario), so a whole graph is saved in one form and a
    dangling edge is a named, reportable mistake (``scenarios.graph``).
    """

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("Manual or API")
        FORM_SUBMITTED = "form_submitted", _("Form submitted")
        TAG_ADDED = "tag_added", _("Tag added")
        TAG_REMOVED = "tag_removed", _("Tag removed")
        SEGMENT_ENTERED = "segment_entered", _("Entered a segment")
        RANK_CHANGED = "rank_changed", _("Rank changed")
        PAGE_VISITED = "page_visited", _("Page visited")
        EMAIL_CLICKED = "email_clicked", _("Email clicked")
        RETURNED = "returned_after_absence", _("Returned after absence")
        DATE_FIELD = "date_field", _("Date field (e.g. seminar date − 7 days)")

    class Reentry(models.TextChoices):
        ONCE = "once", _("Once per lead")
        AFTER_EXIT = "after_exit", _("Again after finishing or leaving")
        ALWAYS = "always", _("Every time the trigger fires")

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    trigger = models.CharField(
        _("trigger"), max_length=30, choices=Trigger.choices, default=Trigger.MANUAL
    )
    trigger_config = models.JSONField(
        _("trigger settings"),
        default=dict,
        blank=True,
        help_text=format_lazy(
            "{} {}",
            _("Settings of the trigger, as JSON. Examples:"),
            '{"tag": "資料A"}, {"segment": 3}, {"rank": "HOT"}, {"url": "/pricing"}, '
            '{"form": "whitepaper"}, {"template": 5}, '
            '{"field": "seminar_at", "offset_days": -7}',
        ),
    )
    reentry = models.CharField(
        _("re-entry"), max_length=20, choices=Reentry.choices, default=Reentry.ONCE
    )
    exit_tags = models.JSONField(
        _("tags that end it"),
        default=list,
        blank=True,
        help_text=format_lazy(
            "{} {}",
            _("Tag names, as a JSON list; a lead given one of them leaves at once. Example:"),
            '["失注"]',
        ),
    )
    exit_on_unsubscribe = models.BooleanField(_("leave when unsubscribed"), default=True)
    exit_on_customer = models.BooleanField(_("leave on becoming a customer"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScenarioStep(models.Model):
    """One node of a scenario's graph. ``next_key`` is where a lead goes after
    this step (a branch's "yes"), ``else_key`` a branch's "no"; empty = end."""

    class Kind(models.TextChoices):
        WAIT = "wait", _("Wait")
        BRANCH = "branch", _("Branch on a condition")
        SEND_EMAIL = "send_email", _("Send email")
        ADD_TAG = "add_tag", _("Add tag")
        REMOVE_TAG = "remove_tag", _("Remove tag")
        SET_FIELD = "set_field", _("Set a field or stage")
        ADD_TO_LIST = "add_to_list", _("Add to list")
        NOTIFY_USER = "notify_user", _("Notify a user (email)")
        HANDOFF_SFA = "handoff_sfa", _("Hand to the SFA")
        WEBHOOK = "webhook", _("Call a webhook")
        END = "end", _("End")

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    key = models.SlugField(_("key"), max_length=40, allow_unicode=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    config = models.JSONField(
        _("settings"),
        default=dict,
        blank=True,
        help_text=format_lazy(
            "{} {}",
            _("Settings of the step, as JSON, by kind:"),
            'wait: {"days": 1} / {"weekday": 0, "time": "09:00"} / {"until": "2026-04-01T10:00"}; '
            'branch: {"condition": {"kind": "tag", "op": "has", "value": "資料A"}} or '
            '{"condition": {"kind": "scenario_mail", "action": "clicked", "step": "mail1"}}; '
            'send_email: {"template": 3, "send_window": 1}; add_tag: {"tag": "資料A"}; '
            'set_field: {"field": "stage", "value": "interest"}; add_to_list: {"list": 2}; '
            'notify_user: {"user": 4, "subject": "…"}; handoff_sfa: {"reason": "…"}; '
            'webhook: {"url": "https://…", "secret": "…"}',
        ),
    )
    next_key = models.CharField(_("then"), max_length=40, blank=True, default="")
    else_key = models.CharField(_("otherwise (branch only)"), max_length=40, blank=True, default="")

    class Meta:
        verbose_name = _("scenario step")
        verbose_name_plural = _("scenario steps")
        ordering = ["scenario", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "key"], name="scenarios_step_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} · {self.key}"


class ScenarioEnrollment(models.Model):
    """A lead's run through a scenario. ``step`` is the step it is on;
    ``next_due_at`` is when the dispatcher should look at it again;
    ``step_entered_at`` the logical moment it reached that step (waits count
    from it, so a late dispatcher run does not shift the schedule)."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Left")

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="scenario_enrollments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    step = models.ForeignKey(
        ScenarioStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step_entered_at = models.DateTimeField(default=timezone.now)
    next_due_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True, default="")
    path = models.JSONField(default=list, blank=True, help_text="step keys passed, in order")

    class Meta:
        verbose_name = _("scenario enrollment")
        verbose_name_plural = _("scenario enrollments")
        indexes = [
            models.Index(
                fields=["next_due_at"], condition=Q(state="active"), name="scenarios_senr_due"
            ),
            models.Index(fields=["lead", "scenario", "state"], name="scenarios_senr_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} → {self.lead_id}"


class ScenarioAction(models.Model):
    """An outside effect of a step (notify a user, hand to the SFA, call a
    webhook): written in the dispatcher's transaction, UNIQUE (enrollment,
    step), delivered afterwards outside any transaction by a claim with a
    lease, like ``Send``. A webhook carries the row id as its delivery id."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        CLAIMED = "claimed", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    enrollment = models.ForeignKey(
        ScenarioEnrollment, on_delete=models.CASCADE, related_name="actions"
    )
    step = models.ForeignKey(ScenarioStep, on_delete=models.CASCADE, related_name="actions")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("scenario action")
        verbose_name_plural = _("scenario actions")
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="scenarios_action_once"),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(state="pending"), name="scenarios_action_due"
            ),
        ]


class ScenarioSegmentMember(models.Model):
    """Who was in a segment-triggered scenario's segment at the last check, so
    the dispatcher enrolls only those who entered since (set-based EXCEPT)."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scenario", "lead"], name="scenarios_segmember_once"),
        ]
