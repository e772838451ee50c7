"""The dispatcher: sends due outbox rows to their connectors, exactly once.

Per connector it claims up to ``BATCH_SIZE`` due rows with one conditional
UPDATE (pending → sending, ``FOR UPDATE SKIP LOCKED`` so two dispatchers
never take the same row), builds each lead's record as it is *now*, sends
outside any transaction, then marks the rows sent — or pending with an
exponential backoff (429, 5xx, network), or failed (parked) once the
connector's ``max_attempts`` are used or the SFA refuses a record for good.

A worker killed after the claim leaves rows ``sending``; after
``CLAIM_LEASE`` the next dispatch hands them back. Sending them again is
harmless: kintone's write is an upsert by ``updateKey`` (the record the
first try created is updated, never doubled); webhook bodies carry the row
id in ``X-Kizuki-Delivery`` for receivers to drop a repeat; built-in deals
are written in the same transaction that marks the row sent.
"""

from __future__ import annotations

import datetime
import json
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from sfa_sync import kintone, webhook
from sfa_sync.models import Connector, ConnectorKind
from sfa_sync.services import SYNC_INTERVAL, deals_create_for

log = logging.getLogger(__name__)

#: Rows per send: kintone's limit per PUT records; a batch's records are a few
#: hundred KB at most.
BATCH_SIZE = kintone.PUT_LIMIT
#: A claim not finished after this long belongs to a dead worker (far above
#: the HTTP timeouts).
CLAIM_LEASE = datetime.timedelta(minutes=3)
BACKOFF_FIRST = datetime.timedelta(seconds=30)
BACKOFF_MAX = datetime.timedelta(hours=1)
#: One dispatch run stops claiming after this long; the next run goes on.
RUN_SECONDS = 50.0


def lead_page_url(lead_id: int) -> str:
    return settings.PUBLIC_URL + reverse("admin:leads_lead_change", args=[lead_id])


# -- the lead's data as the SFA gets it ------------------------------------------------------


def lead_values(lead_ids: list[int]) -> dict[int, dict]:
    """Each lead's mappable values (see ``MAPPABLE_FIELDS``), in one query."""
    users = connection.ops.quote_name(get_user_model()._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT l.id, l.email, l.last_name, l.first_name,
                   COALESCE(NULLIF(l.company_name, ''), co.name, ''), l.phone, l.title,
                   l.score, l.rank, l.stage, l.last_activity_at,
                   COALESCE(NULLIF(trim(u.last_name || ' ' || u.first_name), ''), u.username, ''),
                   COALESCE(u.email, ''),
                   COALESCE((SELECT array_agg(t.name ORDER BY t.name)
                             FROM leads_leadtag lt JOIN leads_tag t ON t.id = lt.tag_id
                             WHERE lt.lead_id = l.id), '{{}}')
            FROM leads_lead l
            LEFT JOIN leads_company co ON co.id = l.company_id
            LEFT JOIN {users} u ON u.id = l.owner_id
            WHERE l.id = ANY(%s::bigint[])
            """,  # noqa: S608 - the table name comes from the model
            [lead_ids],
        )
        rows = cursor.fetchall()
    values = {}
    for (
        lead_id, email, last, first, company, phone, title, score, rank, stage, last_activity,
        owner, owner_email, tags,
    ) in rows:  # fmt: skip
        values[lead_id] = {
            "lead_id": str(lead_id),
            "email": email,
            "last_name": last,
            "first_name": first,
            "full_name": " ".join(p for p in (last, first) if p),
            "company": company,
            "phone": phone,
            "title": title,
            "score": score,
            "rank": rank,
            "tags": list(tags),
            "owner": owner,
            "owner_email": owner_email,
            "last_activity": last_activity.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if last_activity
            else "",
            "stage": stage,
            "lead_url": lead_page_url(lead_id),
        }
    return values


def kintone_record(connector: Connector, values: dict) -> tuple[str, dict]:
    """(update key value, record) for kintone: ``{"code": {"value": …}}``.

    The key field is not in the record: on INSERT kintone fills it from the
    updateKey. Tags go as one comma-separated text (a text field needs no
    option list kept in step with Kizuki's tags); numbers as strings."""
    key_source = next(k for k, v in connector.field_map.items() if v == connector.update_key_field)
    record = {}
    for source, code in connector.field_map.items():
        if code == connector.update_key_field:
            continue
        value = values.get(source, "")
        if source == "tags":
            value = ", ".join(value)
        elif source == "score":
            value = str(value)
        record[code] = {"value": value}
    return str(values[key_source]), record


# -- claiming ------------------------------------------------------------------------------


def stale_release(now: datetime.datetime | None = None) -> int:
    """Hand back rows whose worker died after claiming them."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sfa_sync_outboxitem SET state = 'pending', last_error = %s "
            "WHERE state = 'sending' AND claimed_at <= %s",
            [_("The worker stopped while sending; sending again."), now - CLAIM_LEASE],
        )
        return cursor.rowcount


def batch_claim(connector_id: int, now: datetime.datetime, limit: int = BATCH_SIZE) -> list:
    """pending → sending for up to ``limit`` due rows of this connector: one
    statement, the row count is ours. An update waits until a minute after
    the lead's last push, and never overtakes a row of its lead in flight.
    The due rows are picked by an uncorrelated ``ARRAY(SELECT …)`` run once:
    under ``id IN (SELECT … LIMIT … SKIP LOCKED)`` a nested-loop plan may
    rescan the subquery and claim past the limit (``sends_claim_due``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sfa_sync_outboxitem o
            SET state = 'sending', attempts = o.attempts + 1, claimed_at = %s
            WHERE o.id = ANY(ARRAY(
                SELECT d.id FROM sfa_sync_outboxitem d
                JOIN sfa_sync_synclink s
                  ON s.lead_id = d.lead_id AND s.connector_id = d.connector_id
                WHERE d.connector_id = %s AND d.state = 'pending' AND d.next_attempt_at <= %s
                  AND (d.kind = 'handoff' OR s.last_pushed_at IS NULL
                       OR s.last_pushed_at <= %s)
                  AND NOT EXISTS (
                      SELECT 1 FROM sfa_sync_outboxitem x
                      WHERE x.lead_id = d.lead_id AND x.connector_id = d.connector_id
                        AND x.state = 'sending')
                ORDER BY d.next_attempt_at, d.id
                LIMIT %s
                FOR UPDATE OF d SKIP LOCKED
            )) AND o.state = 'pending'
            RETURNING o.id, o.lead_id, o.kind, o.attempts
            """,
            [now, connector_id, now, now - SYNC_INTERVAL, limit],
        )
        return sorted(cursor.fetchall())


def request_budget_take(connector: Connector, now: datetime.datetime) -> bool:
    """Count one request against the connector's daily budget (kintone's
    per-app limit); False when today's budget is spent."""
    today = timezone.localdate(now)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sfa_sync_connector
            SET requests_today = CASE WHEN requests_day = %s THEN requests_today + 1 ELSE 1 END,
                requests_day = %s
            WHERE id = %s
              AND (requests_day IS DISTINCT FROM %s OR requests_today < daily_request_budget)
            """,
            [today, today, connector.pk, today],
        )
        return cursor.rowcount == 1


# -- outcomes ------------------------------------------------------------------------------


def _mark_sent(
    connector: Connector,
    rows: list,
    now: datetime.datetime,
    payloads: dict[int, dict],
    pushed: dict[int, tuple[int, str]],
) -> None:
    """Rows sent; each lead's link remembers when and what score was pushed."""
    ids = [row[0] for row in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sfa_sync_outboxitem o
            SET state = 'sent', finished_at = %s, last_error = '',
                payload = o.payload || jsonb_build_object('sent', u.sent)
            FROM unnest(%s::bigint[], %s::jsonb[]) AS u(id, sent)
            WHERE o.id = u.id AND o.state = 'sending'
            """,
            [
                now,
                ids,
                [json.dumps(payloads.get(row[1], {}), ensure_ascii=False) for row in rows],
            ],
        )
        handed = [row[1] for row in rows if row[2] == "handoff"]
        if handed:
            # The workbench showed these as "waiting for the SFA" (商談化).
            from scoring.hotlists.services import handoffs_done_for_leads

            handoffs_done_for_leads(lead_ids=handed)
        if pushed:
            lead_ids = list(pushed)
            cursor.execute(
                """
                UPDATE sfa_sync_synclink s
                SET last_pushed_at = %s, pushed_score = u.score,
                    external_id = COALESCE(NULLIF(u.external_id, ''), s.external_id)
                FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS u(lead_id, score, external_id)
                WHERE s.lead_id = u.lead_id AND s.connector_id = %s
                """,
                [
                    now,
                    lead_ids,
                    [pushed[i][0] for i in lead_ids],
                    [pushed[i][1] for i in lead_ids],
                    connector.pk,
                ],
            )


def _mark_failed(
    connector: Connector, rows: list, error: str, now: datetime.datetime, *, permanent: bool
) -> None:
    """Back to pending after the backoff, or parked as failed."""
    if not rows:
        return
    error = error[:2000]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sfa_sync_outboxitem o
            SET state = CASE WHEN %s OR o.attempts >= %s THEN 'failed' ELSE 'pending' END,
                finished_at = CASE WHEN %s OR o.attempts >= %s THEN %s::timestamptz END,
                next_attempt_at = %s + LEAST(%s * power(2, GREATEST(o.attempts - 1, 0)), %s)
                    * interval '1 second',
                last_error = %s
            WHERE o.id = ANY(%s::bigint[]) AND o.state = 'sending'
            """,
            [
                permanent,
                connector.max_attempts,
                permanent,
                connector.max_attempts,
                now,
                now,
                BACKOFF_FIRST.total_seconds(),
                BACKOFF_MAX.total_seconds(),
                error,
                [row[0] for row in rows],
            ],
        )
    log.warning(
        "SFA connector %s: %d rows not sent (%s): %s",
        connector.pk,
        len(rows),
        "parked" if permanent else "will retry",
        error,
    )


def _unclaim(rows: list) -> None:
    """Rows claimed but not tried (the batch stopped before them): no attempt counted."""
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sfa_sync_outboxitem SET state = 'pending', attempts = attempts - 1 "
                "WHERE id = ANY(%s::bigint[]) AND state = 'sending'",
                [[row[0] for row in rows]],
            )


# -- sending per connector kind -----------------------------------------------------------


def _send_kintone(connector: Connector, rows: list, now: datetime.datetime) -> bool:
    """One PUT for the batch. Returns False when the SFA is unavailable
    (stop dispatching to it this run)."""
    values = lead_values(sorted({row[1] for row in rows}))
    gone = [row for row in rows if row[1] not in values]
    _mark_failed(connector, gone, _("The lead no longer exists."), now, permanent=True)
    rows = [row for row in rows if row[1] in values]
    if not rows:
        return True
    # One record per lead, even if a handoff and an update of it were both due.
    lead_order = list(dict.fromkeys(row[1] for row in rows))
    records = [kintone_record(connector, values[lead_id]) for lead_id in lead_order]
    try:
        answer = kintone.records_upsert(
            records_url=connector.records_url,
            token=connector.api_token,
            app=connector.app_id,
            key_field=connector.update_key_field,
            records=records,
        )
    except kintone.KintoneError as exc:
        if exc.transient:
            _mark_failed(connector, rows, str(exc), now, permanent=False)
            return False
        bad_leads = {lead_order[i] for i in exc.bad_indexes if i < len(lead_order)}
        if not bad_leads:  # the whole request was refused (token, app, permissions)
            _mark_failed(connector, rows, str(exc), now, permanent=True)
            return False
        # Keep the good rows of the batch: park the refused ones, the rest go again at once.
        _mark_failed(
            connector, [r for r in rows if r[1] in bad_leads], str(exc), now, permanent=True
        )
        _unclaim([r for r in rows if r[1] not in bad_leads])
        return True
    external = {
        lead_id: str(answer[i].get("id", "")) if i < len(answer) else ""
        for i, lead_id in enumerate(lead_order)
    }
    payloads = {lead_id: dict(records[i][1]) for i, lead_id in enumerate(lead_order)}
    pushed = {lead_id: (values[lead_id]["score"], external[lead_id]) for lead_id in lead_order}
    _mark_sent(connector, rows, timezone.now(), payloads, pushed)
    return True


def webhook_payload(connector: Connector, kind: str, delivery_id: int, values: dict) -> dict:
    return {
        "event": kind,
        "delivery": delivery_id,
        "connector": connector.pk,
        "lead": values,
    }


def _send_webhook(connector: Connector, rows: list, now: datetime.datetime) -> bool:
    values = lead_values(sorted({row[1] for row in rows}))
    for index, (item_id, lead_id, kind, _attempts) in enumerate(rows):
        row = rows[index]
        if lead_id not in values:
            _mark_failed(connector, [row], _("The lead no longer exists."), now, permanent=True)
            continue
        payload = webhook_payload(connector, kind, item_id, values[lead_id])
        try:
            webhook.post_signed(connector.webhook_url, connector.webhook_secret, payload, item_id)
        except webhook.WebhookError as exc:
            _mark_failed(connector, [row], str(exc), now, permanent=not exc.transient)
            if exc.transient:
                _unclaim(rows[index + 1 :])
                return False
            continue
        _mark_sent(
            connector,
            [row],
            timezone.now(),
            {lead_id: payload["lead"]},
            {lead_id: (values[lead_id]["score"], "")},
        )
    return True


def _send_deals(connector: Connector, rows: list, now: datetime.datetime) -> bool:
    """Built-in deals: the deal is written with the rows marked sent, in one transaction."""
    with transaction.atomic():
        deals_create_for(connector=connector, lead_ids=sorted({row[1] for row in rows}))
        _mark_sent(connector, rows, now, {}, {})
    return True


SENDERS = {
    ConnectorKind.KINTONE: _send_kintone,
    ConnectorKind.WEBHOOK: _send_webhook,
    ConnectorKind.DEALS: _send_deals,
}


def outbox_dispatch(
    now: datetime.datetime | None = None, run_seconds: float = RUN_SECONDS
) -> dict[int, int]:
    """Send what is due, connector by connector, in batches; returns rows
    handled per connector. Safe to run concurrently and twice."""
    stale_release(now)
    started = time.monotonic()
    handled: dict[int, int] = {}
    for connector in Connector.objects.filter(is_active=True).order_by("pk"):
        send = SENDERS[ConnectorKind(connector.kind)]
        while time.monotonic() - started < run_seconds:
            moment = now or timezone.now()
            if connector.kind == ConnectorKind.KINTONE and not request_budget_take(
                connector, moment
            ):
                log.warning("SFA connector %s: today's request budget is spent", connector.pk)
                break
            rows = batch_claim(connector.pk, moment)
            if not rows:
                if connector.kind == ConnectorKind.KINTONE:
                    _budget_give_back(connector)
                break
            handled[connector.pk] = handled.get(connector.pk, 0) + len(rows)
            if not send(connector, rows, moment):
                break
    return handled


def _budget_give_back(connector: Connector) -> None:
    """Nothing was due after all: the request counted was not made."""
    Connector.objects.filter(pk=connector.pk, requests_today__gt=0).update(
        requests_today=F("requests_today") - 1
    )
