"""Merging two leads keeps the merged one's mail history, bounces and step
mail on the survivor, without breaking "one mail per lead and source"."""

import pytest

from leads.services import lead_merge
from scenarios.models import Bounce, Send
from scenarios.services import bounce_record

from .conftest import consenting_lead


@pytest.mark.django_db
def test_mail_history_moves_to_the_survivor(template):
    survivor, merged = consenting_lead(), consenting_lead()
    Send.objects.create(lead=survivor, template=template, source_key="newsletter:1", state="sent")
    Send.objects.create(lead=merged, template=template, source_key="newsletter:1", state="sent")
    Send.objects.create(lead=merged, template=template, source_key="newsletter:2", state="sent")
    bounce_record(email=merged.email, kind=Bounce.Kind.SOFT, esp_event_id="x:1")

    merge = lead_merge(survivor=survivor, merged=merged)

    assert sorted(Send.objects.values_list("lead_id", "source_key")) == [
        (survivor.pk, "newsletter:1"),
        (survivor.pk, "newsletter:2"),
    ]
    assert Bounce.objects.get().lead_id == survivor.pk
    assert merge.moved["mail_sends"] == 1
