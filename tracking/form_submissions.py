"""A form submission: the moment an anonymous visitor gets a name (実名化)."""

from __future__ import annotations

import uuid

import redis
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import get_language

from leads.models import ActorKind, Consent
from leads.services import consent_record, lead_upsert
from tracking import writer
from tracking.double_opt_in import double_opt_in_request
from tracking.models import EventType, Form, FormSubmission, Identification, Site, Visitor
from tracking.services import visitor_identify

#: Submissions one IP address may make per hour (spam guard; offices share IPs).
SUBMISSIONS_PER_IP_PER_HOUR = 30
ASSET_SALT = "kizuki.form-asset"


def rate_limited(ip: str | None) -> bool:
    """Count this submission for ``ip``; True when it is over the hourly limit.
    If Redis is unreachable the form still works (no limit rather than no lead)."""
    if not ip:
        return False
    key = f"kizuki:form-rate:{ip}:{timezone.now():%Y%m%d%H}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
        count = client.incr(key)
        if count == 1:
            client.expire(key, 3600)
    except redis.RedisError:
        return False
    return count > SUBMISSIONS_PER_IP_PER_HOUR


@transaction.atomic
def form_submit(
    *,
    form: Form,
    data: dict,
    consented: bool,
    consent_text: str,
    site_key: str = "",
    anon_id: str = "",
    ip: str | None = None,
    url: str = "",
) -> FormSubmission:
    """Upsert the lead by email, record consent (form version + text shown),
    identify the browser, record a form_submit event, add the form's tags
    (and its consent tags when the visitor consented).

    With double opt-in and consent given, the consent, the consent tags and
    the identification wait for the click in the confirmation mail (queued
    here, see ``tracking.double_opt_in``): whoever typed the address may not
    own it. All or nothing: a failure leaves nothing half-saved."""
    pending = form.double_opt_in and consented
    tags = [*form.tags, *(form.consent_tags if consented and not pending else [])]
    lead, _outcome = lead_upsert(data=data, actor_kind=ActorKind.FORM, tags=tags)
    if consented and not pending:
        consent_record(
            lead=lead,
            basis=Consent.Basis.FORM,
            source_ref=f"{form.name} (form {form.key} v{form.version})",
            text_shown=consent_text,
        )
    visitor = None
    site = Site.objects.filter(key=site_key).first() if site_key else form.site
    if site is not None and anon_id:
        visitor, _created = Visitor.objects.get_or_create(site=site, anon_id=anon_id[:64])
        if not pending:
            visitor_identify(visitor=visitor, lead=lead, method=Identification.Method.FORM)
    submission = FormSubmission.objects.create(
        form=form,
        form_version=form.version,
        lead=lead,
        visitor=visitor,
        data={k: str(v) if not isinstance(v, list | dict | int) else v for k, v in data.items()},
        consented=consented,
        ip=ip,
    )
    if pending:
        double_opt_in_request(
            submission=submission, consent_text=consent_text, language=get_language()
        )
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": EventType.FORM_SUBMIT,
                "occurred_at": timezone.now().isoformat(),
                "site_id": site.pk if site else None,
                "anon_id": visitor.anon_id if visitor else None,
                "lead_id": lead.pk,
                "url": url[:2048],
                "title": form.name,
                "referrer": "",
                "properties": {
                    "form": form.key,
                    "form_id": form.pk,
                    "submission": submission.pk,
                    **({"double_opt_in": "pending"} if pending else {}),
                },
            }
        ]
    )
    return submission


def asset_token(submission: FormSubmission) -> str:
    return signing.dumps({"s": submission.pk}, salt=ASSET_SALT)


def asset_submission(token: str, form: Form) -> FormSubmission | None:
    """The submission a download link was made for, if the link is genuine and fresh."""
    try:
        payload = signing.loads(token, salt=ASSET_SALT, max_age=form.asset_hours * 3600)
    except signing.BadSignature:
        return None
    return FormSubmission.objects.filter(pk=payload.get("s"), form=form).first()


def record_download(submission: FormSubmission, url: str) -> None:
    writer.write_batch(
        [
            {
                "uid": str(uuid.uuid4()),
                "type": EventType.DOWNLOAD,
                "occurred_at": timezone.now().isoformat(),
                "site_id": None,
                "anon_id": None,
                "lead_id": submission.lead_id,
                "url": url,
                "title": submission.form.asset.name.rsplit("/", 1)[-1],
                "referrer": "",
                "properties": {"form": submission.form.key, "gated": True},
            }
        ]
    )
