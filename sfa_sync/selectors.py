"""Reads of sfa_sync."""

from __future__ import annotations

from django.db.models import QuerySet

from sfa_sync.models import OutboxItem, OutboxState, SyncLink


def lead_sync_links(lead_id: int) -> QuerySet:
    return SyncLink.objects.filter(lead_id=lead_id).select_related("connector").order_by("pk")


def lead_open_outbox(lead_id: int) -> QuerySet:
    """The lead's rows still to send or parked, oldest first."""
    return (
        OutboxItem.objects.filter(
            lead_id=lead_id,
            state__in=[OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED],
        )
        .select_related("connector")
        .order_by("pk")
    )
