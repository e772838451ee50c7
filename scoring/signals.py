"""Signals of scoring (sent on commit)."""

from django.dispatch import Signal

# changes: list[(lead_id, old_rank, new_rank)]
rank_changed = Signal()
