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


@pytest.mark.django_db
def test_loaddemo_ships_the_document_scenario_and_the_lost_deal_scenario():
    from scenarios.engine import graph_of
    from scenarios.graph import check_graph
    from scenarios.models import Scenario

    call_command("loaddemo")
    call_command("loaddemo")
    document = Scenario.objects.get(name="資料Aダウンロード後")
    lost = Scenario.objects.get(name="失注後ナーチャリング")
    assert (document.trigger, document.trigger_config, document.exit_tags) == (
        "tag_added", {"tag": "資料A"}, ["失注"]
    )  # fmt: skip
    assert (lost.trigger, lost.trigger_config) == ("tag_added", {"tag": "失注"})
    for scenario in (document, lost):
        check_graph(graph_of(scenario))  # still a valid graph
    kinds = [step["kind"] for step in graph_of(document)]
    assert kinds.count("send_email") == 3 and "branch" in kinds
