"""Merging two leads moves their web history to the survivor."""

import datetime

import pytest

from leads.models import Lead
from leads.services import lead_merge
from tracking import writer
from tracking.models import Event, Visitor
from tracking.services import visitor_identify

T0 = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_merge_moves_events_visits_and_browsers(site):
    writer.write_batch([
        {"uid": "00000000-0000-4000-8000-000000000001", "type": "page_view",
         "occurred_at": T0.isoformat(), "site_id": site.pk, "anon_id": "phone",
         "url": "https://www.example.co.jp/a", "properties": {}},
    ])  # fmt: skip
    survivor = Lead.objects.create(email="taro@acme.co.jp")
    merged = Lead.objects.create(email="t.yamada@acme.co.jp")
    visitor_identify(visitor=Visitor.objects.get(), lead=merged, method="form")
    audit = lead_merge(survivor=survivor, merged=merged)
    assert Event.objects.get().lead_id == survivor.pk
    assert Visitor.objects.get().lead == survivor
    assert audit.moved["events"] == 1 and audit.moved["visits"] == 1
