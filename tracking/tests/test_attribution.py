"""First-touch and last-touch attribution on the lead: the first source stays,
the last follows the latest campaign or referrer; direct visits change neither."""

import datetime
import uuid

import pytest

from leads.models import Lead
from tracking import writer
from tracking.models import Visitor
from tracking.services import visitor_identify

T0 = datetime.datetime(2026, 10, 1, 9, 0, tzinfo=datetime.UTC)


def page_view(site, at, *, utm: dict | None = None, referrer: str = "", anon: str = "b-1"):
    return {
        "uid": str(uuid.uuid4()), "type": "page_view", "occurred_at": at.isoformat(),
        "site_id": site.pk, "anon_id": anon, "lead_id": None,
        "url": "https://www.example.co.jp/", "title": "", "referrer": referrer,
        "properties": utm or {}, "ua": "Mozilla/5.0 Chrome/120", "ip": "203.0.113.7",
    }  # fmt: skip


def touches(lead: Lead) -> tuple[str, str]:
    lead.refresh_from_db()
    return lead.first_touch_source, lead.last_touch_source


@pytest.mark.django_db(transaction=True)  # events_recorded is sent on commit
def test_last_touch_follows_new_campaigns_and_first_touch_stays(site):
    # given an anonymous visit from a Google ad, then the form (identification)
    writer.write_batch([page_view(site, T0, utm={"utm_source": "google", "utm_medium": "cpc"},
                                  referrer="https://www.google.com/")])  # fmt: skip
    lead = Lead.objects.create(email="hanako@example.co.jp")
    visitor_identify(visitor=Visitor.objects.get(), lead=lead, method="form")
    assert touches(lead) == ("google / cpc", "google / cpc")

    # when the known lead comes back two days later from the newsletter
    newsletter = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "2026-10"}
    writer.write_batch([page_view(site, T0 + datetime.timedelta(days=2), utm=newsletter)])
    # then the last touch is the newsletter, the first touch is still Google
    assert touches(lead) == ("google / cpc", "newsletter / email / 2026-10")

    # when they come back directly (no UTM, no referrer): nothing changes
    writer.write_batch([page_view(site, T0 + datetime.timedelta(days=4))])
    assert touches(lead) == ("google / cpc", "newsletter / email / 2026-10")

    # when they come from a partner's article: the referrer is the last touch
    writer.write_batch([page_view(site, T0 + datetime.timedelta(days=6),
                                  referrer="https://partner.example.jp/article")])  # fmt: skip
    assert touches(lead) == ("google / cpc", "https://partner.example.jp/article")


@pytest.mark.django_db
def test_first_touch_is_the_first_visit_that_came_from_somewhere(site):
    writer.write_batch([
        page_view(site, T0),  # typed the address
        page_view(site, T0 + datetime.timedelta(days=1), referrer="https://www.bing.com/"),
    ])  # fmt: skip
    lead = Lead.objects.create(email="taro@example.co.jp")
    visitor_identify(visitor=Visitor.objects.get(), lead=lead, method="form")
    assert touches(lead) == ("https://www.bing.com/", "https://www.bing.com/")
