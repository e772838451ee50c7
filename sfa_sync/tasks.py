"""sfa_sync tasks (queue "sync"): thin, no arguments, safe to run twice and
concurrently — every row is claimed by a conditional UPDATE."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sfa_sync.tasks.dispatch_outbox")
def dispatch_outbox() -> int:
    """Every few seconds (beat) and after each handoff: send what is due."""
    from sfa_sync.outbox import outbox_dispatch

    return sum(outbox_dispatch().values())


@shared_task(name="sfa_sync.tasks.sync_scores")
def sync_scores() -> int:
    """Every minute: queue updates for handed-over leads whose score changed."""
    from sfa_sync.services import score_updates_request

    return score_updates_request()


@shared_task(name="sfa_sync.tasks.poll_inbound")
def poll_inbound() -> int:
    """Every minute: read deal statuses changed in kintone."""
    from sfa_sync.inbound import inbound_poll_all

    return inbound_poll_all()
