"""Double opt-in: a consent given on a form counts once the visitor clicks the
link in a confirmation mail.

The mail is a row (``DoubleOptInMail``, unique per opt-in and number) written
in the submission's transaction, before anything is sent. A worker claims it
with a conditional UPDATE (queued → sending), sends outside any transaction,
then stamps it sent. A retry or a duplicate task finds it claimed or sent and
does nothing; a worker killed between claim and send leaves it "sending",
and the beat sweeper hands it out again once its lease is over. The one gap
no SMTP client can close: a worker killed after the server accepted the mail
and before the stamp sends it again after the lease; the retry carries the
same Message-ID so mail systems can drop the duplicate.
"""

from __future__ import annotations

import datetime
import logging
import smtplib
import uuid
from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Max, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from leads.models import ActorKind, Consent
from leads.services import consent_record, tags_change
from tracking import writer
from tracking.lead_forms import _localized
from tracking.models import (
    DoubleOptIn,
    DoubleOptInMail,
    EventType,
    Form,
    FormSubmission,
    Identification,
)
from tracking.services import visitor_identify

log = logging.getLogger(__name__)

TOKEN_SALT = "kizuki.double-opt-in"  # noqa: S105 - a signing namespace, not a secret
#: A claim older than this belongs to a dead worker: the task's hard time
#: limit (6 min) is over, so nobody is still sending it.
SEND_LEASE = datetime.timedelta(minutes=10)
#: A queued mail no worker picked up within this time is handed out again.
QUEUED_GRACE = datetime.timedelta(minutes=2)
#: Sending attempts (SMTP refused, network down) before a mail is given up.
MAX_ATTEMPTS = 8
#: Resends a visitor may ask for, and how long after the last mail.
MAX_MAILS = 5
RESEND_INTERVAL = datetime.timedelta(minutes=2)


def _language(value: str | None) -> str:
    return "en" if (value or "").startswith("en") else "ja"


def double_opt_in_request(
    *, submission: FormSubmission, consent_text: str, language: str | None
) -> DoubleOptIn:
    """Record a pending consent for ``submission`` and queue its confirmation
    mail. Call inside the submission's transaction: the mail row commits with
    it, and the task is enqueued only after the commit."""
    opt_in = DoubleOptIn.objects.create(
        submission=submission,
        form=submission.form,
        lead=submission.lead,
        visitor=submission.visitor,
        email=submission.lead.email,
        language=_language(language),
        consent_text=consent_text,
    )
    _mail_queue(opt_in, number=1)
    return opt_in


def _mail_queue(opt_in: DoubleOptIn, *, number: int) -> DoubleOptInMail:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "kizuki.local"
    mail = DoubleOptInMail.objects.create(
        opt_in=opt_in, number=number, message_id=make_msgid("optin", domain=domain)
    )
    transaction.on_commit(lambda: _enqueue(mail.pk))
    return mail


def _enqueue(mail_id: int, stale_before: str | None = None) -> None:
    from tracking.tasks import send_double_opt_in_mail

    try:
        send_double_opt_in_mail.delay(mail_id, stale_before)
    except Exception:  # broker down: the row is queued, the sweeper sends it
        log.warning("confirmation mail %s not enqueued; the sweeper will send it", mail_id)


def check_double_opt_in_sender(form: Form) -> None:
    """A confirmation mail must say who sends it (特定電子メール法): a form with
    double opt-in needs a site with a sender name and a mail footer."""
    if not form.double_opt_in:
        return
    site = form.site
    if site is None or not site.sender_name or not (site.mail_footer_ja or site.mail_footer_en):
        raise ValidationError(
            {
                "double_opt_in": [
                    _(
                        "Double opt-in sends a confirmation mail: choose a site that has a "
                        "sender name and a mail footer (company, address, contact)."
                    )
                ]
            }
        )


# -- the link --------------------------------------------------------------------------


def confirmation_token(opt_in: DoubleOptIn) -> str:
    return signing.dumps({"o": opt_in.pk}, salt=TOKEN_SALT)


def confirmation_url(opt_in: DoubleOptIn) -> str:
    return f"{settings.PUBLIC_URL}/f/{opt_in.form.key}/confirm/{confirmation_token(opt_in)}/"


def opt_in_for_token(token: str, form: Form) -> tuple[DoubleOptIn | None, str]:
    """(opt-in, status) for a link: status "valid", "expired" (genuine but past
    the form's validity; the opt-in is returned so it can be resent) or
    "invalid" (tampered, or not this form's)."""
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=form.double_opt_in_hours * 3600)
        status = "valid"
    except signing.SignatureExpired:
        payload = signing.loads(token, salt=TOKEN_SALT)
        status = "expired"
    except signing.BadSignature:
        return None, "invalid"
    opt_in = DoubleOptIn.objects.filter(pk=payload.get("o"), form=form).first()
    return (opt_in, status) if opt_in is not None else (None, "invalid")


# -- confirming ------------------------------------------------------------------------


@transaction.atomic
def double_opt_in_confirm(*, opt_in: DoubleOptIn, ip: str | None, user_agent: str) -> bool:
    """The visitor clicked the link: the consent becomes granted (when and
    how are kept on the opt-in and the consent), the form's consent tags are
    added, the submitting browser is identified, and a
    ``double_opt_in_confirmed`` event is recorded. Idempotent: True only for
    the click that confirmed it."""
    now = timezone.now()
    confirmed = DoubleOptIn.objects.filter(pk=opt_in.pk, state=DoubleOptIn.State.PENDING).update(
        state=DoubleOptIn.State.CONFIRMED,
        confirmed_at=now,
        confirmed_ip=ip,
        confirmed_user_agent=user_agent[:300],
    )
    if not confirmed:
        return False
    opt_in.refresh_from_db()
    form, lead, submission = opt_in.form, opt_in.lead, opt_in.submission
    consent_record(
        lead=lead,
        basis=Consent.Basis.FORM,
        source_ref=(f"{form.name} (form {form.key} v{submission.form_version}), double opt-in")[
            :200
        ],
        text_shown=opt_in.consent_text,
        obtained_at=now,
    )
    if form.consent_tags:
        tags_change(
            lead=lead,
            add=form.consent_tags,
            actor_kind=ActorKind.FORM,
            source_ref=f"form {form.key}",
        )
    if opt_in.visitor is not None:
        visitor_identify(
            visitor=opt_in.visitor, lead=lead, method=Identification.Method.DOUBLE_OPT_IN
        )
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": EventType.DOUBLE_OPT_IN_CONFIRMED,
                "occurred_at": now.isoformat(),
                "site_id": opt_in.visitor.site_id if opt_in.visitor else None,
                "anon_id": opt_in.visitor.anon_id if opt_in.visitor else None,
                "lead_id": lead.pk,
                "url": "",
                "title": form.name,
                "referrer": "",
                "properties": {
                    "form": form.key,
                    "submission": submission.pk,
                    "requested_at": opt_in.created_at.isoformat(),
                },
            }
        ]
    )
    return True


@transaction.atomic
def double_opt_in_resend(*, opt_in: DoubleOptIn) -> DoubleOptInMail | None:
    """Queue one more confirmation mail if the visitor asks: not for a confirmed
    opt-in, not within ``RESEND_INTERVAL`` of the last mail, at most
    ``MAX_MAILS`` in all. None when nothing was queued."""
    opt_in = DoubleOptIn.objects.select_for_update().get(pk=opt_in.pk)
    if opt_in.state != DoubleOptIn.State.PENDING:
        return None
    last = opt_in.mails.aggregate(number=Max("number"), at=Max("created_at"))
    if (last["number"] or 0) >= MAX_MAILS:
        return None
    if last["at"] and timezone.now() - last["at"] < RESEND_INTERVAL:
        return None
    return _mail_queue(opt_in, number=(last["number"] or 0) + 1)


def pending_opt_in_for(form: Form, email: str) -> DoubleOptIn | None:
    return (
        DoubleOptIn.objects.filter(
            form=form, email__iexact=email.strip(), state=DoubleOptIn.State.PENDING
        )
        .order_by("-created_at")
        .first()
    )


# -- sending ---------------------------------------------------------------------------


def _sender(opt_in: DoubleOptIn) -> str:
    site = opt_in.form.site
    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if site is None:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr(
        (site.sender_name or default_name, site.sender_email or default_address), "utf-8"
    )


def _message(opt_in: DoubleOptIn, mail: DoubleOptInMail) -> EmailMultiAlternatives:
    form = opt_in.form
    with translation.override(opt_in.language):
        site = form.site
        context = {
            "opt_in": opt_in,
            "lead": opt_in.lead,
            "form_title": _localized(form, "title") or form.name,
            "link": confirmation_url(opt_in),
            "hours": form.double_opt_in_hours,
            "sender_name": (site.sender_name if site else "") or parseaddr(_sender(opt_in))[0],
            "footer": _localized(site, "mail_footer") if site else "",
        }
        subject = render_to_string("tracking/email/double_opt_in_subject.txt", context)
        text = render_to_string("tracking/email/double_opt_in.txt", context)
        html = render_to_string("tracking/email/double_opt_in.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=_sender(opt_in),
        to=[opt_in.email],
        headers={"Message-ID": mail.message_id, "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def double_opt_in_mail_send(mail_id: int, *, stale_before: datetime.datetime | None = None) -> bool:
    """Send one confirmation mail at most once.

    Claims the row (queued → sending, or a "sending" claim older than
    ``stale_before``: its worker died) with a conditional UPDATE, sends with no
    transaction open, stamps it sent. Safe to run twice and in parallel: only
    the claimer sends. A failed send goes back to "queued" for the sweeper.
    True when this call sent the mail."""
    claimable = Q(state=DoubleOptInMail.State.QUEUED)
    if stale_before is not None:
        claimable |= Q(state=DoubleOptInMail.State.SENDING, claimed_at__lt=stale_before)
    claimed = (
        DoubleOptInMail.objects.filter(claimable, pk=mail_id, attempts__lt=MAX_ATTEMPTS)
        .update(
            state=DoubleOptInMail.State.SENDING,
            claimed_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
    )  # fmt: skip
    if not claimed:
        return False
    mail = DoubleOptInMail.objects.select_related(
        "opt_in__form__site", "opt_in__lead", "opt_in__submission"
    ).get(pk=mail_id)
    try:
        _message(mail.opt_in, mail).send()
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("confirmation mail %s not sent: %s", mail_id, exc)
        DoubleOptInMail.objects.filter(pk=mail_id, state=DoubleOptInMail.State.SENDING).update(
            state=DoubleOptInMail.State.QUEUED
        )
        return False
    DoubleOptInMail.objects.filter(pk=mail_id).update(
        state=DoubleOptInMail.State.SENT, sent_at=timezone.now()
    )
    return True


def double_opt_in_mails_redeliver() -> int:
    """Hand out again the mails no worker took (queued too long) and those
    whose worker died after claiming them (claim older than the lease).
    Returns how many were enqueued."""
    now = timezone.now()
    stale_before = now - SEND_LEASE
    due = DoubleOptInMail.objects.filter(
        Q(state=DoubleOptInMail.State.QUEUED, created_at__lt=now - QUEUED_GRACE)
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - QUEUED_GRACE))
        | Q(state=DoubleOptInMail.State.SENDING, claimed_at__lt=stale_before),
        attempts__lt=MAX_ATTEMPTS,
    ).values_list("pk", flat=True)[:1000]
    ids = list(due)
    for mail_id in ids:
        _enqueue(mail_id, stale_before.isoformat())
    return len(ids)
