"""Signals of tracking (sent on commit). Scoring and scenarios listen."""

from django.dispatch import Signal

# by_lead: dict[int, list[str]] — event types stored for each lead in a batch;
# earliest: dict[int, datetime] — each lead's earliest event in the batch (so
# scoring recomputes only the days from then on)
events_recorded = Signal()
# visitor_id: int, lead_id: int, method: str, events_attributed: int
visitor_identified = Signal()
