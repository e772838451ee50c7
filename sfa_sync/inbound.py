"""Deal outcomes from kintone: poll the records updated since the last sync.

``GET records`` with ``<updated-time field> >= "<cursor>" order by
<updated-time field> asc, $id asc limit 500 offset n``, reading the update
key and the deal status field. kintone's times have minute precision, so the
cursor is re-read inclusively; applying a status already known changes
nothing, which makes the overlap (and a repeated poll) harmless.
"""

from __future__ import annotations

import datetime
import logging

from django.db import connection
from django.utils import timezone

from sfa_sync import kintone
from sfa_sync.models import Connector, ConnectorKind, DealStatus
from sfa_sync.outbox import request_budget_take
from sfa_sync.services import deal_statuses_apply

log = logging.getLogger(__name__)

#: Where the first poll of a connector starts.
FIRST_POLL_LOOKBACK = datetime.timedelta(days=1)


def _lead_ids_by_key(connector: Connector, keys: list[str]) -> dict[str, int]:
    """Update-key value → lead id, for leads handed to this connector."""
    source = next(
        (k for k, v in connector.field_map.items() if v == connector.update_key_field), "lead_id"
    )
    with connection.cursor() as cursor:
        if source == "email":
            cursor.execute(
                "SELECT lower(l.email), l.id FROM leads_lead l JOIN sfa_sync_synclink s "
                "ON s.lead_id = l.id AND s.connector_id = %s WHERE lower(l.email) = ANY(%s)",
                [connector.pk, [k.lower() for k in keys]],
            )
        else:
            cursor.execute(
                "SELECT s.lead_id::text, s.lead_id FROM sfa_sync_synclink s "
                "WHERE s.connector_id = %s AND s.lead_id = ANY(%s::bigint[])",
                [connector.pk, [int(k) for k in keys if k.isdigit()]],
            )
        return dict(cursor.fetchall())


def kintone_poll(connector: Connector, now: datetime.datetime | None = None) -> int:
    """Read deal statuses changed since the cursor; returns how many leads changed."""
    now = now or timezone.now()
    if connector.kind != ConnectorKind.KINTONE or not connector.deal_status_field:
        return 0
    cursor_at = connector.inbound_cursor or (connector.created_at - FIRST_POLL_LOOKBACK)
    updated = connector.updated_time_field
    where = f"{updated} >= {kintone.query_string(kintone.query_datetime(cursor_at))}"
    newest = cursor_at
    changed = 0
    offset = 0
    while offset <= kintone.MAX_OFFSET - kintone.GET_LIMIT:
        if not request_budget_take(connector, now):
            log.warning("SFA connector %s: today's request budget is spent", connector.pk)
            break
        query = f"{where} order by {updated} asc, $id asc limit {kintone.GET_LIMIT} offset {offset}"
        records = kintone.records_get(
            records_url=connector.records_url,
            token=connector.api_token,
            app=connector.app_id,
            query=query,
            fields=["$id", connector.update_key_field, connector.deal_status_field, updated],
        )
        statuses: dict[str, tuple[str, str]] = {}
        for record in records:
            key = str((record.get(connector.update_key_field) or {}).get("value", "")).strip()
            raw = str((record.get(connector.deal_status_field) or {}).get("value", "") or "")
            status = connector.status_map.get(raw)
            if key and status in DealStatus.values:
                statuses[key] = (status, raw)  # later records (newer) win
            at = kintone.parse_datetime(str((record.get(updated) or {}).get("value", "")))
            if at is not None and at > newest:
                newest = at
        by_lead = _lead_ids_by_key(connector, list(statuses))
        applied = deal_statuses_apply(
            connector=connector,
            statuses={lead_id: statuses[key] for key, lead_id in by_lead.items()},
            reason=f"kintone {connector.deal_status_field}",
            now=now,
        )
        changed += sum(len(ids) for ids in applied.values())
        if len(records) < kintone.GET_LIMIT:
            break
        offset += kintone.GET_LIMIT
    Connector.objects.filter(pk=connector.pk).update(inbound_cursor=newest)
    connector.inbound_cursor = newest
    return changed


def inbound_poll_all(now: datetime.datetime | None = None) -> int:
    changed = 0
    for connector in Connector.objects.filter(is_active=True, kind=ConnectorKind.KINTONE).exclude(
        deal_status_field=""
    ):
        try:
            changed += kintone_poll(connector, now)
        except kintone.KintoneError as exc:
            log.warning("SFA connector %s: polling deal statuses failed: %s", connector.pk, exc)
    return changed
