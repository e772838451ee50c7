"""Branches on compound-search blocks, decided in one query per branch for
the whole batch: score ≥ N, a field value, a visited page, a tag."""

import uuid

import pytest
from django.utils import timezone

from leads.models import LeadTag
from leads.tests.factories import LeadFactory
from scenarios.engine import scenario_enroll, scenario_enrollments_advance
from tracking import writer

from .conftest import make_scenario


def branch(key, condition, yes, no):
    return {"key": key, "kind": "branch", "config": {"condition": condition},
            "next_key": yes, "else_key": no}  # fmt: skip


def tag(key, name):
    return {"key": key, "kind": "add_tag", "config": {"tag": name}}


@pytest.mark.django_db
def test_each_lead_takes_the_edge_its_data_says():
    scenario = make_scenario(
        "条件",
        [
            branch("score", {"kind": "score_at_least", "value": 50}, "stage", "low"),
            branch(
                "stage",
                {"kind": "attribute", "field": "stage", "op": "=", "value": "consideration"},
                "pricing",
                "early",
            ),
            branch(
                "pricing",
                {"kind": "visited_url", "op": "visited", "value": "/pricing"},
                "hot",
                "warm",
            ),
            tag("low", "低スコア"),
            tag("early", "検討前"),
            tag("hot", "料金閲覧"),
            tag("warm", "料金未閲覧"),
        ],
    )
    low = LeadFactory(score=10)
    early = LeadFactory(score=80, stage="interest")
    warm = LeadFactory(score=50, stage="consideration")
    hot = LeadFactory(score=90, stage="consideration")
    writer.write_batch([{
        "uid": str(uuid.uuid4()), "type": "page_view", "occurred_at": timezone.now().isoformat(),
        "site_id": None, "anon_id": None, "lead_id": hot.pk,
        "url": "https://www.example.co.jp/pricing/", "title": "", "referrer": "",
        "properties": {},
    }])  # fmt: skip
    scenario_enroll(scenario=scenario, lead_ids=[low.pk, early.pk, warm.pk, hot.pk])

    # steps done: low 2 (score, tag), early 3, warm and hot 4 each (3 branches, a tag)
    assert scenario_enrollments_advance() == 2 + 3 + 4 + 4

    tags = dict(LeadTag.objects.values_list("lead_id", "tag__name"))
    assert tags == {low.pk: "低スコア", early.pk: "検討前", warm.pk: "料金未閲覧",
                    hot.pk: "料金閲覧"}  # fmt: skip
