"""A worker killed between claiming sends and handing them to the SMTP server
neither loses them nor sends any twice: after the lease the claims go back to
the queue and another worker sends each remaining mail exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
import time_machine
from django.utils import timezone

from conftest import WorkerProcess, free_port, service_env
from ma_core.testing.waiting import wait_until
from scenarios.models import Send
from scenarios.sending import LEASE, sends_reclaim_stale
from scenarios.services import newsletter_schedule, newsletters_materialize_due
from scenarios.tasks import dispatch

from .conftest import consenting_lead, newsletter_to, received

LEADS = 6


class StallingSink:
    """A real SMTP server that stalls the conversation at the N-th recipient
    (the sender is then mid-hand-over: claimed, not delivered)."""

    def __init__(self, stall_at: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.stall_at = stall_at
        self.rcpts = 0
        self.stalled = threading.Event()
        self.release = threading.Event()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                sink.rcpts += 1
                if sink.rcpts == sink.stall_at:
                    sink.stalled.set()
                    while not sink.release.is_set():
                        await asyncio.sleep(0.05)
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.release.set()
        self.controller.stop()


def states() -> Counter:
    return Counter(Send.objects.values_list("state", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    profile, template, redis_client
):
    # given a newsletter to six leads, materialized into send rows
    leads = [consenting_lead() for _ in range(LEADS)]
    newsletter = newsletter_to(leads, template)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    sink = StallingSink(stall_at=3)
    env = service_env(EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
                      PUBLIC_URL="https://kizuki.example.co.jp")  # fmt: skip
    workers: list[WorkerProcess] = []
    try:
        # when a worker delivers them and is killed while handing over the third
        workers.append(WorkerProcess("mail").start(env))
        dispatch.delay()
        assert sink.stalled.wait(60), "the worker never reached the third mail"
        workers[0].kill()
        sink.release.set()

        # then two mails arrived, and the rest are claimed, not lost
        time.sleep(0.3)  # let the sink notice the dropped connection
        assert len(sink.messages) == 2
        assert states() == Counter({"sent": 2, "claimed": LEADS - 2})

        # when the lease has run out, the claims go back to the queue …
        with time_machine.travel(timezone.now() + LEASE + timezone.timedelta(seconds=1)):
            assert sends_reclaim_stale() == LEADS - 2
        assert states() == Counter({"sent": 2, "pending": LEADS - 2})

        # … and another worker sends them (the dispatcher also runs twice)
        workers.append(WorkerProcess("mail").start(env))
        dispatch.delay()
        dispatch.delay()
        wait_until(lambda: states() == Counter({"sent": LEADS}))
        time.sleep(0.3)

        # then every lead got exactly one mail
        recipients = Counter(m["To"] for m in received(sink))
        assert recipients == Counter({lead.email: 1 for lead in leads})
    finally:
        for worker in workers:
            worker.stop()
        sink.stop()
