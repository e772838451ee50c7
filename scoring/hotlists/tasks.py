"""HOT list tasks: thin, carry ids, safe to run twice.

``scoring.hotlists.dispatch`` runs from beat every few minutes: it makes the
weeks and records the mails that are due, then queues one send per unsent
mail. Sends claim their row first, so duplicate queueing is harmless.
"""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)


@shared_task(name="scoring.hotlists.dispatch")
def dispatch() -> int:
    from scoring.hotlists.services import hotlists_dispatch

    mail_ids = hotlists_dispatch()
    for mail_id in mail_ids:
        send_mail.delay(mail_id)
    return len(mail_ids)


@shared_task(name="scoring.hotlists.send_mail")
def send_mail(mail_id: int) -> bool:
    from scoring.hotlists.services import hotlist_mail_send

    try:
        return hotlist_mail_send(mail_id=mail_id)
    except (smtplib.SMTPException, OSError) as exc:
        # The row is back to "pending" (or failed after the last attempt);
        # the next dispatch tick tries again.
        logger.warning("HOT list mail %s not sent: %s", mail_id, exc)
        return False


def dispatch_on_commit() -> None:
    transaction.on_commit(lambda: dispatch.delay())
