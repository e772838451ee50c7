"""Batches of at most 100, an outage of hours and a 429 storm: nothing lost,
nothing doubled, and parked rows retried by hand."""

import datetime

import pytest
import time_machine
from django.contrib.admin.sites import site as admin_site
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.utils import timezone

from leads.models import Lead
from sfa_sync import kintone as kintone_api
from sfa_sync.admin import OutboxItemAdmin
from sfa_sync.models import Connector, OutboxItem
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoffs_request

from .conftest import make_leads

START = datetime.datetime(2026, 11, 24, 1, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_kintone_refuses_more_than_100_records_and_kizuki_never_sends_more(kintone, connector):
    # given kintone's documented limit: a request of 101 records is a 400 with its error JSON
    records = [(str(i), {"score": {"value": "1"}}) for i in range(101)]
    body = {"app": kintone.app, "upsert": True}
    with pytest.raises(ValueError):
        kintone_api.records_upsert(
            records_url=connector.records_url, token=kintone.token, app=kintone.app,
            key_field=kintone.key_field, records=records,
        )  # fmt: skip
    with pytest.raises(kintone_api.KintoneError) as refused:
        kintone_api._call(
            "PUT",
            connector.records_url,
            kintone.token,
            {
                **body,
                "records": [
                    {"updateKey": {"field": "kizuki_lead_id", "value": str(i)}, "record": {}}
                    for i in range(101)
                ],
            },
        )
    assert refused.value.status == 400 and "CB_VA01" in str(refused.value)
    assert "一度に100件までです" in str(refused.value)

    # when 250 leads are handed over
    leads = make_leads(250)
    handoffs_request(lead_ids=[lead.pk for lead in leads], reason="manual")
    outbox_dispatch()

    # then they went in three requests of at most 100, each lead once
    assert kintone.puts == [100, 100, 50]
    assert sorted(kintone.records) == sorted(str(lead.pk) for lead in leads)
    assert OutboxItem.objects.filter(state="sent").count() == 250
    assert Connector.objects.get().requests_today == 3


@pytest.mark.django_db
def test_an_outage_of_hours_loses_nothing_and_each_lead_arrives_once(kintone, connector):
    leads = make_leads(120)
    ids = [lead.pk for lead in leads]
    with time_machine.travel(START, tick=False) as clock:
        # given kintone is down when 120 leads are handed over
        kintone.mode = "outage"
        handoffs_request(lead_ids=ids, reason="manual")
        outbox_dispatch()
        # then the first batch failed and waits its backoff; nothing else was tried
        assert kintone.records == {}
        first = OutboxItem.objects.filter(attempts=1)
        assert first.count() == 100
        assert all("HTTP 503" in row.last_error for row in first)
        assert OutboxItem.objects.filter(attempts=0).count() == 20
        # when the outage lasts five hours, with the dispatcher running every few minutes
        for _minute in range(0, 5 * 60, 5):
            clock.shift(datetime.timedelta(minutes=5))
            outbox_dispatch()
        assert kintone.records == {}
        assert not OutboxItem.objects.filter(state="failed").exists()
        assert not OutboxItem.objects.filter(state="sent").exists()
        # and kintone comes back
        kintone.mode = "ok"
        clock.shift(datetime.timedelta(hours=1))
        outbox_dispatch()
    # then every lead is in kintone exactly once
    assert sorted(kintone.records) == sorted(str(i) for i in ids)
    assert sum(kintone.puts) == 120
    assert OutboxItem.objects.filter(state="sent").count() == 120


@pytest.mark.django_db
def test_429_answers_back_off_exponentially(kintone, connector):
    lead = make_leads(1)[0]
    with time_machine.travel(START, tick=False) as clock:
        kintone.mode = "429"
        handoffs_request(lead_ids=[lead.pk], reason="manual")
        delays = []
        for _try in range(4):
            outbox_dispatch()
            item = OutboxItem.objects.get()
            delays.append((item.next_attempt_at - timezone.now()).total_seconds())
            # not due before its time
            clock.shift(item.next_attempt_at - timezone.now() - datetime.timedelta(seconds=1))
            outbox_dispatch()
            assert OutboxItem.objects.get().attempts == _try + 1
            clock.shift(datetime.timedelta(seconds=1))
        assert delays == [30, 60, 120, 240]
        assert "HTTP 429" in OutboxItem.objects.get().last_error
        kintone.mode = "ok"
        outbox_dispatch()
    assert OutboxItem.objects.get().state == "sent"
    assert list(kintone.records) == [str(lead.pk)]


@pytest.mark.django_db
def test_after_n_failures_a_row_is_parked_and_the_admin_retry_sends_it(kintone, connector):
    Connector.objects.filter(pk=connector.pk).update(max_attempts=3)
    lead = make_leads(1)[0]
    with time_machine.travel(START, tick=False) as clock:
        kintone.mode = "outage"
        handoffs_request(lead_ids=[lead.pk], reason="manual")
        for _try in range(6):
            outbox_dispatch()
            clock.shift(datetime.timedelta(hours=1))
        # then it was tried three times and parked, with the error visible
        item = OutboxItem.objects.get()
        assert (item.state, item.attempts) == ("failed", 3)
        assert "HTTP 503" in item.last_error
        # when kintone is back, parked rows stay parked until someone retries them
        kintone.mode = "ok"
        outbox_dispatch()
        assert kintone.records == {}
        # and an admin uses the retry action in the outbox admin
        admin = get_user_model().objects.create_superuser("admin", "admin@example.co.jp", "x")
        request = RequestFactory().post("/admin/sfa_sync/outboxitem/")
        request.user = admin
        request._messages = _Messages()
        OutboxItemAdmin(OutboxItem, admin_site).retry(request, OutboxItem.objects.all())
        assert request._messages.texts == ["1 item will be sent again."]
        outbox_dispatch()
    item.refresh_from_db()
    assert (item.state, item.attempts, item.last_error) == ("sent", 1, "")
    assert list(kintone.records) == [str(lead.pk)]
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_a_record_kintone_refuses_is_parked_and_the_rest_of_the_batch_goes_through(
    kintone, connector
):
    # given the score field mapped from a text field by mistake for no lead but one:
    # kintone's number field refuses a non-number for that record only
    leads = make_leads(3)
    Connector.objects.filter(pk=connector.pk).update(
        field_map={**connector.field_map, "phone": "score", "score": "score_text"}
    )
    Lead.objects.filter(pk=leads[1].pk).update(phone="not a number")
    Lead.objects.exclude(pk=leads[1].pk).update(phone="42")
    handoffs_request(lead_ids=[lead.pk for lead in leads], reason="manual")
    # when dispatched
    outbox_dispatch()
    # then the refused record is parked with kintone's message, the others are in kintone
    bad = OutboxItem.objects.get(lead=leads[1])
    assert bad.state == "failed" and "数字でなければなりません" in bad.last_error
    assert sorted(kintone.records) == sorted(str(lead.pk) for lead in (leads[0], leads[2]))
    assert OutboxItem.objects.filter(state="sent").count() == 2


class _Messages:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, level, message, extra_tags="") -> None:
        self.texts.append(str(message))


@pytest.mark.django_db
def test_the_daily_request_budget_stops_sending_until_the_next_day(kintone, connector):
    # given a budget of two requests a day and 250 leads to hand over
    Connector.objects.filter(pk=connector.pk).update(daily_request_budget=2)
    leads = make_leads(250)
    with time_machine.travel(START, tick=False) as clock:
        handoffs_request(lead_ids=[lead.pk for lead in leads], reason="manual")
        # when the dispatcher runs all day
        for _hour in range(12):
            outbox_dispatch()
            clock.shift(datetime.timedelta(hours=1))
        # then two requests went out and the rest waits, nothing failed
        assert kintone.puts == [100, 100]
        assert OutboxItem.objects.filter(state="pending").count() == 50
        assert not OutboxItem.objects.filter(state="failed").exists()
        # when the next (local) day begins
        clock.move_to(START + datetime.timedelta(days=1))
        outbox_dispatch()
    # then the rest is sent
    assert kintone.puts == [100, 100, 50]
    assert len(kintone.records) == 250
