"""A batch that takes longer than half its lease (a slow mail server) gives its
unsent rows back to the queue instead of sending them after another worker
could have taken them; they go out on the next run, once."""

import datetime

import pytest

from scenarios import sending
from scenarios.models import Send
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, newsletter_to, received


@pytest.mark.django_db
def test_rows_past_half_the_lease_are_given_back(profile, template, smtp_settings, monkeypatch):
    leads = [consenting_lead() for _ in range(3)]
    newsletter = newsletter_to(leads, template)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()

    # when half the lease is already over before the first hand-over
    monkeypatch.setattr(sending, "LEASE", datetime.timedelta(0))
    ids = sending.sends_claim_due()
    counts = sending.sends_deliver(ids)

    # then nothing was sent and every row waits again, not counted for the cap
    assert counts["sent"] == 0 and counts["not_sent"] == 3
    assert set(Send.objects.values_list("state", "handed_at")) == {("pending", None)}
    assert received(smtp_settings) == []

    # and the next run sends each once
    monkeypatch.setattr(sending, "LEASE", datetime.timedelta(minutes=10))
    sending.sends_dispatch()
    assert sorted(m["To"] for m in received(smtp_settings)) == sorted(x.email for x in leads)
