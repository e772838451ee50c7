"""Tracking tasks (queue "tracking"): drain the event stream, keep partitions."""

from celery import shared_task


@shared_task(name="tracking.tasks.drain_events")
def drain_events() -> int:
    """Beat runs this every second. Safe to run in several workers at once:
    the consumer group hands each batch to one of them."""
    from tracking.writer import drain

    return drain()


@shared_task(name="tracking.tasks.maintain_partitions")
def maintain_partitions() -> dict:
    """Daily: create the months ahead, drop months past retention (whole partitions)."""
    from tracking.partitions import drop_expired_partitions, ensure_partitions

    return {"created": ensure_partitions(), "dropped": drop_expired_partitions()}
