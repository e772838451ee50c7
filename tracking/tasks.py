"""Tracking tasks (queue "tracking"): drain the event stream, keep partitions."""

from celery import shared_task


@shared_task(name="tracking.tasks.drain_events")
def drain_events() -> int:
    """Beat runs this every second. Safe to run in several workers at once:
    one stores at a time, another finding it running returns at once
    (``tracking.writer.drain``)."""
    from tracking.writer import drain

    return drain()


@shared_task(name="tracking.tasks.maintain_partitions")
def maintain_partitions() -> dict:
    """Daily: create the months ahead, drop months past retention (whole partitions)."""
    from tracking.partitions import drop_expired_partitions, ensure_partitions

    return {"created": ensure_partitions(), "dropped": drop_expired_partitions()}


# Confirmation mail is routed to the mail queue (CELERY_TASK_ROUTES).
@shared_task(name="tracking.tasks.send_double_opt_in_mail")
def send_double_opt_in_mail(mail_id: int, stale_before: str | None = None) -> bool:
    """Send one double opt-in confirmation mail. Idempotent: the row is claimed
    with a conditional UPDATE, so a redelivered or duplicate task sends nothing
    (see ``tracking.double_opt_in``)."""
    import datetime

    from tracking.double_opt_in import double_opt_in_mail_send

    before = datetime.datetime.fromisoformat(stale_before) if stale_before else None
    return double_opt_in_mail_send(mail_id, stale_before=before)


@shared_task(name="tracking.tasks.redeliver_double_opt_in_mails")
def redeliver_double_opt_in_mails() -> int:
    """Every minute: hand out confirmation mails not picked up, or claimed by a
    worker that died before sending."""
    from tracking.double_opt_in import double_opt_in_mails_redeliver

    return double_opt_in_mails_redeliver()
