"""Signals other apps listen to; ``leads`` imports none of them (DESIGN.md).

``*_changed`` / ``*_recorded`` are sent on commit, so a receiver sees stored
data; ``lead_merging`` is sent inside the merge transaction so owners of
rows that point at a lead (events, scores, enrollments) move them with it.
"""

from django.dispatch import Signal

# lead_ids: list[int], tag: str, action: "added" | "removed", actor_kind: str
tags_changed = Signal()
# activity_id: int, lead_id: int, result: str
activity_recorded = Signal()
# lead_id: int, created: bool
lead_saved = Signal()
# survivor_id: int, merged_id: int, moved: dict[str, int] (receivers add their counts)
lead_merging = Signal()
# lead_id: int, channel: str, reason: str
lead_suppressed = Signal()
# lead_ids: list[int], owner_id: int | None
owner_changed = Signal()
# lead_id: int, reason: str — a scenario action asks for the lead to reach the
# SFA. Sent synchronously; sfa_sync answers with the handoffs it queued, and no
# answer means no SFA is installed.
handoff_requested = Signal()
