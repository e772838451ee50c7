"""Alerts react to rank changes and recorded events (both signals are sent on commit).

Raising is one short set-based statement per rule, done right here so the
alert exists before the sender goes on; sending is queued. An error is logged,
never raised into scoring or the event writer.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from scoring.signals import rank_changed
from tracking.signals import events_recorded

log = logging.getLogger(__name__)


@receiver(rank_changed, dispatch_uid="scoring-alerts-rank-changed")
def on_rank_changed(sender, changes: list, **kwargs) -> None:
    from scoring.alerts.services import alerts_for_rank_changes

    try:
        alerts_for_rank_changes(changes)
    except Exception:
        log.exception("HOT alerts for %d rank changes not raised", len(changes))


@receiver(events_recorded, dispatch_uid="scoring-alerts-events-recorded")
def on_events_recorded(sender, by_lead: dict, **kwargs) -> None:
    from scoring.alerts.services import alerts_for_events

    try:
        alerts_for_events(by_lead)
    except Exception:
        log.exception("event alerts for %d leads not raised", len(by_lead))
