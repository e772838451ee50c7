"""Writes of scenarios: templates, test sends, newsletters, unsubscription,
mail events (opens, clicks) and bounces."""

from __future__ import annotations

import datetime
import logging
import uuid

from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead, Suppression
from leads.selectors import leads_in_list
from leads.services import suppression_add
from scenarios import links
from scenarios.models import Bounce, EmailTemplate, Newsletter, Send
from scenarios.rendering import Footer, check_template, lead_context, render_mail, sample_context
from scenarios.sending import build_message, sender_profile

log = logging.getLogger(__name__)

#: Soft bounces (the ESP's "deferred") after which an address is suppressed.
SOFT_BOUNCE_LIMIT = 5


# -- templates ---------------------------------------------------------------------------


def template_check(template: EmailTemplate) -> None:
    check_template(
        subject=template.subject, preheader=template.preheader, html_body=template.html_body
    )


def template_preview(*, template: EmailTemplate, lead: Lead | None) -> dict:
    """The mail as ``lead`` would get it (links untracked), for the admin and API."""
    profile = sender_profile()
    context = lead_context(lead) if lead is not None else sample_context()
    rendered = render_mail(
        subject=template.subject,
        preheader=template.preheader,
        html_body=template.html_body,
        context=context,
        footer=Footer(
            from_name=profile.from_name,
            postal_address=profile.postal_address,
            contact=profile.contact,
            unsubscribe_url=links.unsubscribe_url(lead.pk) if lead else links.public_url("/"),
        ),
    )
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}


def template_test_send(*, template: EmailTemplate, to: str, lead: Lead | None = None) -> None:
    """Send the template now to ``to`` (rendered as ``lead``, or a sample lead),
    subject marked [TEST]. No tracking, no send row: it is not marketing mail
    to a lead, it is the marketer checking their own mail."""
    from django.core.validators import validate_email

    validate_email(to)
    profile = sender_profile()
    preview = template_preview(template=template, lead=lead)
    from scenarios.rendering import RenderedMail

    rendered = RenderedMail(
        subject=f"[TEST] {preview['subject']}", html=preview["html"], text=preview["text"]
    )
    backend = get_connection()
    build_message(
        rendered=rendered, to=to, profile=profile, unsubscribe_url=None, connection=backend
    ).send()


# -- newsletters -------------------------------------------------------------------------


def newsletter_audience(newsletter: Newsletter):
    from leads.segments.search import segment_leads_for

    if newsletter.segment_id:
        return segment_leads_for(newsletter.segment)
    if newsletter.static_list_id:
        return leads_in_list(Lead.objects.all(), newsletter.static_list_id)
    raise ValidationError(_("Choose a segment or a static list to send to."))


def check_newsletter(newsletter: Newsletter) -> None:
    errors: dict[str, list[str]] = {}
    if newsletter.segment_id and newsletter.static_list_id:
        errors["static_list"] = [_("Choose a segment or a static list, not both.")]
    elif not newsletter.segment_id and not newsletter.static_list_id:
        errors["segment"] = [_("Choose a segment or a static list to send to.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def newsletter_schedule(*, newsletter: Newsletter, at: datetime.datetime | None = None) -> None:
    """Schedule a draft for ``at`` (now when None). Refuses an empty audience,
    a broken template and a missing sender profile, so nothing goes out by mistake."""
    newsletter = Newsletter.objects.select_for_update().get(pk=newsletter.pk)
    if newsletter.state != Newsletter.State.DRAFT:
        raise ValidationError(_("Only a draft can be scheduled."))
    check_newsletter(newsletter)
    sender_profile()
    template_check(newsletter.template)
    if not newsletter_audience(newsletter).exists():
        raise ValidationError(_("The segment or list has no leads; there is nobody to send to."))
    newsletter.scheduled_at = at or newsletter.scheduled_at or timezone.now()
    newsletter.state = Newsletter.State.SCHEDULED
    newsletter.save(update_fields=["scheduled_at", "state"])


def newsletters_materialize_due(now: datetime.datetime | None = None) -> int:
    """Turn every scheduled newsletter that is due into send rows. Returns rows made."""
    now = now or timezone.now()
    made = 0
    due = Newsletter.objects.filter(state=Newsletter.State.SCHEDULED, scheduled_at__lte=now)
    for newsletter_id in due.values_list("pk", flat=True):
        made += newsletter_materialize(newsletter_id=newsletter_id, now=now)
    return made


@transaction.atomic
def newsletter_materialize(*, newsletter_id: int, now: datetime.datetime | None = None) -> int:
    """Write one send row per lead of the audience, set-based (one INSERT …
    SELECT … ON CONFLICT DO NOTHING), then mark suppressed leads' rows skipped
    in one UPDATE. Safe to run twice: the unique (lead, source) keeps one row."""
    now = now or timezone.now()
    newsletter = (
        Newsletter.objects.select_for_update(skip_locked=True)
        .filter(pk=newsletter_id, state=Newsletter.State.SCHEDULED)
        .first()
    )
    if newsletter is None:
        return 0
    audience_sql, params = (
        newsletter_audience(newsletter).order_by().values("id").query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO scenarios_send
                (lead_id, template_id, source_key, kind, newsletter_id, send_window_id,
                 state, reason, due_at, attempts, message_id, token, to_email, subject,
                 links, error, created_at)
            SELECT audience.id, %s, %s, 'newsletter', %s, %s, 'pending', '',
                   %s + CASE WHEN %s::int IS NULL THEN interval '0'
                        ELSE (row_number() OVER (ORDER BY audience.id) - 1) / %s::int
                             * interval '1 minute' END,
                   0, '', gen_random_uuid(), '', '', '[]'::jsonb, '', %s
              FROM ({audience_sql}) AS audience
            ON CONFLICT (lead_id, source_key) DO NOTHING
            """,  # noqa: S608 - the audience SQL is the ORM's, its values are parameters
            [
                newsletter.template_id,
                newsletter.source_key,
                newsletter.pk,
                newsletter.send_window_id,
                now,
                newsletter.rate_per_minute,
                newsletter.rate_per_minute,
                now,
                *params,
            ],
        )
        made = cursor.rowcount
        cursor.execute(
            """
            UPDATE scenarios_send s
               SET state = 'skipped', reason = %s
             WHERE s.newsletter_id = %s AND s.state = 'pending'
               AND EXISTS (SELECT 1 FROM leads_suppression p
                            WHERE p.lead_id = s.lead_id AND p.lifted_at IS NULL
                              AND p.channel IN ('email', 'newsletter'))
            """,
            [_("Suppressed or unsubscribed"), newsletter.pk],
        )
    newsletter.state = Newsletter.State.SENDING
    newsletter.recipients = Send.objects.filter(newsletter=newsletter).count()
    newsletter.materialized_at = now
    newsletter.save(update_fields=["state", "recipients", "materialized_at"])
    return made


def newsletters_finish() -> int:
    """Mark sending newsletters with nothing left to send as sent."""
    return (
        Newsletter.objects.filter(state=Newsletter.State.SENDING)
        .exclude(sends__state__in=[Send.State.PENDING, Send.State.CLAIMED])
        .update(state=Newsletter.State.DONE)
    )


# -- unsubscribe -------------------------------------------------------------------------


def lead_unsubscribe(*, lead: Lead, channel: str, detail: str = "") -> Suppression:
    """Unsubscribe ``lead`` from all marketing mail (``email``) or newsletters
    only (``newsletter``). Idempotent; takes effect for the next send at once
    (every send checks suppressions). Unsubscribing from everything also
    stops pending sends now, so counts say so without waiting for them."""
    suppression = suppression_add(
        lead=lead, channel=channel, reason=Suppression.Reason.UNSUBSCRIBE, detail=detail
    )
    pending = Send.objects.filter(lead=lead, state=Send.State.PENDING)
    if channel == Suppression.Channel.NEWSLETTER:
        pending = pending.filter(kind=Send.Kind.NEWSLETTER)
    else:
        pending = pending.exclude(kind=Send.Kind.TRANSACTIONAL)
    pending.update(state=Send.State.SKIPPED, reason=_("Unsubscribed"))
    return suppression


# -- opens and clicks --------------------------------------------------------------------


def _mail_event(send: Send, event_type: str, url: str = "", extra: dict | None = None) -> dict:
    properties = {"send": send.pk, "source": send.source_key, "template": send.template_id}
    if send.newsletter_id:
        properties["newsletter"] = send.newsletter_id
    if send.scenario_step_id:
        properties["scenario_step"] = send.scenario_step_id
        properties["scenario_enrollment"] = send.scenario_enrollment_id
    properties.update(extra or {})
    return {
        "uid": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": timezone.now().isoformat(),
        "site_id": None,
        "anon_id": None,
        "lead_id": send.lead_id,
        "url": url[:2048],
        "title": send.subject[:500],
        "referrer": "",
        "properties": properties,
    }


def mail_opened(*, send: Send) -> None:
    from tracking import writer
    from tracking.models import EventType

    writer.write_batch([_mail_event(send, EventType.EMAIL_OPEN)])


def mail_clicked(*, send: Send, index: int, anon_id: str | None) -> str:
    """Record the click (an ``email_click`` event), tie the browser to the lead
    when its visitor cookie is known on the link's site, and return the address
    to redirect to (always one of the mail's own links)."""
    from tracking import writer
    from tracking.models import EventType, Identification, Visitor
    from tracking.services import visitor_identify

    url = send.links[index]
    writer.write_batch([_mail_event(send, EventType.EMAIL_CLICK, url, {"link": index})])
    if anon_id:
        site = _site_of(url)
        if site is not None:
            visitor, _created = Visitor.objects.get_or_create(site=site, anon_id=anon_id)
            if visitor.lead_id != send.lead_id:
                visitor_identify(
                    visitor=visitor, lead=send.lead, method=Identification.Method.EMAIL_CLICK
                )
    return url


def _site_of(url: str):
    from urllib.parse import urlsplit

    from tracking.models import Site

    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return None
    for site in Site.objects.filter(is_active=True):
        if any(host == d.lower() or host.endswith("." + d.lower()) for d in site.domains):
            return site
    return None


# -- bounces and complaints --------------------------------------------------------------


@transaction.atomic
def bounce_record(
    *, email: str, kind: str, esp_event_id: str = "", detail: str = "", occurred_at=None
) -> Bounce | None:
    """Record an ESP's bounce or complaint. A hard bounce or a complaint
    suppresses the address at once; ``SOFT_BOUNCE_LIMIT`` soft bounces do too.
    An event delivered twice (same ESP event id) is recorded once."""
    lead = Lead.objects.filter(email__iexact=email.strip()).first()
    if lead is None:
        return None
    if esp_event_id and Bounce.objects.filter(esp_event_id=esp_event_id).exists():
        return None
    bounce = Bounce.objects.create(
        lead=lead,
        email=email,
        kind=kind,
        esp_event_id=esp_event_id,
        detail=detail[:500],
        occurred_at=occurred_at or timezone.now(),
    )
    reason = None
    if kind == Bounce.Kind.HARD:
        reason = Suppression.Reason.HARD_BOUNCE
    elif kind == Bounce.Kind.COMPLAINT:
        reason = Suppression.Reason.COMPLAINT
    elif Bounce.objects.filter(lead=lead, kind=Bounce.Kind.SOFT).count() >= SOFT_BOUNCE_LIMIT:
        reason = Suppression.Reason.SOFT_BOUNCES
    if reason:
        suppression_add(
            lead=lead, channel=Suppression.Channel.EMAIL, reason=reason, detail=detail[:300]
        )
        Send.objects.filter(lead=lead, state=Send.State.PENDING).update(
            state=Send.State.SKIPPED, reason=_("Suppressed after a bounce or complaint")
        )
    return bounce


# -- configuration checks ----------------------------------------------------------------


def check_send_window(*, weekdays: object, start_time, end_time, time_zone: str) -> list[int]:
    """Clean a send window's days; raise ``ValidationError`` per field."""
    import zoneinfo

    errors: dict[str, list[str]] = {}
    days: list[int] = []
    if not isinstance(weekdays, list) or not weekdays:
        errors["weekdays"] = [_("Give at least one day, 0 = Monday … 6 = Sunday.")]
    else:
        try:
            days = sorted({int(day) for day in weekdays})
        except (TypeError, ValueError):
            days = [-1]
        if any(day < 0 or day > 6 for day in days):
            errors["weekdays"] = [_("Days are numbers from 0 (Monday) to 6 (Sunday).")]
    if start_time is not None and end_time is not None and start_time >= end_time:
        errors["end_time"] = [_("The window must end after it starts.")]
    try:
        zoneinfo.ZoneInfo(str(time_zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = [_("Unknown time zone, e.g. Asia/Tokyo.")]
    if errors:
        raise ValidationError(errors)
    return days
