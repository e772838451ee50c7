"""A worker killed between claiming a mail and sending it: the mail is neither
lost nor sent twice. Real Celery worker, real SMTP server on loopback."""

import datetime
import socket

import pytest
import time_machine
from django.utils import timezone

from ma_core.testing.waiting import wait_until
from scoring.hotlists.models import HotList, HotListMail, MailState
from scoring.hotlists.services import SENDING_LEASE, hotlists_dispatch
from scoring.hotlists.tasks import send_mail
from scoring.hotlists.tests.conftest import MONDAY_9


@pytest.fixture
def black_hole():
    """A loopback port that takes TCP connections but never says hello: an
    SMTP client connected to it hangs after the claim, before sending."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.django_db(transaction=True)
def test_a_mail_claimed_by_a_killed_worker_is_sent_once_later(
    hot_list, make_lead, black_hole, smtp_settings, redis_client
):
    from conftest import WorkerProcess, service_env

    # given Monday's list with its mail recorded, not sent
    make_lead("a@example.jp", last_name="田中", first_name="一")
    with time_machine.travel(MONDAY_9, tick=False):
        [mail_id] = hotlists_dispatch()
    assert HotListMail.objects.get(pk=mail_id).state == MailState.PENDING
    # (the list is paused so the ticks below, at the worker's real clock a week
    # on, only deliver recorded mails instead of making next week's list too)
    HotList.objects.update(is_active=False)

    # and a worker whose SMTP server hangs: it claims the mail, then blocks
    worker = WorkerProcess("default").start(service_env(EMAIL_URL=f"smtp://127.0.0.1:{black_hole}"))
    try:
        send_mail.delay(mail_id)
        wait_until(lambda: HotListMail.objects.get(pk=mail_id).state == MailState.SENDING)

        # when the worker is killed between the claim and the send
        worker.kill()
    finally:
        worker.stop()

    # then the claim is there, nothing was sent
    mail = HotListMail.objects.get(pk=mail_id)
    assert (mail.state, mail.attempts, mail.sent_at) == (MailState.SENDING, 1, None)
    assert smtp_settings.messages == []

    # and a tick inside the lease leaves it alone (the worker might still be sending)
    with time_machine.travel(mail.claimed_at + SENDING_LEASE - datetime.timedelta(seconds=1)):
        assert hotlists_dispatch() == []
        assert send_mail.apply(args=[mail_id]).get() is False

    # when the lease ran out, the next tick sends it, once
    with time_machine.travel(mail.claimed_at + SENDING_LEASE + datetime.timedelta(seconds=1)):
        due = hotlists_dispatch()
        assert due == [mail_id]
        assert [send_mail.apply(args=[i]).get() for i in due] == [True]
        assert send_mail.apply(args=[mail_id]).get() is False
        assert hotlists_dispatch() == []

    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == (MailState.SENT, 2)
    assert mail.sent_at <= timezone.now() + SENDING_LEASE * 2
    assert len(smtp_settings.messages) == 1
    assert smtp_settings.messages[0].rcpt_tos == ["inside1@example.jp"]


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_makes_the_week_and_a_worker_mails_it(
    hot_list, make_lead, smtp_settings, redis_client
):
    """End to end: beat's ``scoring.hotlists.dispatch`` in a real worker makes
    this week's list and sends inside sales the Monday mail through SMTP."""
    import datetime as dt

    from conftest import WorkerProcess, service_env
    from scoring.hotlists.models import HotListRun
    from scoring.hotlists.tasks import dispatch

    # given a list due at Monday 00:00 (always past in the current week) whose
    # reminder and report fall at the very end of Sunday
    HotList.objects.filter(pk=hot_list.pk).update(
        publish_time=dt.time(0, 0), remind_weekday=6, remind_time=dt.time(23, 58),
        report_weekday=6, report_time=dt.time(23, 59),
        created_at=timezone.now() - dt.timedelta(days=30),
    )  # fmt: skip
    make_lead("now@example.jp", last_name="今日", first_name="太郎", at=timezone.now())
    worker = WorkerProcess("default").start(
        service_env(EMAIL_URL=f"smtp://127.0.0.1:{smtp_settings.port}")
    )
    try:
        # when beat ticks
        dispatch.delay()
        wait_until(lambda: len(smtp_settings.messages) == 1)
    finally:
        worker.stop()

    # then this week's list exists and its mail went out once
    run = HotListRun.objects.get()
    assert run.member_count == 1
    mail = HotListMail.objects.get()
    assert (mail.kind, mail.state, mail.recipient) == (
        "publish",
        MailState.SENT,
        "inside1@example.jp",
    )
    assert smtp_settings.messages[0].rcpt_tos == ["inside1@example.jp"]
