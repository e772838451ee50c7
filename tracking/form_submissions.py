"""A form submission: the moment an anonymous visitor gets a name (実名化)."""

from __future__ import annotations

import uuid

import redis
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from leads.models import ActorKind, Consent
from leads.services import consent_record, lead_upsert
from tracking import writer
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
    identify the browser, record a form_submit event, add the form's tags.
    All or nothing: a failure leaves nothing half-saved."""
    lead, _outcome = lead_upsert(data=data, actor_kind=ActorKind.FORM, tags=form.tags)
    if consented:
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
                "properties": {"form": form.key, "form_id": form.pk, "submission": submission.pk},
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
