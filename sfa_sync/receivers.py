"""How sfa_sync reacts to leads and scoring (signals sent on commit).

Handoff triggers: an activity with the result "opportunity" (商談化), and a
lead becoming HOT for connectors where the admin turned that on. After a
handoff, changes of rank, tags, owner and activities queue updates
(coalesced per lead to one a minute); scores are followed by a periodic
query (``sync_scores``) since they change in bulk.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from leads.signals import activity_recorded, owner_changed, tags_changed
from scoring.signals import rank_changed
from sfa_sync.models import Connector
from sfa_sync.services import HandoffReason, handoffs_request, updates_request

log = logging.getLogger(__name__)

OPPORTUNITY = "opportunity"


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
