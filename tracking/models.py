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
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name


class Visitor(models.Model):
    """One browser (first-party anonymous id). Never a lead per anonymous visitor."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors")
    anon_id = models.CharField(max_length=64)
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visitors",
        help_text="the lead this browser belongs to now",
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
        indexes = [models.Index(fields=["lead"], name="tracking_visitor_lead")]


class Visit(models.Model):
    """A session: events of one visitor with no gap of 30 minutes or more."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="visits")
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="visits"
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
            models.Index(fields=["visitor", "-last_event_at"], name="tracking_visit_visitor"),
            models.Index(fields=["lead", "-started_at"], name="tracking_visit_lead"),
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
