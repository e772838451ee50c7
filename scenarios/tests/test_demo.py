"""loaddemo ships the seed's step mail: a document request starts four mails
on days 0–3, 失注 ends it; its templates render."""

import pytest
from django.core.management import call_command

from scenarios.models import StepSequence
from scenarios.services import template_check


@pytest.mark.django_db
def test_loaddemo_ships_a_step_mail_sequence():
    call_command("loaddemo")
    call_command("loaddemo")
    sequence = StepSequence.objects.get()
    assert (sequence.trigger_tag.name, sequence.exit_tag.name) == ("資料請求", "失注")
    steps = list(sequence.steps.order_by("position"))
    assert [step.day_offset for step in steps] == [0, 1, 2, 3]
    for step in steps:
        template_check(step.template)
