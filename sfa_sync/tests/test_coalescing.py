"""After handoff, changes keep syncing — at most once a minute per lead."""

import datetime

import pytest
import time_machine

from leads.models import Lead
from leads.services import tags_change
from sfa_sync.models import OutboxItem
from sfa_sync.outbox import outbox_dispatch
from sfa_sync.services import handoff_request, score_updates_request

from .conftest import make_leads

T0 = datetime.datetime(2026, 11, 24, 1, 0, tzinfo=datetime.UTC)


def at(seconds: int) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.mark.django_db(transaction=True)
def test_score_and_tag_changes_are_synced_at_most_once_a_minute(kintone, connector):
    lead = make_leads(1)[0]
    key = str(lead.pk)
    with time_machine.travel(T0, tick=False) as clock:
        # given the lead handed over at T0
        handoff_request(lead_id=lead.pk, reason="manual")
        outbox_dispatch()
        assert kintone.puts == [1]

        # when its score changes twice within the minute (the periodic query runs each time)
        clock.move_to(at(10))
        Lead.objects.filter(pk=lead.pk).update(score=50)
        assert score_updates_request() == 1
        outbox_dispatch()
        clock.move_to(at(30))
        Lead.objects.filter(pk=lead.pk).update(score=60)
        assert score_updates_request() == 0  # joins the waiting update
        clock.move_to(at(59))
        outbox_dispatch()
        # then nothing more went out within the minute of the last push
        assert kintone.puts == [1]
        assert kintone.records[key]["score"]["value"] == "0"

        # when the minute is over, one update carries the latest score
        clock.move_to(at(60))
        outbox_dispatch()
        assert kintone.puts == [1, 1]
        assert kintone.records[key]["score"]["value"] == "60"
        assert score_updates_request() == 0  # in step now

        # when a tag is added a second later (the receiver queues an update)
        clock.move_to(at(61))
        tags_change(lead=lead, add=["セミナー参加"], actor_kind="user")
        update = OutboxItem.objects.get(state="pending")
        assert update.next_attempt_at == at(120)
        clock.move_to(at(119))
        outbox_dispatch()
        assert kintone.puts == [1, 1]
        # then it goes a minute after the previous push
        clock.move_to(at(120))
        outbox_dispatch()
    assert kintone.puts == [1, 1, 1]
    assert kintone.records[key]["tags"]["value"] == "セミナー参加"
    assert len(kintone.records) == 1
    assert list(OutboxItem.objects.order_by("id").values_list("kind", "state")) == [
        ("handoff", "sent"),
        ("update", "sent"),
        ("update", "sent"),
    ]
