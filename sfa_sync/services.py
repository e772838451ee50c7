"""Writes of sfa_sync: connectors, handoffs and updates into the outbox, and
deal outcomes coming back (kintone poll, signed webhook, built-in deals).

Everything over many leads is one statement. The outbox rows are written in
the caller's transaction; the dispatcher (``sfa_sync.outbox``) sends them.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads import signals as lead_signals
from leads.models import ActorKind, Lead, Stage
from leads.services import tags_add_bulk
from sfa_sync.models import (
    MAPPABLE_FIELDS,
    Connector,
    ConnectorKind,
    Deal,
    DealStage,
    DealStatus,
    InboundUpdate,
    OutboxItem,
    OutboxState,
    SyncLink,
)

log = logging.getLogger(__name__)

#: The tag a lost deal gives the lead (the scoring tag penalty and the
#: lost-deal scenario react to it).
LOST_TAG = "失注"
#: Where a lost deal puts the lead back: nurturing (興味).
NURTURE_STAGE = Stage.INTEREST
#: Updates of one lead reach a connector at most this often.
SYNC_INTERVAL = datetime.timedelta(minutes=1)


class HandoffReason:
    OPPORTUNITY = "opportunity"
    HOT = "hot"
    MANUAL = "manual"
    SCENARIO = "scenario"
    API = "api"


# -- connectors ---------------------------------------------------------------------------


def _http_url(value: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return False
    return True


def check_connector(
    *,
    kind: str,
    base_url: str = "",
    app_id: int | None = None,
    api_token: str = "",
    update_key_field: str = "",
    field_map: dict | None = None,
    deal_status_field: str = "",
    status_map: dict | None = None,
    webhook_url: str = "",
    webhook_secret: str = "",
    daily_request_budget: int | None = 9000,
    max_attempts: int | None = 12,
) -> None:
    """Raise ValidationError naming each bad field, with a message an admin can act on."""
    errors: dict[str, list[str]] = {}
    if kind not in ConnectorKind.values:
        errors["kind"] = [
            _("Unknown kind. Use one of: %(kinds)s.") % {"kinds": ", ".join(ConnectorKind.values)}
        ]
    if kind == ConnectorKind.KINTONE:
        if not base_url or not _http_url(base_url):
            errors["base_url"] = [_("Give the kintone address, e.g. https://example.cybozu.com.")]
        if not app_id:
            errors["app_id"] = [_("Give the kintone app ID (the number in the app's URL).")]
        if not api_token:
            errors["api_token"] = [_("Give an API token of the app.")]
        elif any(c in api_token for c in "\r\n"):
            errors["api_token"] = [_("An API token is one line.")]
        field_map = field_map if field_map is not None else {}
        if not isinstance(field_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in field_map.items()
        ):
            errors["field_map"] = [
                _("Give a JSON object of Kizuki field → kintone field code, e.g. score → score.")
            ]
        else:
            unknown = sorted(set(field_map) - set(MAPPABLE_FIELDS))
            if unknown:
                errors["field_map"] = [
                    _("Unknown Kizuki fields: %(fields)s. Use: %(known)s.")
                    % {"fields": ", ".join(unknown), "known": ", ".join(MAPPABLE_FIELDS)}
                ]
            elif not update_key_field:
                errors["update_key_field"] = [_("Give the field code of the update key.")]
            elif update_key_field not in field_map.values():
                errors["update_key_field"] = [
                    _("Map a Kizuki field (the lead id or email) to %(code)s in the field mapping.")
                    % {"code": update_key_field}
                ]
            elif next(k for k, v in field_map.items() if v == update_key_field) not in (
                "lead_id",
                "email",
            ):
                errors["update_key_field"] = [
                    _("The update key must hold the Kizuki lead id or the email.")
                ]
        status_map = status_map if status_map is not None else {}
        if not isinstance(status_map, dict) or not all(
            isinstance(v, str) and v in DealStatus.values for v in status_map.values()
        ):
            errors["status_map"] = [
                _("Give a JSON object of kintone value → won, lost or open, e.g. 失注 → lost.")
            ]
        elif deal_status_field and not status_map:
            errors["status_map"] = [
                _("Say which values of the deal status field mean won or lost.")
            ]
        if not daily_request_budget or not 1 <= daily_request_budget <= 10_000:
            errors["daily_request_budget"] = [
                _("Choose 1 to 10,000 requests a day (kintone's limit per app).")
            ]
    if kind == ConnectorKind.WEBHOOK:
        if not webhook_url or not _http_url(webhook_url):
            errors["webhook_url"] = [_("Give an http:// or https:// address.")]
        if not webhook_secret or len(webhook_secret) < 16:
            errors["webhook_secret"] = [_("A signing secret has at least 16 characters.")]
    if max_attempts is None or not 1 <= max_attempts <= 50:
        errors["max_attempts"] = [_("Choose 1 to 50 attempts.")]
    if errors:
        raise ValidationError(errors)


# -- handoffs and updates into the outbox ----------------------------------------------------


def _enqueue_dispatch() -> None:
    """Wake the dispatcher now; the beat entry (every few seconds) covers a lost message."""
    from sfa_sync.tasks import dispatch_outbox

    def send() -> None:
        try:
            dispatch_outbox.apply_async(retry=False)
        except Exception:
            log.warning("outbox dispatch not queued; the beat entry will run it")

    transaction.on_commit(send)


def handoffs_request(
    *,
    lead_ids: Iterable[int],
    reason: str,
    connector_ids: Iterable[int] | None = None,
    now: datetime.datetime | None = None,
) -> int:
    """Hand these leads to every active connector (or those named), once.

    A lead already handed to a connector is left alone there (UNIQUE
    (lead, connector) on the link and on handoff rows). Returns how many
    (lead, connector) handoffs were queued. Set-based; safe to call twice."""
    now = now or timezone.now()
    lead_ids = sorted({int(i) for i in lead_ids})
    if not lead_ids:
        return 0
    connectors = Connector.objects.filter(is_active=True)
    if connector_ids is not None:
        connectors = connectors.filter(pk__in=list(connector_ids))
    wanted = list(connectors.values_list("pk", flat=True))
    if not wanted:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH linked AS (
                INSERT INTO sfa_sync_synclink
                    (lead_id, connector_id, handed_off_at, reason, external_id, deal_status)
                SELECT l.id, c, %s, %s, '', 'open'
                FROM leads_lead l CROSS JOIN unnest(%s::bigint[]) AS c
                WHERE l.id = ANY(%s::bigint[])
                ON CONFLICT (lead_id, connector_id) DO NOTHING
                RETURNING lead_id, connector_id
            )
            INSERT INTO sfa_sync_outboxitem
                (lead_id, connector_id, kind, payload, state, attempts, next_attempt_at,
                 last_error, created_at)
            SELECT lead_id, connector_id, 'handoff', %s::jsonb, 'pending', 0, %s, '', %s
            FROM linked
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            [now, reason[:50], wanted, lead_ids, json.dumps({"reason": reason}), now, now],
        )
        queued = len(cursor.fetchall())
    if queued:
        _enqueue_dispatch()
    return queued


def handoff_request(*, lead_id: int, reason: str, connector_id: int | None = None) -> int:
    """Hand one lead over (the scenario action "hand to SFA" calls this).

    A lead already handed over gets an update instead, so pressing the
    button again re-sends its current data. Returns the handoffs queued."""
    queued = handoffs_request(
        lead_ids=[lead_id],
        reason=reason,
        connector_ids=None if connector_id is None else [connector_id],
    )
    if not queued:
        updates_request(lead_ids=[lead_id], reason=reason)
    return queued


def updates_request(
    *, lead_ids: Iterable[int], reason: str, now: datetime.datetime | None = None
) -> int:
    """Queue an update of each handed-over lead to its connectors.

    Coalesced: a lead with a row already waiting gets none (the waiting row
    sends the lead as it is when sent), and a new row waits until a minute
    after the last push. Built-in deals need no updates. Set-based."""
    now = now or timezone.now()
    lead_ids = sorted({int(i) for i in lead_ids})
    if not lead_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sfa_sync_outboxitem
                (lead_id, connector_id, kind, payload, state, attempts, next_attempt_at,
                 last_error, created_at)
            SELECT s.lead_id, s.connector_id, 'update', %s::jsonb, 'pending', 0,
                   GREATEST(%s, s.last_pushed_at + %s), '', %s
            FROM sfa_sync_synclink s
            JOIN sfa_sync_connector c ON c.id = s.connector_id AND c.is_active AND c.kind <> 'deals'
            WHERE s.lead_id = ANY(%s::bigint[])
              AND NOT EXISTS (
                  SELECT 1 FROM sfa_sync_outboxitem o
                  WHERE o.lead_id = s.lead_id AND o.connector_id = s.connector_id
                    AND o.state = 'pending')
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            [json.dumps({"reason": reason}), now, SYNC_INTERVAL, now, lead_ids],
        )
        queued = len(cursor.fetchall())
    if queued:
        _enqueue_dispatch()
    return queued


def score_updates_request(now: datetime.datetime | None = None) -> int:
    """Queue an update for every handed-over lead whose score differs from the
    one last pushed (scores change in bulk, so this is one periodic query,
    not a signal per lead). Same coalescing as ``updates_request``."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sfa_sync_outboxitem
                (lead_id, connector_id, kind, payload, state, attempts, next_attempt_at,
                 last_error, created_at)
            SELECT s.lead_id, s.connector_id, 'update', '{"reason": "score"}'::jsonb, 'pending',
                   0, GREATEST(%s, s.last_pushed_at + %s), '', %s
            FROM sfa_sync_synclink s
            JOIN sfa_sync_connector c ON c.id = s.connector_id AND c.is_active AND c.kind <> 'deals'
            JOIN leads_lead l ON l.id = s.lead_id
            WHERE s.last_pushed_at IS NOT NULL AND s.pushed_score IS DISTINCT FROM l.score
              AND NOT EXISTS (
                  SELECT 1 FROM sfa_sync_outboxitem o
                  WHERE o.lead_id = s.lead_id AND o.connector_id = s.connector_id
                    AND o.state IN ('pending', 'sending'))
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            [now, SYNC_INTERVAL, now],
        )
        queued = len(cursor.fetchall())
    if queued:
        _enqueue_dispatch()
    return queued


def outbox_retry(*, item_ids: Iterable[int], now: datetime.datetime | None = None) -> int:
    """Send parked (failed) rows again from the first attempt. A row whose
    lead has another row waiting is merged into it (that one sends the
    current data anyway). Returns how many rows were put back."""
    now = now or timezone.now()
    ids = sorted({int(i) for i in item_ids})
    with transaction.atomic():
        retried = 0
        for item in (
            OutboxItem.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, state=OutboxState.FAILED)
            .order_by("pk")
        ):
            waiting = OutboxItem.objects.filter(
                lead_id=item.lead_id,
                connector_id=item.connector_id,
                kind=item.kind,
                state=OutboxState.PENDING,
            ).exists()
            if waiting:
                continue
            OutboxItem.objects.filter(pk=item.pk, state=OutboxState.FAILED).update(
                state=OutboxState.PENDING, attempts=0, next_attempt_at=now, finished_at=None
            )
            retried += 1
    if retried:
        _enqueue_dispatch()
    return retried


# -- deal outcomes coming back -------------------------------------------------------------


def deal_statuses_apply(
    *,
    connector: Connector,
    statuses: dict[int, tuple[str, str]],
    reason: str = "",
    now: datetime.datetime | None = None,
) -> dict[str, list[int]]:
    """The SFA says these handed-over leads' deals are now (status, value in the SFA).

    Only real changes count (a status seen again changes nothing, so polling
    the same records twice is harmless). Lost → tag 失注 and back to
    nurturing; won → customer. Returns {status: [lead ids changed]}."""
    now = now or timezone.now()
    if not statuses:
        return {}
    lead_ids = list(statuses)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE sfa_sync_synclink s SET deal_status = u.status, deal_status_at = %s
            FROM unnest(%s::bigint[], %s::text[]) AS u(lead_id, status)
            WHERE s.connector_id = %s AND s.lead_id = u.lead_id AND s.deal_status <> u.status
            RETURNING s.lead_id, u.status
            """,
            [now, lead_ids, [statuses[i][0] for i in lead_ids], connector.pk],
        )
        changed = cursor.fetchall()
        InboundUpdate.objects.bulk_create(
            [
                InboundUpdate(
                    lead_id=lead_id,
                    connector=connector,
                    status=status,
                    external_value=statuses[lead_id][1][:200],
                    reason=reason[:500],
                    received_at=now,
                )
                for lead_id, status in changed
            ]
        )
        by_status: dict[str, list[int]] = {}
        for lead_id, status in changed:
            by_status.setdefault(status, []).append(lead_id)
        lead_outcomes_apply(
            won=by_status.get(DealStatus.WON, []),
            lost=by_status.get(DealStatus.LOST, []),
            source_ref=connector.name,
        )
    return by_status


def lead_outcomes_apply(*, won: list[int], lost: list[int], source_ref: str) -> None:
    """Lost: tag 失注 (through leads' tag service, so scoring's penalty and
    scenarios follow from its signal) and back to nurturing. Won: customer."""
    if lost:
        tags_add_bulk(
            lead_ids=lost, names=[LOST_TAG], actor_kind=ActorKind.SFA, source_ref=source_ref
        )
        Lead.objects.filter(pk__in=lost).update(stage=NURTURE_STAGE, updated_at=timezone.now())
    if won:
        Lead.objects.filter(pk__in=won).update(stage=Stage.CUSTOMER, updated_at=timezone.now())
    for lead_id in [*won, *lost]:
        transaction.on_commit(
            lambda lead_id=lead_id: lead_signals.lead_saved.send(
                sender=Lead, lead_id=lead_id, created=False
            )
        )


# -- built-in deals -----------------------------------------------------------------------


def deals_create_for(*, connector: Connector, lead_ids: list[int]) -> list[int]:
    """Open a deal for each lead that has none open (one statement; safe twice)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sfa_sync_deal
                (lead_id, connector_id, name, company_id, owner_id, stage, close_reason,
                 created_at)
            SELECT l.id, %s, left(COALESCE(NULLIF(l.company_name, ''), l.email), 200),
                   l.company_id, l.owner_id, 'qualification', '', %s
            FROM leads_lead l WHERE l.id = ANY(%s::bigint[])
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            [connector.pk, timezone.now(), lead_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def check_deal_close(*, stage: str, reason: str) -> None:
    if stage not in (DealStage.WON, DealStage.LOST):
        raise ValidationError({"stage": [_("A deal is closed as won or lost.")]})
    if stage == DealStage.LOST and not reason.strip():
        raise ValidationError({"close_reason": [_("Say why the deal was lost.")]})


@transaction.atomic
def deal_close(*, deal: Deal, stage: str, reason: str = "") -> Deal:
    """Close a built-in deal as won or lost; the lead follows (customer, or
    失注 and nurturing). Closing it again the same way changes nothing."""
    check_deal_close(stage=stage, reason=reason)
    locked = Deal.objects.select_for_update().get(pk=deal.pk)
    if locked.stage == stage:
        return locked
    locked.stage = stage
    locked.close_reason = reason
    locked.closed_at = timezone.now()
    locked.save(update_fields=["stage", "close_reason", "closed_at"])
    status = DealStatus.WON if stage == DealStage.WON else DealStatus.LOST
    link = (
        SyncLink.objects.filter(lead_id=locked.lead_id, connector_id=locked.connector_id).first()
        if locked.connector_id
        else None
    )
    if link is not None:
        deal_statuses_apply(
            connector=locked.connector,
            statuses={locked.lead_id: (str(status), str(DealStage(stage).label))},
            reason=reason,
        )
    else:
        InboundUpdate.objects.create(
            lead_id=locked.lead_id, connector=None, status=status, reason=reason[:500]
        )
        lead_outcomes_apply(
            won=[locked.lead_id] if status == DealStatus.WON else [],
            lost=[locked.lead_id] if status == DealStatus.LOST else [],
            source_ref=_("Deal %(deal)s") % {"deal": locked.pk},
        )
    deal.refresh_from_db()
    return locked
