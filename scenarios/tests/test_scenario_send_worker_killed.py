"""A worker killed mid-batch while it hands scenario mails to the SMTP server
neither loses a mail nor sends one twice: the scenario step wrote one send row
per (enrollment, step), the dead worker's claims go back after their lease,
and the next dispatcher runs (two at once) deliver each remaining mail once."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import time_machine
from django.utils import timezone

from conftest import WorkerProcess, service_env
from scenarios.engine import scenario_enroll, scenario_enrollments_advance
from scenarios.models import ScenarioEnrollment, Send
from scenarios.sending import LEASE, sends_reclaim_stale
from scenarios.tasks import dispatch

from .conftest import consenting_lead, make_scenario, received
from .test_send_exactly_once_worker_killed import StallingSink, wait_until

LEADS = 6


def states() -> Counter:
    return Counter(Send.objects.filter(kind="scenario").values_list("state", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_of_scenario_mails(profile, template, redis_client):
    # given six leads on a scenario whose first step mails them
    leads = [consenting_lead() for _ in range(LEADS)]
    scenario = make_scenario(
        "送信中断",
        [
            {"key": "tag", "kind": "add_tag", "config": {"tag": "案内済"}, "next_key": "mail"},
            {"key": "mail", "kind": "send_email", "config": {"template": template.pk}},
        ],
    )
    scenario_enroll(scenario=scenario, lead_ids=[lead.pk for lead in leads])
    sink = StallingSink(stall_at=3)
    env = service_env(EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
                      PUBLIC_URL="https://kizuki.example.co.jp")  # fmt: skip
    workers: list[WorkerProcess] = []
    try:
        # when a worker advances them and is killed while handing over the third mail
        workers.append(WorkerProcess("mail").start(env))
        dispatch.delay()
        assert sink.stalled.wait(60), "the worker never reached the third mail"
        workers[0].kill()
        sink.release.set()
        time.sleep(0.3)  # let the sink notice the dropped connection

        # then the runs advanced once, two mails went, and the rest are claimed, not lost
        assert len(sink.messages) == 2
        assert states() == Counter({"sent": 2, "claimed": LEADS - 2})
        assert set(ScenarioEnrollment.objects.values_list("state", flat=True)) == {"completed"}
        assert scenario_enrollments_advance() == 0  # nothing left to advance twice

        # when the lease has run out the claims go back, and two dispatchers run
        with time_machine.travel(timezone.now() + LEASE + timezone.timedelta(seconds=1)):
            assert sends_reclaim_stale() == LEADS - 2
        workers.append(WorkerProcess("mail").start(env))
        dispatch.delay()
        dispatch.delay()
        wait_until(lambda: states() == Counter({"sent": LEADS}))
        time.sleep(0.3)

        # then every lead got exactly one mail
        recipients = Counter(m["To"] for m in received(sink))
        assert recipients == Counter({lead.email: 1 for lead in leads})
        assert Send.objects.filter(kind="scenario").count() == LEADS
    finally:
        for worker in workers:
            worker.stop()
        sink.stop()
