"""The compound search finds leads that clicked (or opened) mail: any mail or
one template, ever or within N days."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from leads.segments.search import segment_leads
from scenarios.sending import sends_dispatch
from scenarios.services import newsletter_schedule, newsletters_materialize_due

from .conftest import consenting_lead, html_part, newsletter_to, received

PUBLIC = "https://kizuki.example.co.jp"


@pytest.mark.django_db
def test_leads_that_clicked_a_template_within_days(profile, template, smtp_settings):
    import re

    clicker, reader = consenting_lead(), consenting_lead()
    newsletter = newsletter_to([clicker, reader], template)
    newsletter_schedule(newsletter=newsletter)
    newsletters_materialize_due()
    sends_dispatch()
    html = {m["To"]: html_part(m) for m in received(smtp_settings)}
    link = re.search(rf'href="{PUBLIC}(/m/c/[^"]+)"', html[clicker.email]).group(1)
    Client().get(link)

    def matching(block: dict) -> set[int]:
        return set(segment_leads("1", {"1": block}).values_list("pk", flat=True))

    assert matching({"kind": "email", "action": "clicked"}) == {clicker.pk}
    assert matching({"kind": "email", "action": "clicked", "template": template.pk,
                     "within_days": 7}) == {clicker.pk}  # fmt: skip
    assert matching({"kind": "email", "action": "clicked", "template": template.pk + 1}) == set()
    assert matching({"kind": "email", "action": "opened"}) == set()
    assert clicker.pk not in set(
        segment_leads("NOT 1", {"1": {"kind": "email", "action": "clicked"}}).values_list(
            "pk", flat=True
        )
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
        assert matching({"kind": "email", "action": "clicked", "within_days": 7}) == set()

    with pytest.raises(ValidationError):
        segment_leads("1", {"1": {"kind": "email", "action": "forwarded"}})
