"""Alert tasks: thin, carry ids, safe to run twice (a delivery is claimed by a
conditional UPDATE, so a duplicate or redelivered task sends nothing)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="scoring.alerts.deliver")
def alert_deliver(delivery_id: int) -> str | None:
    from scoring.alerts.services import delivery_send

    return delivery_send(delivery_id)


@shared_task(name="scoring.alerts.sweep")
def alerts_sweep() -> int:
    """Every ~30 s (beat): raise score-crossing alerts, hand back deliveries of
    dead workers, and re-enqueue every delivery that is due (new ones whose
    task was lost, retries whose backoff is over)."""
    from scoring.alerts.services import (
        alerts_for_score_crossings,
        deliveries_enqueue,
        deliveries_sweep,
    )

    alerts_for_score_crossings()
    due = deliveries_sweep()
    deliveries_enqueue(due)
    return len(due)
