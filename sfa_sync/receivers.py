"""How sfa_sync reacts to leads and scoring (signals sent on commit).

Handoff triggers: an activity with the result "opportunity" (商談化), and a
lead becoming HOT for connectors where the admin turned that on. After a
handoff, changes of rank, tags, owner and activities queue updates
(coalesced per lead to one a minute); scores are followed by a periodic
query (``sync_scores``) since they change in bulk.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.dispatch import receiver

from leads.signals import (
    activity_recorded,
    handoff_requested,
    lead_merging,
    owner_changed,
    tags_changed,
)
from scoring.signals import rank_changed
from sfa_sync.models import Connector
from sfa_sync.services import HandoffReason, handoff_request, handoffs_request, updates_request

log = logging.getLogger(__name__)

OPPORTUNITY = "opportunity"


@receiver(handoff_requested, dispatch_uid="sfa-handoff-requested")
def on_handoff_requested(sender, lead_id: int, reason: str = "", **kwargs) -> int:
    """A scenario action "hand to SFA" (its own reason text stays on the run)."""
    return handoff_request(lead_id=lead_id, reason=HandoffReason.SCENARIO)


@receiver(activity_recorded, dispatch_uid="sfa-activity-recorded")
def on_activity(sender, activity_id: int, lead_id: int, result: str, **kwargs) -> None:
    if result == OPPORTUNITY:
        handoffs_request(lead_ids=[lead_id], reason=HandoffReason.OPPORTUNITY)
    updates_request(lead_ids=[lead_id], reason="activity")


@receiver(rank_changed, dispatch_uid="sfa-rank-changed")
def on_rank(sender, changes: list, **kwargs) -> None:
    became_hot = [lead for lead, old, new in changes if new == "HOT" and old != "HOT"]
    if became_hot:
        connectors = list(
            Connector.objects.filter(is_active=True, handoff_on_hot=True).values_list(
                "pk", flat=True
            )
        )
        if connectors:
            handoffs_request(
                lead_ids=became_hot, reason=HandoffReason.HOT, connector_ids=connectors
            )
    updates_request(lead_ids=[lead for lead, _old, _new in changes], reason="rank")


@receiver(tags_changed, dispatch_uid="sfa-tags-changed")
def on_tags(sender, lead_ids: list, **kwargs) -> None:
    updates_request(lead_ids=lead_ids, reason="tags")


@receiver(owner_changed, dispatch_uid="sfa-owner-changed")
def on_owner(sender, lead_ids: list, **kwargs) -> None:
    updates_request(lead_ids=lead_ids, reason="owner")


@receiver(lead_merging, dispatch_uid="sfa-lead-merging")
def on_merge(sender, survivor_id: int, merged_id: int, moved: dict, **kwargs) -> None:
    """Inside the merge transaction: the merged lead's handoffs become the
    survivor's where it has none for that connector (its record in the SFA is
    keyed by the survivor from now on); history moves; waiting rows of the
    merged lead are dropped and the survivor gets an update instead."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sfa_sync_synclink m SET lead_id = %s WHERE m.lead_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM sfa_sync_synclink s WHERE s.lead_id = %s "
            "AND s.connector_id = m.connector_id)",
            [survivor_id, merged_id, survivor_id],
        )
        moved["sfa_links"] = cursor.rowcount
        cursor.execute(
            "DELETE FROM sfa_sync_outboxitem "
            "WHERE lead_id = %s AND state IN ('pending', 'sending')",
            [merged_id],
        )
        cursor.execute(
            "UPDATE sfa_sync_outboxitem o SET lead_id = %s WHERE o.lead_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM sfa_sync_outboxitem s WHERE s.lead_id = %s "
            "AND s.connector_id = o.connector_id AND o.kind = 'handoff' AND s.kind = 'handoff')",
            [survivor_id, merged_id, survivor_id],
        )
        cursor.execute(
            "UPDATE sfa_sync_inboundupdate SET lead_id = %s WHERE lead_id = %s",
            [survivor_id, merged_id],
        )
        cursor.execute(
            """
            UPDATE sfa_sync_deal SET lead_id = %s
            WHERE lead_id = %s AND NOT (
                stage IN ('qualification', 'proposal', 'negotiation')
                AND EXISTS (SELECT 1 FROM sfa_sync_deal d WHERE d.lead_id = %s
                            AND d.stage IN ('qualification', 'proposal', 'negotiation')))
            """,
            [survivor_id, merged_id, survivor_id],
        )
    transaction.on_commit(lambda: updates_request(lead_ids=[survivor_id], reason="merge"))
