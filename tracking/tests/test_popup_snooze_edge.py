"""A closed popup stays away for exactly its snooze days (controlled clock)."""

import datetime
import json

import pytest
import time_machine

from tracking.models import Popup, Visitor
from tracking.tests.test_popups import decide, visits

NOW = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(("after", "shown"), [
    (datetime.timedelta(days=7, seconds=-1), False),
    (datetime.timedelta(days=7), True),
])  # fmt: skip
def test_closed_popup_returns_after_snooze_days_not_before(client, site, after, shown):
    Popup.objects.create(name="資料請求", min_visits=1, within_days=5, title_ja="資料請求",
                         snooze_days=7)  # fmt: skip
    Visitor.objects.create(site=site, anon_id="b-1")
    with time_machine.travel(NOW, tick=False):
        popup = decide(client, site)
        assert popup is not None
        client.generic("POST", "/t/popup", json.dumps(
            {"site": site.key, "visitor": "b-1", "popup": popup["id"], "action": "closed"}),
            content_type="text/plain", HTTP_ORIGIN="https://www.example.co.jp")  # fmt: skip
    with time_machine.travel(NOW + after, tick=False):
        visits(Visitor.objects.get(anon_id="b-1"), 1)
        assert (decide(client, site) is not None) is shown
