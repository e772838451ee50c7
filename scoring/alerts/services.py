"""Writes for alerts: rules, raising alerts, and delivering them exactly once.

Raising (``alerts_raise``) is one statement over a set of leads: it moves
each (rule, lead) cooldown window forward only when the previous window is
over, writes the ``Alert`` rows under UNIQUE (rule, lead, window_start) and
then their ``AlertDelivery`` rows (one per channel and recipient) — all in
the caller's transaction, before anything is sent. Tasks are enqueued on
commit; the sweep (every ~30 s, ma_core/schedule.py) re-enqueues whatever is
due, so a lost task only delays a send.

Sending (``delivery_send``) claims the row with a conditional UPDATE
(pending → sending), sends outside any transaction, then records sent, or
pending with a backoff, or failed. A delivery is never sent again once it is
``sent``. A worker killed after the claim leaves the row ``sending``; after
``CLAIM_LEASE`` the sweep hands it back (the only case where a receiver may
see a send twice is a worker dying after the endpoint accepted the message
and before the row was marked sent; each send carries its delivery id,
``X-Kizuki-Delivery`` / the Message-ID, so a receiver can drop it).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import EmailValidator, URLValidator
from django.db import connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ma_core.roles import INSIDE_SALES
from scoring.alerts.models import (
    Alert,
    AlertAttempt,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertScoreMark,
    AlertTrigger,
    DeliveryState,
)

log = logging.getLogger(__name__)

#: A claimed delivery not finished after this long belongs to a dead worker.
#: Far above the send timeouts (HTTP_TIMEOUT, EMAIL_TIMEOUT = 20 s).
CLAIM_LEASE = datetime.timedelta(minutes=3)
HTTP_TIMEOUT = 10
#: Tries before a delivery is given up (≈ 1 hour with the backoff below).
MAX_ATTEMPTS = 8
BACKOFF_FIRST = datetime.timedelta(seconds=30)
BACKOFF_MAX = datetime.timedelta(hours=1)
#: Deliveries re-enqueued per sweep (ids only, a few KB).
SWEEP_BATCH = 500
#: The form, page and return triggers look at the lead's events of the last
#: hour (the batch just recorded; a late batch still counts).
EVENT_LOOKBACK = datetime.timedelta(hours=1)


# -- rules ---------------------------------------------------------------------------------


def check_alert_rule(
    *,
    trigger: str,
    score_threshold: int | None = None,
    absence_days: int | None = 60,
    form_key: str = "",
    url_pattern: str = "",
    send_email: bool = True,
    notify_owner: bool = True,
    extra_emails: Iterable[str] = (),
    slack_webhook_url: str = "",
    webhook_url: str = "",
    cooldown_days: int | None = 7,
) -> None:
    """Raise ValidationError naming each bad field, with a message a marketer can act on."""
    errors: dict[str, list[str]] = {}
    if trigger not in AlertTrigger.values:
        errors["trigger"] = [
            _("Unknown trigger. Use one of: %(triggers)s.")
            % {"triggers": ", ".join(AlertTrigger.values)}
        ]
    if trigger == AlertTrigger.SCORE_CROSSED and score_threshold is None:
        errors["score_threshold"] = [_("Give the score that triggers the alert.")]
    if trigger == AlertTrigger.RETURNED and not absence_days:
        errors["absence_days"] = [_("Give the number of days away, e.g. 60.")]
    if trigger == AlertTrigger.PAGE_VISITED:
        if not url_pattern or url_pattern.strip("*") == "":
            errors["url_pattern"] = [_("Give a part of the URL, e.g. /pricing.")]
        elif len(url_pattern) > 500 or any(c in url_pattern for c in "\n\r\t "):
            errors["url_pattern"] = [
                _("A URL pattern is one line of at most 500 characters, without spaces.")
            ]
    if form_key and trigger != AlertTrigger.FORM_SUBMITTED:
        errors["form_key"] = [_("A form only applies to the “Submits a form” trigger.")]
    elif form_key:
        from tracking.models import Form

        if not Form.objects.filter(key=form_key).exists():
            errors["form_key"] = [_("No form has the key “%(key)s”.") % {"key": form_key}]
    bad_emails = [e for e in extra_emails if not _valid_email(e)]
    if bad_emails:
        errors["extra_emails"] = [
            _("Not an email address: %(emails)s.") % {"emails": ", ".join(bad_emails)}
        ]
    for name, url in (("slack_webhook_url", slack_webhook_url), ("webhook_url", webhook_url)):
        if url and not _valid_http_url(url):
            errors[name] = [
                _("Give an http:// or https:// address, e.g. https://hooks.slack.com/…")
            ]
    if cooldown_days is None or not 1 <= cooldown_days <= 365:
        errors["cooldown_days"] = [_("Choose a cooldown of 1 to 365 days.")]
    has_email = send_email and (notify_owner or any(True for _e in extra_emails))
    if not (has_email or slack_webhook_url or webhook_url) and not errors:
        errors["send_email"] = [
            _("The rule reaches nobody: send email to someone, or give a Slack or webhook URL.")
        ]
    if errors:
        raise ValidationError(errors)


def _valid_email(value: str) -> bool:
    try:
        EmailValidator()(value)
    except ValidationError:
        return False
    return True


def _valid_http_url(value: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return False
    return True


def alert_rule_saved(rule: AlertRule) -> None:
    """Keep the LIKE form current; a score rule starts from today's scores, so
    leads already above the threshold do not all alert at once."""
    from scoring.services import like_pattern

    AlertRule.objects.filter(pk=rule.pk).update(url_like=like_pattern(rule.url_pattern))
    AlertScoreMark.objects.filter(rule=rule).delete()
    if rule.trigger == AlertTrigger.SCORE_CROSSED and rule.score_threshold is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO scoring_alertscoremark (rule_id, lead_id) "
                "SELECT %s, id FROM leads_lead WHERE score >= %s",
                [rule.pk, rule.score_threshold],
            )


# -- raising alerts ------------------------------------------------------------------------


def alerts_raise(
    *, rule: AlertRule, reasons: dict[int, dict], now: datetime.datetime | None = None
) -> list[int]:
    """Raise ``rule`` for these leads (lead id → reason) unless inside their
    cooldown; returns the new alerts' ids. Set-based; safe to call twice."""
    if not reasons or not rule.is_active:
        return []
    now = now or timezone.now()
    lead_ids = list(reasons)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH c AS (
                SELECT u.lead_id, u.reason FROM unnest(%s::bigint[], %s::jsonb[])
                    AS u(lead_id, reason)
                JOIN leads_lead l ON l.id = u.lead_id
            ),
            opened AS (
                INSERT INTO scoring_alertwindow (rule_id, lead_id, opened_at)
                SELECT %s, lead_id, %s FROM c
                ON CONFLICT (rule_id, lead_id) DO UPDATE SET opened_at = EXCLUDED.opened_at
                WHERE scoring_alertwindow.opened_at <= EXCLUDED.opened_at - %s
                RETURNING lead_id, opened_at
            )
            INSERT INTO scoring_alert (rule_id, lead_id, window_start, reason)
            SELECT %s, o.lead_id, o.opened_at, c.reason FROM opened o JOIN c USING (lead_id)
            ON CONFLICT (rule_id, lead_id, window_start) DO NOTHING
            RETURNING id
            """,
            [
                lead_ids,
                [json.dumps(reasons[i], ensure_ascii=False, default=str) for i in lead_ids],
                rule.pk,
                now,
                datetime.timedelta(days=rule.cooldown_days),
                rule.pk,
            ],
        )
        alert_ids = [row[0] for row in cursor.fetchall()]
        delivery_ids = _deliveries_create(rule, alert_ids, now) if alert_ids else []
    if delivery_ids:
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids))
    return alert_ids


def _deliveries_create(rule: AlertRule, alert_ids: list[int], now) -> list[int]:
    """One delivery per channel and recipient of each alert: the owner (or,
    for a lead without an active owner with an address, every Inside sales
    member), the fixed addresses, Slack, the webhook."""
    user_model = get_user_model()
    users = connection.ops.quote_name(user_model._meta.db_table)
    members = connection.ops.quote_name(user_model.groups.through._meta.db_table)
    site_language = settings.LANGUAGE_CODE
    parts: list[str] = []
    params: list = []
    if rule.send_email and rule.notify_owner:
        parts.append(
            f"""
            SELECT a.id, 'email', lower(u.email), COALESCE(p.language, %s)
            FROM scoring_alert a JOIN leads_lead l ON l.id = a.lead_id
            JOIN {users} u ON u.id = l.owner_id AND u.is_active AND u.email <> ''
            LEFT JOIN scoring_alertpreference p ON p.user_id = u.id
            WHERE a.id = ANY(%s)
            UNION ALL
            SELECT a.id, 'email', lower(u.email), COALESCE(p.language, %s)
            FROM scoring_alert a JOIN leads_lead l ON l.id = a.lead_id
            LEFT JOIN {users} o ON o.id = l.owner_id AND o.is_active AND o.email <> ''
            CROSS JOIN auth_group g JOIN {members} m ON m.group_id = g.id
            JOIN {users} u ON u.id = m.user_id AND u.is_active AND u.email <> ''
            LEFT JOIN scoring_alertpreference p ON p.user_id = u.id
            WHERE a.id = ANY(%s) AND o.id IS NULL AND g.name = %s
            """  # noqa: S608 - table names from the model; every value is a parameter
        )
        params += [site_language, alert_ids, site_language, alert_ids, INSIDE_SALES]
    if rule.send_email and rule.extra_emails:
        parts.append(
            "SELECT a.id, 'email', lower(x), %s FROM scoring_alert a, unnest(%s::text[]) x "
            "WHERE a.id = ANY(%s)"
        )
        params += [site_language, list(rule.extra_emails), alert_ids]
    for channel, url in (
        (AlertChannel.SLACK, rule.slack_webhook_url),
        (AlertChannel.WEBHOOK, rule.webhook_url),
    ):
        if url:
            parts.append("SELECT a.id, %s, %s, %s FROM scoring_alert a WHERE a.id = ANY(%s)")
            params += [str(channel), url, site_language, alert_ids]
    if not parts:
        return []
    union = " UNION ALL ".join(f"({part})" for part in parts)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO scoring_alertdelivery
                (alert_id, channel, recipient, language, state, attempts, next_attempt_at,
                 last_error)
            SELECT r.alert_id, r.channel, r.recipient, r.language, 'pending', 0, %s, ''
            FROM ({union}) AS r(alert_id, channel, recipient, language)
            ON CONFLICT (alert_id, channel, recipient) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - fixed fragments; every value is a parameter
            [now, *params],
        )
        return [row[0] for row in cursor.fetchall()]


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Queue the sends. A broker that is down only delays them: the sweep re-enqueues."""
    from scoring.alerts.tasks import alert_deliver

    for delivery_id in delivery_ids:
        try:
            alert_deliver.apply_async(args=[delivery_id], retry=False)
        except Exception:
            log.warning("alert delivery %s not queued; the sweep will send it", delivery_id)


def alerts_for_rank_changes(changes: list, now: datetime.datetime | None = None) -> list[int]:
    """``scoring.signals.rank_changed``: leads that became HOT."""
    hot = {
        int(lead_id): {"trigger": AlertTrigger.BECAME_HOT.value, "old_rank": old, "new_rank": new}
        for lead_id, old, new in changes
        if new == "HOT" and old != "HOT"
    }
    if not hot:
        return []
    return [
        alert_id
        for rule in AlertRule.objects.filter(trigger=AlertTrigger.BECAME_HOT, is_active=True)
        for alert_id in alerts_raise(rule=rule, reasons=hot, now=now)
    ]


def alerts_for_events(by_lead: dict, now: datetime.datetime | None = None) -> list[int]:
    """``tracking.signals.events_recorded``: returns after an absence, forms
    submitted, pages visited by known leads. One query per active rule."""
    now = now or timezone.now()
    types_by_lead = {int(k): set(v) for k, v in by_lead.items()}
    raised: list[int] = []
    rules = AlertRule.objects.filter(
        is_active=True,
        trigger__in=[
            AlertTrigger.RETURNED,
            AlertTrigger.FORM_SUBMITTED,
            AlertTrigger.PAGE_VISITED,
        ],
    )
    for rule in rules:
        event_type, where, extra = {
            AlertTrigger.RETURNED: (
                "returned_after_absence",
                "COALESCE((properties->>'gap_days')::int, 0) >= %s",
                [rule.absence_days],
            ),
            AlertTrigger.FORM_SUBMITTED: (
                "form_submit",
                "(%s = '' OR properties->>'form' = %s)",
                [rule.form_key, rule.form_key],
            ),
            AlertTrigger.PAGE_VISITED: ("page_view", "url LIKE %s", [rule.url_like]),
        }[rule.trigger]
        lead_ids = [lead for lead, types in types_by_lead.items() if event_type in types]
        if not lead_ids:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT DISTINCT ON (lead_id) lead_id, occurred_at, url, title, properties
                FROM tracking_event
                WHERE lead_id = ANY(%s) AND type = %s
                  AND occurred_at >= %s AND occurred_at <= %s AND {where}
                ORDER BY lead_id, occurred_at DESC
                """,  # noqa: S608 - fixed fragments; every value is a parameter
                [
                    lead_ids,
                    event_type,
                    now - EVENT_LOOKBACK,
                    now + datetime.timedelta(minutes=5),
                    *extra,
                ],
            )
            reasons = {
                lead_id: {
                    "trigger": rule.trigger,
                    "occurred_at": occurred_at.isoformat(),
                    "url": url,
                    "title": title,
                    **({"gap_days": props.get("gap_days")} if "gap_days" in props else {}),
                    **({"form": props.get("form")} if "form" in props else {}),
                }
                for lead_id, occurred_at, url, title, raw in cursor.fetchall()
                # Django leaves jsonb as text on raw cursors.
                for props in [json.loads(raw) if isinstance(raw, str) else raw or {}]
            }
        raised += alerts_raise(rule=rule, reasons=reasons, now=now)
    return raised


def alerts_for_score_crossings(now: datetime.datetime | None = None) -> list[int]:
    """Leads whose score rose to a rule's threshold since the last look.
    ``AlertScoreMark`` holds the leads at or above it; a lead that falls below
    loses its mark and can cross again. Two statements per rule."""
    raised: list[int] = []
    for rule in AlertRule.objects.filter(
        trigger=AlertTrigger.SCORE_CROSSED, is_active=True, score_threshold__isnull=False
    ):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM scoring_alertscoremark m USING leads_lead l "
                "WHERE m.rule_id = %s AND l.id = m.lead_id AND l.score < %s",
                [rule.pk, rule.score_threshold],
            )
            cursor.execute(
                """
                WITH crossed AS (
                    SELECT l.id, l.score FROM leads_lead l
                    WHERE l.score >= %s AND NOT EXISTS (
                        SELECT 1 FROM scoring_alertscoremark m
                        WHERE m.rule_id = %s AND m.lead_id = l.id)
                ),
                marked AS (
                    INSERT INTO scoring_alertscoremark (rule_id, lead_id)
                    SELECT %s, id FROM crossed
                    ON CONFLICT (rule_id, lead_id) DO NOTHING
                    RETURNING lead_id
                )
                SELECT c.id, c.score FROM crossed c JOIN marked ON marked.lead_id = c.id
                """,
                [rule.score_threshold, rule.pk, rule.pk],
            )
            reasons = {
                lead_id: {
                    "trigger": rule.trigger,
                    "threshold": rule.score_threshold,
                    "score": score,
                }
                for lead_id, score in cursor.fetchall()
            }
            raised += alerts_raise(rule=rule, reasons=reasons, now=now)
    return raised


# -- delivering ----------------------------------------------------------------------------


class SendError(Exception):
    """A send failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def delivery_claim(delivery_id: int, now: datetime.datetime) -> bool:
    """pending → sending, by whoever gets there first (one UPDATE, row count)."""
    return bool(
        AlertDelivery.objects.filter(
            pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
        ).update(state=DeliveryState.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    )


def delivery_send(delivery_id: int) -> str | None:
    """Claim and send one delivery; returns its new state, or None when it was
    not ours to send (already sent, claimed elsewhere, not due, gone).

    Idempotent: a sent delivery is never claimed again."""
    if not delivery_claim(delivery_id, timezone.now()):
        return None
    delivery = AlertDelivery.objects.select_related("alert__rule", "alert__lead").get(
        pk=delivery_id
    )
    try:
        detail = _send(delivery)
    except Exception as exc:  # every failure is logged on the delivery and retried
        permanent = isinstance(exc, SendError) and exc.permanent
        return _delivery_failed(delivery, f"{type(exc).__name__}: {exc}"[:2000], permanent)
    now = timezone.now()
    with transaction.atomic():
        AlertDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
            state=DeliveryState.SENT, sent_at=now, last_error=""
        )
        AlertAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, at=now, ok=True, detail=detail
        )
    return DeliveryState.SENT


def _delivery_failed(delivery: AlertDelivery, error: str, permanent: bool) -> str:
    now = timezone.now()
    given_up = permanent or delivery.attempts >= MAX_ATTEMPTS
    state = DeliveryState.FAILED if given_up else DeliveryState.PENDING
    delay = min(BACKOFF_FIRST * 2 ** (delivery.attempts - 1), BACKOFF_MAX)
    with transaction.atomic():
        AlertDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
            state=state, last_error=error, next_attempt_at=now + delay
        )
        AlertAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, at=now, ok=False, detail=error
        )
    log.warning("alert delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, error)
    return state


def deliveries_sweep(now: datetime.datetime | None = None) -> list[int]:
    """Hand back deliveries of dead workers and return the ids due to be sent."""
    now = now or timezone.now()
    stale = list(
        AlertDelivery.objects.filter(
            state=DeliveryState.SENDING, claimed_at__lte=now - CLAIM_LEASE
        ).values_list("pk", "attempts")
    )
    for delivery_id, attempts in stale:
        with transaction.atomic():
            if AlertDelivery.objects.filter(
                pk=delivery_id, state=DeliveryState.SENDING, claimed_at__lte=now - CLAIM_LEASE
            ).update(state=DeliveryState.PENDING):
                AlertAttempt.objects.create(
                    delivery_id=delivery_id,
                    number=attempts,
                    at=now,
                    ok=False,
                    detail=_("The worker stopped while sending; sending again."),
                )
    from scoring.alerts.selectors import deliveries_due

    return deliveries_due(now, SWEEP_BATCH)


# -- channels ------------------------------------------------------------------------------


def _send(delivery: AlertDelivery) -> str:
    if delivery.channel == AlertChannel.EMAIL:
        return _send_email(delivery)
    if delivery.channel == AlertChannel.SLACK:
        return _post(delivery, slack_payload(delivery.alert, delivery.language), signed=False)
    return _post(delivery, webhook_payload(delivery.alert), signed=True)


def render_alert_email(alert: Alert, language: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the alert email, in ``language``."""
    from scoring.alerts.selectors import alert_context

    context = alert_context(alert.lead)
    with translation.override(language):
        values = {
            "alert": alert,
            "rule": alert.rule,
            "c": context,
            "reason": _reason(alert),
            "language": language,
        }
        subject = _("[Kizuki] %(reason)s: %(name)s (%(company)s)") % {
            "reason": values["reason"],
            "name": context.name,
            "company": context.company or "-",
        }
        text = render_to_string("scoring/alerts/alert_email.txt", values)
        html = render_to_string("scoring/alerts/alert_email.html", values)
    return " ".join(subject.split()), text, html


def _reason(alert: Alert) -> str:
    reason = alert.reason or {}
    trigger = alert.rule.trigger
    if trigger == AlertTrigger.BECAME_HOT:
        return _("Became HOT")
    if trigger == AlertTrigger.SCORE_CROSSED:
        return _("Score reached %(threshold)s") % {"threshold": reason.get("threshold", "")}
    if trigger == AlertTrigger.RETURNED:
        return _("Back after %(days)s days") % {"days": reason.get("gap_days", "")}
    if trigger == AlertTrigger.FORM_SUBMITTED:
        return _("Submitted “%(form)s”") % {"form": reason.get("title", "")}
    return _("Visited %(page)s") % {"page": reason.get("title") or reason.get("url", "")}


def _send_email(delivery: AlertDelivery) -> str:
    subject, text, html = render_alert_email(delivery.alert, delivery.language)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient],
        headers={"X-Kizuki-Delivery": str(delivery.pk)},
        connection=get_connection(fail_silently=False),
    )
    message.attach_alternative(html, "text/html")
    message.send()
    return _("Email accepted for %(to)s") % {"to": delivery.recipient}


def slack_payload(alert: Alert, language: str) -> dict:
    """The compact Slack message: who, company, score and rank, why, link."""
    from scoring.alerts.selectors import lead_page_url

    lead = alert.lead
    company = lead.company.name if lead.company_id else lead.company_name
    with translation.override(language):
        text = _(
            "%(reason)s: *%(name)s* (%(company)s, %(title)s) score %(score)s %(rank)s — %(link)s"
        ) % {
            "reason": _reason(alert),
            "name": lead.full_name or lead.email,
            "company": company or "-",
            "title": lead.title or "-",
            "score": lead.score,
            "rank": lead.rank,
            "link": f"<{lead_page_url(lead.pk)}|{_('Open the lead')}>",
        }
    return {"text": text}


def webhook_payload(alert: Alert) -> dict:
    from scoring.alerts.selectors import lead_page_url

    lead = alert.lead
    return {
        "alert": alert.pk,
        "rule": {"id": alert.rule_id, "name": alert.rule.name, "trigger": alert.rule.trigger},
        "raised_at": alert.window_start.isoformat(),
        "reason": alert.reason,
        "lead": {
            "id": lead.pk,
            "email": lead.email,
            "name": lead.full_name,
            "company": lead.company.name if lead.company_id else lead.company_name,
            "title": lead.title,
            "phone": lead.phone,
            "score": lead.score,
            "rank": lead.rank,
            "url": lead_page_url(lead.pk),
        },
    }


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``<timestamp>.<body>``: the receiver recomputes it
    from the X-Kizuki-Timestamp header and the raw body, and may refuse old
    timestamps (replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _post(delivery: AlertDelivery, payload: dict, *, signed: bool) -> str:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Kizuki-Alerts/1",
        "X-Kizuki-Delivery": str(delivery.pk),
    }
    if signed:
        timestamp = str(int(time.time()))
        headers["X-Kizuki-Timestamp"] = timestamp
        headers["X-Kizuki-Signature"] = webhook_signature(
            delivery.alert.rule.webhook_secret, timestamp, body
        )
    # check_alert_rule lets only http(s) URLs in.
    request = urllib.request.Request(  # noqa: S310
        delivery.recipient, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode(errors="replace")
        # 4xx other than timeouts and rate limits will not get better by retrying.
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
        raise SendError(f"HTTP {exc.code} {text}".strip(), permanent=permanent) from exc
