"""The one path every marketing mail takes: claim, check, render, hand over, mark.

A ``Send`` row exists before anything is sent (UNIQUE lead + source). The
dispatcher claims due rows in batches (``pending`` → ``claimed`` with a
lease, ``FOR UPDATE SKIP LOCKED`` so workers never share a row), then for
each row, in its own short transaction holding the lead's row lock:

- suppression, unsubscription and consent are checked: a blocked send is
  ``skipped`` with its reason;
- the send window and the weekly cap are checked: a send that may not go
  now goes back to ``pending`` with ``due_at`` at the next allowed time and
  the reason shown (deferred, never dropped);
- otherwise it is rendered and stamped ``handed_at`` (it now counts toward
  the cap) and committed.

Then, outside any transaction, the message goes to the mail backend, and the
row becomes ``sent`` with a conditional UPDATE. A worker killed before the
hand-over leaves a ``claimed`` row whose lease runs out; ``sends_reclaim_stale``
gives it back to ``pending`` and it is sent once. The Message-ID is fixed per
row, so in the only remaining window (the backend accepted the message and
the worker died before the UPDATE) a retry carries the same Message-ID.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Consent, Lead, Suppression
from scenarios import links
from scenarios.models import Send, SenderProfile
from scenarios.rendering import Footer, RenderedMail, lead_context, render_mail

log = logging.getLogger(__name__)

#: Sends claimed per batch; each holds one rendered mail in memory at a time.
BATCH_SIZE = 200
#: A claim older than this belongs to a dead worker and is given back.
LEASE = datetime.timedelta(minutes=10)
#: Hand-overs tried before a send is marked failed.
MAX_ATTEMPTS = 5
RETRY_DELAY = datetime.timedelta(minutes=5)
CAP_WINDOW = datetime.timedelta(days=7)
#: Kinds of mail the weekly cap applies to (alerts and transactional are exempt).
CAPPED_KINDS = (Send.Kind.NEWSLETTER, Send.Kind.STEP)


def sender_profile() -> SenderProfile:
    profile = SenderProfile.objects.first()
    if profile is None:
        raise ValidationError(
            _("Set the sender profile (sender name, address, contact) before sending mail.")
        )
    return profile


def message_domain(profile: SenderProfile) -> str:
    return profile.from_email.rsplit("@", 1)[-1]


@dataclass
class Verdict:
    """What to do with a claimed send now: send, skip (for good) or defer."""

    action: str  # "send" | "skip" | "defer"
    reason: str = ""
    until: datetime.datetime | None = None


def _suppression_reason(lead_id: int, kind: str) -> str | None:
    channels = [Suppression.Channel.EMAIL]
    if kind == Send.Kind.NEWSLETTER:
        channels.append(Suppression.Channel.NEWSLETTER)
    row = (
        Suppression.objects.filter(lead_id=lead_id, channel__in=channels, lifted_at__isnull=True)
        .order_by("created_at")
        .first()
    )
    if row is None:
        return None
    return _("Suppressed: %(reason)s (%(channel)s)") % {
        "reason": row.get_reason_display(),
        "channel": row.get_channel_display(),
    }


def cap_deferral(
    *, lead_id: int, cap: int, now: datetime.datetime, exclude_id: int | None = None
) -> datetime.datetime | None:
    """When the lead may get its next capped mail, or None if it may now.

    The cap counts capped mails handed over in the rolling 7 days before
    ``now``; with ``cap`` of them the next is allowed 7 days after the
    oldest of the last ``cap``.
    """
    handed = list(
        Send.objects.filter(
            lead_id=lead_id,
            kind__in=CAPPED_KINDS,
            state__in=[Send.State.CLAIMED, Send.State.SENT],
            handed_at__gt=now - CAP_WINDOW,
        )
        .exclude(pk=exclude_id)
        .order_by("-handed_at")
        .values_list("handed_at", flat=True)[:cap]
    )
    if len(handed) < cap:
        return None
    return handed[-1] + CAP_WINDOW


def send_verdict(send: Send, profile: SenderProfile, now: datetime.datetime) -> Verdict:
    lead = send.lead
    reason = _suppression_reason(lead.pk, send.kind)
    if reason:
        return Verdict("skip", reason)
    if not lead.email:
        return Verdict("skip", _("The lead has no email address."))
    if (
        send.kind != Send.Kind.TRANSACTIONAL
        and profile.require_consent
        and not Consent.objects.filter(lead_id=lead.pk, channel="email").exists()
    ):
        return Verdict("skip", _("No consent to marketing mail is recorded."))
    if send.send_window_id:
        opens = send.send_window.next_open(now)
        if opens > now:
            return Verdict(
                "defer",
                _("Outside the send window “%(window)s”") % {"window": send.send_window.name},
                opens,
            )
    if send.kind in CAPPED_KINDS:
        allowed = cap_deferral(lead_id=lead.pk, cap=profile.weekly_cap, now=now, exclude_id=send.pk)
        if allowed is not None:
            return Verdict(
                "defer",
                _("Weekly cap of %(cap)d mails reached") % {"cap": profile.weekly_cap},
                allowed,
            )
    return Verdict("send")


def render_for_send(send: Send, profile: SenderProfile) -> RenderedMail:
    template = send.template
    footer = Footer(
        from_name=profile.from_name,
        postal_address=profile.postal_address,
        contact=profile.contact,
        unsubscribe_url=links.unsubscribe_url(send.lead_id),
    )
    return render_mail(
        subject=template.subject,
        preheader=template.preheader,
        html_body=template.html_body,
        context=lead_context(send.lead),
        footer=footer,
        tracked_url=lambda index: links.click_url(send.pk, index),
        open_pixel_url=links.open_url(send.pk),
    )


def build_message(
    *,
    rendered: RenderedMail,
    to: str,
    profile: SenderProfile,
    unsubscribe_url: str | None,
    message_id: str | None = None,
    connection=None,
) -> EmailMultiAlternatives:
    headers = {}
    if unsubscribe_url:
        # RFC 8058 one-click: mailbox providers POST "List-Unsubscribe=One-Click" here.
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message_id:
        headers["Message-ID"] = message_id
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=f"{profile.from_name} <{profile.from_email}>",
        to=[to],
        reply_to=[profile.reply_to] if profile.reply_to else None,
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def sends_reclaim_stale(now: datetime.datetime | None = None) -> int:
    """Give claims whose lease ran out (their worker died) back to the queue;
    after ``MAX_ATTEMPTS`` a send is failed instead. Returns rows touched."""
    now = now or timezone.now()
    with db_connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_send
               SET state = CASE WHEN attempts >= %s THEN 'failed' ELSE 'pending' END,
                   lease_until = NULL, handed_at = NULL, reason = %s
             WHERE state = 'claimed' AND lease_until < %s
            """,
            [MAX_ATTEMPTS, _("Retried: the worker sending it stopped"), now],
        )
        return cursor.rowcount


def sends_claim_due(*, limit: int = BATCH_SIZE, now: datetime.datetime | None = None) -> list[int]:
    """Claim up to ``limit`` due sends for this worker (committed before return)."""
    now = now or timezone.now()
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_send
               SET state = 'claimed', lease_until = %s, attempts = attempts + 1
             WHERE id IN (
                   SELECT id FROM scenarios_send
                    WHERE state = 'pending' AND due_at <= %s
                    ORDER BY due_at, id
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED)
               AND state = 'pending'
            RETURNING id
            """,
            [now + LEASE, now, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _prepare(send_id: int, profile: SenderProfile) -> tuple[Send, RenderedMail] | None:
    """Check and render one claimed send; None when it is not to be sent now.
    Holds the lead's row lock so two workers cannot both pass its cap."""
    now = timezone.now()
    with transaction.atomic():
        send = (
            Send.objects.select_for_update(of=("self",))
            .select_related("lead", "lead__company", "template", "send_window")
            .filter(pk=send_id, state=Send.State.CLAIMED)
            .first()
        )
        if send is None:
            return None
        Lead.objects.select_for_update().filter(pk=send.lead_id).values_list("pk").first()
        verdict = send_verdict(send, profile, now)
        if verdict.action == "skip":
            Send.objects.filter(pk=send.pk).update(
                state=Send.State.SKIPPED, reason=verdict.reason, lease_until=None
            )
            return None
        if verdict.action == "defer":
            Send.objects.filter(pk=send.pk).update(
                state=Send.State.PENDING,
                reason=verdict.reason,
                due_at=verdict.until,
                lease_until=None,
                attempts=0,
            )
            return None
        try:
            rendered = render_for_send(send, profile)
        except ValidationError as exc:
            Send.objects.filter(pk=send.pk).update(
                state=Send.State.FAILED, error="; ".join(exc.messages), lease_until=None
            )
            return None
        message_id = send.message_id or f"<{send.token}@{message_domain(profile)}>"
        Send.objects.filter(pk=send.pk).update(
            handed_at=now,
            to_email=send.lead.email,
            subject=rendered.subject[:300],
            links=rendered.links,
            message_id=message_id,
            reason="",
        )
        send.message_id = message_id
        return send, rendered


def sends_deliver(send_ids: list[int]) -> dict[str, int]:
    """Deliver claimed sends over one backend connection. Returns counts."""
    counts = {"sent": 0, "not_sent": 0, "failed": 0}
    if not send_ids:
        return counts
    profile = sender_profile()
    backend = get_connection()
    try:
        backend.open()
        for send_id in send_ids:
            prepared = _prepare(send_id, profile)
            if prepared is None:
                counts["not_sent"] += 1
                continue
            send, rendered = prepared
            message = build_message(
                rendered=rendered,
                to=send.lead.email,
                profile=profile,
                unsubscribe_url=links.unsubscribe_url(send.lead_id),
                message_id=send.message_id,
                connection=backend,
            )
            try:
                message.send()
            except Exception as exc:  # the backend said no: retry later, then fail
                log.warning("send %s not handed over: %s", send.pk, exc)
                _handover_failed(send, exc)
                counts["failed"] += 1
                # A broken connection is not reused for the next message.
                backend.close()
                backend = get_connection()
                continue
            Send.objects.filter(pk=send.pk, state=Send.State.CLAIMED).update(
                state=Send.State.SENT, sent_at=timezone.now(), lease_until=None
            )
            counts["sent"] += 1
    finally:
        backend.close()
    return counts


def _handover_failed(send: Send, exc: Exception) -> None:
    give_up = send.attempts >= MAX_ATTEMPTS
    Send.objects.filter(pk=send.pk, state=Send.State.CLAIMED).update(
        state=Send.State.FAILED if give_up else Send.State.PENDING,
        due_at=timezone.now() + RETRY_DELAY,
        handed_at=None,
        lease_until=None,
        error=str(exc)[:1000],
        reason=_("The mail server refused it; retrying") if not give_up else "",
    )


def sends_dispatch(*, max_batches: int = 50) -> dict[str, int]:
    """One dispatcher run: reclaim dead claims, then claim and deliver due sends."""
    totals = {"sent": 0, "not_sent": 0, "failed": 0, "reclaimed": sends_reclaim_stale()}
    for _batch in range(max_batches):
        ids = sends_claim_due()
        if not ids:
            break
        for key, value in sends_deliver(ids).items():
            totals[key] += value
    return totals
