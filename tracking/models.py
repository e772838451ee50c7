"""Behaviour data: sites, anonymous visitors, visits and the event table.

Events live in one append-only table partitioned by month (see
``tracking.partitions``); every row carries ``lead_id`` (or the visitor id
until identification) so hot queries filter by it or by time.
"""

from __future__ import annotations

import secrets

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Lead


def new_site_key() -> str:
    return secrets.token_urlsafe(12)


class Site(models.Model):
    """A customer website that carries the snippet."""

    name = models.CharField(_("name"), max_length=200)
    key = models.CharField(_("site key"), max_length=40, unique=True, default=new_site_key)
    domains = ArrayField(
        models.CharField(max_length=253),
        verbose_name=_("domains"),
        default=list,
        help_text=_("Host names the snippet may send from, e.g. www.example.co.jp"),
    )
    respect_do_not_track = models.BooleanField(
        _("honour Do Not Track / Global Privacy Control"), default=False
    )
    # The sender of mail sent on this site's behalf (double opt-in confirmations):
    # 特定電子メール法 wants the sender's name, address and a contact in each mail.
    sender_name = models.CharField(
        _("sender name"), max_length=200, blank=True, default="",
        help_text=_("Shown as the sender of confirmation mail, e.g. 株式会社サンプル."),
    )  # fmt: skip
    sender_email = models.EmailField(
        _("sender address"), blank=True, default="",
        help_text=_("From address of confirmation mail; empty: the system sender."),
    )  # fmt: skip
    mail_footer_ja = models.TextField(
        _("mail footer (Japanese)"), blank=True, default="",
        help_text=_("Company name, postal address and contact shown under each mail."),
    )  # fmt: skip
    mail_footer_en = models.TextField(_("mail footer (English)"), blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # The admin form and the API clean domains the same way.
        from tracking.services import check_site_domains

        self.domains = check_site_domains(self.domains)


class Visitor(models.Model):
    """One browser (first-party anonymous id). Never a lead per anonymous visitor."""

    # Indexes are few on purpose: the writer updates visitors and visits every
    # batch, and each index is written per row (UNIQUE (site, anon_id) serves site).
    # No database constraint on the site, nor on a visit's visitor: the writer
    # takes both from rows it read or wrote in the same transaction, and their
    # deferred checks ran one query per new visitor and visit at each commit,
    # 12 % of a batch's time (15 of 129 ms, measured at 500k events).
    # Deleting a site or a visitor still deletes what hangs on it (Django's
    # cascade). Nor on the lead of a visitor or visit: the writer copies it
    # from the visitor it read, and even for an anonymous browser (no lead)
    # the deferred check queued an event per new row and fired it at the
    # commit. Deleting a lead empties it (Django's SET_NULL); merging leads
    # moves it (``tracking.receivers``). Most browsers stay anonymous, so the
    # lead indexes hold only the rows that have one.
    site = models.ForeignKey(
        Site,
        on_delete=models.CASCADE,
        related_name="visitors",
        db_index=False,
        db_constraint=False,
    )
    anon_id = models.CharField(max_length=64)
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visitors",
        help_text="the lead this browser belongs to now",
        db_index=False,  # tracking_visitor_lead
        db_constraint=False,  # see site
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    visit_count = models.PositiveIntegerField(default=0)
    page_view_count = models.PositiveIntegerField(default=0)
    device_type = models.CharField(max_length=10, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    first_touch = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        constraints = [
            models.UniqueConstraint(fields=["site", "anon_id"], name="tracking_visitor_anon"),
        ]
        indexes = [
            models.Index(
                fields=["lead"],
                name="tracking_visitor_lead",
                condition=models.Q(lead__isnull=False),
            )
        ]


class Visit(models.Model):
    """A session: events of one visitor with no gap of 30 minutes or more."""

    # Covered by the two composite indexes below. The visitor index is on
    # started_at, not last_event_at, so extending a visit is a HOT update.
    visitor = models.ForeignKey(
        Visitor,
        on_delete=models.CASCADE,
        related_name="visits",
        db_index=False,
        db_constraint=False,  # see Visitor.site
    )
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visits",
        db_index=False,
        db_constraint=False,  # see Visitor.site
    )
    started_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    page_views = models.PositiveIntegerField(default=0)
    landing_url = models.TextField(blank=True, default="")
    referrer = models.TextField(blank=True, default="")
    utm = models.JSONField(default=dict, blank=True)
    device_type = models.CharField(max_length=10, blank=True, default="")

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [
            models.Index(fields=["visitor", "-started_at"], name="tracking_visit_visitor"),
            models.Index(
                fields=["lead", "-started_at"],
                name="tracking_visit_lead",
                condition=models.Q(lead__isnull=False),
            ),
        ]


class EventType(models.TextChoices):
    PAGE_VIEW = "page_view", _("Page view")
    FORM_SUBMIT = "form_submit", _("Form submission")
    EMAIL_OPEN = "email_open", _("Email opened")
    EMAIL_CLICK = "email_click", _("Email clicked")
    DOWNLOAD = "download", _("Download")
    OUTBOUND_CLICK = "outbound_click", _("Outbound link")
    RETURNED_AFTER_ABSENCE = "returned_after_absence", _("Returned after absence")
    SEMINAR_ATTENDED = "seminar_attended", _("Seminar attended")
    DOUBLE_OPT_IN_CONFIRMED = "double_opt_in_confirmed", _("Double opt-in confirmed")
    CUSTOM = "custom", _("Custom event")


class Event(models.Model):
    """One thing a visitor or lead did. Append-only, partitioned by month on
    ``occurred_at``; created by migration 0002 with raw DDL (Django does not
    create partitioned tables), mapped here for the ORM."""

    pk = models.CompositePrimaryKey("id", "occurred_at")
    id = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    event_uid = models.UUIDField(help_text="client-made id: a redelivered event is stored once")
    type = models.CharField(max_length=40)
    site_id = models.IntegerField(null=True)
    visitor_id = models.BigIntegerField(null=True)
    visit_id = models.BigIntegerField(null=True)
    lead_id = models.BigIntegerField(null=True)
    url = models.TextField(default="")
    title = models.TextField(default="")
    referrer = models.TextField(default="")
    properties = models.JSONField(default=dict)

    class Meta:
        managed = False
        db_table = "tracking_event"
        verbose_name = _("event")
        verbose_name_plural = _("events")


class Identification(models.Model):
    """When and how a browser was tied to a lead (実名化)."""

    class Method(models.TextChoices):
        FORM = "form", _("Form submission")
        EMAIL_CLICK = "email_click", _("Click in a tracked email")
        API = "api", _("API identify call")
        DOUBLE_OPT_IN = "double_opt_in", _("Confirmed double opt-in")

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="identifications")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="identifications")
    method = models.CharField(max_length=20, choices=Method.choices)
    events_attributed = models.PositiveIntegerField(default=0)
    identified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("identification")
        verbose_name_plural = _("identifications")


class Form(models.Model):
    """A lead capture form (資料請求, whitepaper, seminar, quote) built in the
    admin without HTML; hosted at /f/<key>/ and embedded by the snippet."""

    name = models.CharField(_("name"), max_length=200)
    key = models.SlugField(_("key"), max_length=50, unique=True, default=new_site_key)
    site = models.ForeignKey(
        Site, verbose_name=_("site"), null=True, blank=True, on_delete=models.SET_NULL
    )
    title_ja = models.CharField(_("title (Japanese)"), max_length=200, blank=True, default="")
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True, default="")
    intro_ja = models.TextField(_("introduction (Japanese)"), blank=True, default="")
    intro_en = models.TextField(_("introduction (English)"), blank=True, default="")
    submit_label_ja = models.CharField(_("button (Japanese)"), max_length=50, default="送信する")
    submit_label_en = models.CharField(_("button (English)"), max_length=50, default="Submit")
    consent_text_ja = models.TextField(
        _("consent text (Japanese)"),
        default="メールによる製品・イベント情報の案内を受け取ることに同意します。",
    )
    consent_text_en = models.TextField(
        _("consent text (English)"),
        default="I agree to receive product and event information by email.",
    )
    consent_required = models.BooleanField(_("consent box must be ticked"), default=False)
    thanks_ja = models.TextField(
        _("thank-you message (Japanese)"), default="お申し込みありがとうございました。"
    )
    thanks_en = models.TextField(_("thank-you message (English)"), default="Thank you.")
    redirect_url = models.URLField(_("redirect after submitting"), blank=True, default="")
    tags = ArrayField(
        models.CharField(max_length=100), verbose_name=_("tags to add"), default=list, blank=True
    )
    consent_tags = ArrayField(
        models.CharField(max_length=100), verbose_name=_("tags to add with consent"),
        default=list, blank=True,
        help_text=_("Added only when the visitor consents to marketing mail (with double "
                    "opt-in: once they confirm)."),
    )  # fmt: skip
    double_opt_in = models.BooleanField(
        _("double opt-in"), default=False,
        help_text=_("Consent counts only after the visitor clicks the link in a confirmation "
                    "mail."),
    )  # fmt: skip
    double_opt_in_hours = models.PositiveIntegerField(
        _("confirmation link valid for (hours)"), default=48
    )
    asset = models.FileField(
        _("gated asset (e.g. a whitepaper PDF)"), blank=True, upload_to="assets/"
    )
    asset_hours = models.PositiveIntegerField(_("download link valid for (hours)"), default=72)
    min_fill_seconds = models.PositiveIntegerField(
        _("minimum seconds to fill (against bots)"), default=3
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("form")
        verbose_name_plural = _("forms")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # The admin form and the API check double opt-in the same way.
        from tracking.double_opt_in import check_double_opt_in_sender

        check_double_opt_in_sender(self)


class FormField(models.Model):
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="fields")
    field = models.CharField(
        _("lead field"),
        max_length=60,
        help_text=_("A lead field (email, last_name, company …) or custom.<key>."),
    )
    label_ja = models.CharField(_("label (Japanese)"), max_length=100, blank=True, default="")
    label_en = models.CharField(_("label (English)"), max_length=100, blank=True, default="")
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("form field")
        verbose_name_plural = _("form fields")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["form", "field"], name="tracking_formfield_unique"),
        ]


class FormSubmission(models.Model):
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="submissions")
    form_version = models.PositiveIntegerField()
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="form_submissions")
    visitor = models.ForeignKey(Visitor, null=True, blank=True, on_delete=models.SET_NULL)
    data = models.JSONField()
    consented = models.BooleanField(default=False)
    ip = models.GenericIPAddressField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("form submission")
        verbose_name_plural = _("form submissions")
        indexes = [models.Index(fields=["lead", "-submitted_at"], name="tracking_formsub_lead")]


class Popup(models.Model):
    """A rule-based popup (seed 002): e.g. 3+ visits in 5 days → document request;
    FAQ and pricing pages each viewed twice → webinar invitation."""

    class Audience(models.TextChoices):
        ANYONE = "anyone", _("Anyone")
        ANONYMOUS = "anonymous", _("Anonymous visitors only")
        KNOWN = "known", _("Known leads only")

    name = models.CharField(_("name"), max_length=200)
    site = models.ForeignKey(
        Site, verbose_name=_("site"), null=True, blank=True, on_delete=models.CASCADE,
        help_text=_("Empty: every site."),
    )  # fmt: skip
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher wins."))
    audience = models.CharField(
        _("audience"), max_length=10, choices=Audience.choices, default=Audience.ANYONE
    )
    min_visits = models.PositiveIntegerField(_("at least this many visits"), default=0)
    page_patterns = ArrayField(
        models.CharField(max_length=200),
        verbose_name=_("pages (URL contains)"),
        default=list,
        blank=True,
        help_text=_("Each of these pages must have been viewed the number of times below."),
    )
    page_views_each = models.PositiveIntegerField(_("views of each page"), default=1)
    within_days = models.PositiveIntegerField(_("within days"), default=5)
    segment = models.ForeignKey(
        "leads.Segment", verbose_name=_("known leads in segment"), null=True, blank=True,
        on_delete=models.SET_NULL,
    )  # fmt: skip
    form = models.ForeignKey(
        Form, verbose_name=_("form to show"), null=True, blank=True, on_delete=models.SET_NULL
    )
    title_ja = models.CharField(_("title (Japanese)"), max_length=200, blank=True, default="")
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True, default="")
    body_ja = models.TextField(_("text (Japanese)"), blank=True, default="")
    body_en = models.TextField(_("text (English)"), blank=True, default="")
    cta_label_ja = models.CharField(_("button (Japanese)"), max_length=60, blank=True, default="")
    cta_label_en = models.CharField(_("button (English)"), max_length=60, blank=True, default="")
    cta_url = models.URLField(_("button link"), blank=True, default="")
    snooze_days = models.PositiveIntegerField(_("not again for days after closing"), default=7)

    class Meta:
        verbose_name = _("popup")
        verbose_name_plural = _("popups")
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return self.name


class PopupState(models.Model):
    """What a browser did with a popup: shown, closed (snoozed), converted."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="popup_states")
    popup = models.ForeignKey(Popup, on_delete=models.CASCADE, related_name="states")
    shown_at = models.DateTimeField(null=True, blank=True)
    shown_count = models.PositiveIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visitor", "popup"], name="tracking_popupstate_unique"),
        ]


class Slot(models.Model):
    """A personalized element on a page: ``<div data-kizuki-slot="NAME">``."""

    name = models.SlugField(_("name"), max_length=60, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("personalized slot")
        verbose_name_plural = _("personalized slots")

    def __str__(self) -> str:
        return self.name


class SlotVariant(models.Model):
    class Rule(models.TextChoices):
        FIRST_VISIT = "first_visit", _("First visit")
        RETURNING = "returning", _("Returning visitor")
        KNOWN = "known", _("Known lead")
        SEGMENT = "segment", _("Known lead in segment")
        DEFAULT = "default", _("Everyone else")

    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="variants")
    rule = models.CharField(_("shown to"), max_length=20, choices=Rule.choices)
    segment = models.ForeignKey("leads.Segment", null=True, blank=True, on_delete=models.SET_NULL)
    html_ja = models.TextField(_("content (Japanese, HTML)"))
    html_en = models.TextField(_("content (English, HTML)"), blank=True, default="")
    position = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("slot variant")
        verbose_name_plural = _("slot variants")
        ordering = ["position", "id"]


class DoubleOptIn(models.Model):
    """A consent given on a double opt-in form, pending until the visitor
    clicks the link in the confirmation mail. One per submission."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        CONFIRMED = "confirmed", _("Confirmed")

    submission = models.OneToOneField(
        FormSubmission, on_delete=models.CASCADE, related_name="double_opt_in"
    )
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="double_opt_ins")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="double_opt_ins")
    visitor = models.ForeignKey(Visitor, null=True, blank=True, on_delete=models.SET_NULL)
    email = models.EmailField(_("email"))
    language = models.CharField(_("language"), max_length=10, default="ja")
    consent_text = models.TextField(_("text shown"), blank=True, default="")
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(_("confirmed from IP"), null=True, blank=True)
    confirmed_user_agent = models.CharField(
        _("confirmed with browser"), max_length=300, blank=True, default=""
    )

    class Meta:
        verbose_name = _("double opt-in")
        verbose_name_plural = _("double opt-ins")
        indexes = [models.Index(fields=["form", "email"], name="tracking_optin_form_email")]


class DoubleOptInMail(models.Model):
    """One confirmation mail: number 1 is the mail of the submission, later
    numbers are resends the visitor asked for. The row is written before the
    mail is sent and claimed with a conditional UPDATE, so a retry or a
    crashed worker can neither send it twice nor lose it."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")

    opt_in = models.ForeignKey(DoubleOptIn, on_delete=models.CASCADE, related_name="mails")
    number = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message_id = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("confirmation mail")
        verbose_name_plural = _("confirmation mails")
        constraints = [
            models.UniqueConstraint(fields=["opt_in", "number"], name="tracking_optinmail_once"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="tracking_optinmail_due")]
