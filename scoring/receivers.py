"""How scoring reacts to other apps (signals sent on commit)."""

import logging

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from leads.signals import lead_merging, tags_changed
from scoring.models import RankChange, ScoreDay, ScoreSnapshot
from scoring.tasks import LEADS_PER_TASK, score_leads
from tracking.signals import events_recorded, visitor_identified

log = logging.getLogger(__name__)


def _enqueue(lead_ids, earliest: dict | None = None) -> None:
    """Queue scoring of these leads. If the broker is down the daily rescore
    catches up, so a failed enqueue is logged, never raised into the caller.

    With ``earliest`` (lead → its earliest new event), each task recomputes
    only the ledger days from its leads' earliest local day on."""
    ids = sorted(set(lead_ids))
    for i in range(0, len(ids), LEADS_PER_TASK):
        chunk = ids[i : i + LEADS_PER_TASK]
        since = None
        if earliest and all(lead in earliest for lead in chunk):
            since = timezone.localdate(min(earliest[lead] for lead in chunk)).isoformat()
        try:
            score_leads.apply_async(args=[chunk], kwargs={"since": since}, retry=False)
        except Exception:
            log.warning("scoring of %d leads not queued; the daily rescore will catch up", len(ids))


@receiver(events_recorded, dispatch_uid="scoring-events-recorded")
def on_events(sender, by_lead: dict, earliest: dict | None = None, **kwargs) -> None:
    _enqueue(by_lead, earliest)


@receiver(visitor_identified, dispatch_uid="scoring-visitor-identified")
def on_identified(sender, lead_id: int, **kwargs) -> None:
    _enqueue([lead_id])


@receiver(tags_changed, dispatch_uid="scoring-tags-changed")
def on_tags(sender, lead_ids: list, **kwargs) -> None:
    _enqueue(lead_ids)


@receiver(lead_merging, dispatch_uid="scoring-lead-merging")
def on_merge(sender, survivor_id: int, merged_id: int, moved: dict, **kwargs) -> None:
    # The merged lead's ledger days are recomputed under the survivor from the
    # events (which tracking moves to it): moving the rows could double a day
    # both leads had, and the ledger is only ever recomputed, never added to.
    moved["score_days"], _ = ScoreDay.objects.filter(lead_id=merged_id).delete()
    ScoreSnapshot.objects.filter(lead_id=merged_id).delete()
    RankChange.objects.filter(lead_id=merged_id).update(lead_id=survivor_id)
    transaction.on_commit(lambda: _enqueue([survivor_id]))
