"""Signals of tracking (sent on commit). Scoring and scenarios listen."""

from django.dispatch import Signal

# by_lead: dict[int, list[str]] — event types stored for each lead in a batch
events_recorded = Signal()
# visitor_id: int, lead_id: int, method: str, events_attributed: int
visitor_identified = Signal()
