"""Scoring's entries on the lead timeline: rank changes."""

from __future__ import annotations

from django.utils.translation import gettext as _

from leads.timeline import TimelineEntry, register_timeline_source
from scoring.models import RankChange


def rank_changes(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    rows = RankChange.objects.filter(lead_id=lead_id)
    if before is not None:
        rows = rows.filter(changed_at__lt=before)
    return [
        TimelineEntry(
            occurred_at=row.changed_at,
            kind="rank_changed",
            title=_("Rank %(old)s → %(new)s (score %(score)d)")
            % {"old": row.old_rank, "new": row.new_rank, "score": row.score},
            icon="score",
        )
        for row in rows.order_by("-changed_at")[:limit]
    ]


def register() -> None:
    register_timeline_source("scoring.rank_changes", rank_changes)
