"""The attribute block over built-in lead fields and custom fields (JSONB)."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from leads.models import CustomField, Lead
from leads.segments import check_segment, segment_leads
from leads.services import lead_upsert

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime.datetime(2026, 4, 10, 12, 0, tzinfo=TOKYO)


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=TOKYO)


def matching(block: dict, expression: str = "1") -> set[str]:
    emails = segment_leads(expression, {"1": block}).values_list("email", flat=True)
    return {email.split("@")[0] for email in emails}


def attribute(field: str, op: str, value=None) -> dict:
    block = {"kind": "attribute", "field": field, "op": op}
    if value is not None:
        block["value"] = value
    return block


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def leads(db, clock):
    # given: leads (each of its own company) whose fields are hand-checked against each case below
    for key, label, type_, choices in [
        ("interest", "関心", "multi_choice", ["MA", "SFA", "CRM"]),
        ("budget", "予算", "number", []),
        ("renewal", "更新日", "date", []),
        ("plan", "プラン", "choice", ["free", "pro"]),
        ("memo", "メモ", "text", []),
    ]:
        CustomField.objects.create(key=key, label=label, type=type_, choices=choices)
    rows = {
        "alpha": {
            "data": {
                "email": "alpha@alpha.co.jp", "company": "株式会社アルファ", "industry": "IT",
                "employee_count": 50, "capital": 10_000_000, "stage": "consideration",
                "prefecture": "東京都",
                "custom": {"interest": ["MA", "CRM"], "budget": 500, "renewal": "2026-05-01",
                           "plan": "pro", "memo": "展示会で名刺交換"},
            },
            "score": 80, "rank": "HOT", "created_at": at(2026, 4, 1, 9, 0),
            "last_activity_at": at(2026, 4, 5, 10, 0),
        },
        "beta": {
            "data": {
                "email": "Beta@Beta.co.jp", "company": "ベータ商事", "industry": "製造業",
                "employee_count": 300, "stage": "awareness", "prefecture": "27",
                "is_competitor": True,
                "custom": {"interest": ["SFA"], "budget": 120.5, "renewal": "2026/3/15",
                           "plan": "free"},
            },
            "score": 20, "rank": "COLD", "created_at": at(2026, 3, 31, 23, 59, 59),
            "last_activity_at": None,
        },
        "gamma": {
            "data": {"email": "gamma@gamma.co.jp", "company": "ガンマ株式会社",
                     "stage": "interest"},
            "score": 0, "rank": "WARM", "created_at": at(2026, 4, 10, 11, 0),
            "last_activity_at": None,
        },
    }  # fmt: skip
    for row in rows.values():
        lead, _ = lead_upsert(data=row["data"], actor_kind="api")
        Lead.objects.filter(pk=lead.pk).update(
            score=row["score"],
            rank=row["rank"],
            created_at=row["created_at"],
            last_activity_at=row["last_activity_at"],
        )
    # delta: values written around validation (an old import): a text where a
    # number belongs and an empty multiple choice must not break any search.
    delta, _ = lead_upsert(data={"email": "delta@delta.co.jp"}, actor_kind="api")
    Lead.objects.filter(pk=delta.pk).update(
        custom={"budget": "unknown", "interest": [], "plan": None},
        created_at=at(2026, 1, 1, 0, 0),
    )


ALL = {"alpha", "beta", "gamma", "delta"}


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (attribute("industry", "=", "IT"), {"alpha"}),
        (attribute("industry", "!=", "IT"), {"beta", "gamma", "delta"}),
        (attribute("company_name", "contains", "株式会社"), {"alpha", "gamma"}),
        (attribute("company_name", "not_contains", "株式会社"), {"beta", "delta"}),
        (attribute("company_name", "startswith", "株式会社"), {"alpha"}),
        (attribute("company_name", "endswith", "株式会社"), {"gamma"}),
        (attribute("industry", "in", ["IT", "製造業"]), {"alpha", "beta"}),
        (attribute("industry", "empty"), {"gamma", "delta"}),
        (attribute("industry", "not_empty"), {"alpha", "beta"}),
        (attribute("email", "=", "BETA@beta.CO.JP"), {"beta"}),
        (attribute("email", "in", ["ALPHA@alpha.co.jp", "gamma@GAMMA.co.jp"]), {"alpha", "gamma"}),
        (attribute("email", "not_empty"), ALL),
    ],
)
def test_text_fields(leads, block, expected):
    assert matching(block) == expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (attribute("employee_count", ">=", 300), {"beta"}),
        (attribute("employee_count", ">", 50), {"beta"}),
        (attribute("employee_count", "<", 300), {"alpha"}),
        (attribute("employee_count", "<=", "３００"), {"alpha", "beta"}),
        (attribute("employee_count", "=", 50), {"alpha"}),
        # != is exactly NOT =: an unknown employee count is "not 50"
        (attribute("employee_count", "!=", 50), {"beta", "gamma", "delta"}),
        (attribute("employee_count", "between", [40, 100]), {"alpha"}),
        (attribute("employee_count", "empty"), {"gamma", "delta"}),
        (attribute("employee_count", "not_empty"), {"alpha", "beta"}),
        (attribute("capital", ">=", 1), {"alpha"}),
        (attribute("score", ">", 10), {"alpha", "beta"}),
    ],
)
def test_number_fields(leads, block, expected):
    assert matching(block) == expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (attribute("is_competitor", "is", True), {"beta"}),
        (attribute("is_competitor", "is", False), {"alpha", "gamma", "delta"}),
        (attribute("is_nurture_target", "=", True), ALL),
        (attribute("stage", "=", "consideration"), {"alpha"}),
        (attribute("stage", "!=", "awareness"), {"alpha", "gamma"}),
        (attribute("stage", "in", ["interest", "consideration"]), {"alpha", "gamma"}),
        (attribute("rank", "=", "hot"), {"alpha"}),
        (attribute("prefecture", "=", "東京都"), {"alpha"}),
        (attribute("prefecture", "=", "大阪"), {"beta"}),
        (attribute("prefecture", "in", ["13", "27"]), {"alpha", "beta"}),
        (attribute("prefecture", "empty"), {"gamma", "delta"}),
    ],
)
def test_boolean_and_choice_fields(leads, block, expected):
    assert matching(block) == expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        # before/after a day exclude that day; between includes both days (JST)
        (attribute("created_at", "before", "2026-04-01"), {"beta", "delta"}),
        (attribute("created_at", "after", "2026-03-31"), {"alpha", "gamma"}),
        (attribute("created_at", "between", ["2026/3/31", "2026-04-01"]), {"alpha", "beta"}),
        (attribute("created_at", "within_days", 1), {"gamma"}),
        (attribute("created_at", "not_within_days", 1), {"alpha", "beta", "delta"}),
        (attribute("last_activity_at", "empty"), {"beta", "gamma", "delta"}),
        (attribute("last_activity_at", "within_days", 7), {"alpha"}),
        # not_within_days is NOT within_days: never contacted counts too
        (attribute("last_activity_at", "not_within_days", 7), {"beta", "gamma", "delta"}),
    ],
)
def test_date_fields(leads, block, expected):
    assert matching(block) == expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (attribute("custom.interest", "contains_any", ["MA", "SFA"]), {"alpha", "beta"}),
        (attribute("custom.interest", "contains_all", ["MA", "CRM"]), {"alpha"}),
        (attribute("custom.interest", "contains_all", ["MA", "SFA"]), set()),
        (attribute("custom.interest", "empty"), {"gamma", "delta"}),
        (attribute("custom.interest", "not_empty"), {"alpha", "beta"}),
        (attribute("custom.budget", ">=", 200), {"alpha"}),
        (attribute("custom.budget", "<", 200), {"beta"}),
        (attribute("custom.budget", "between", [100, 600]), {"alpha", "beta"}),
        (attribute("custom.budget", "=", 500), {"alpha"}),
        (attribute("custom.budget", "!=", 500), {"beta", "gamma", "delta"}),
        (attribute("custom.budget", "empty"), {"gamma"}),
        (attribute("custom.renewal", "before", "2026-04-01"), {"beta"}),
        (attribute("custom.renewal", "after", "2026-04-30"), {"alpha"}),
        (attribute("custom.renewal", "between", ["2026-03-15", "2026-05-01"]), {"alpha", "beta"}),
        (attribute("custom.renewal", "within_days", 30), {"beta"}),
        (attribute("custom.renewal", "not_within_days", 30), {"alpha", "gamma", "delta"}),
        (attribute("custom.plan", "=", "pro"), {"alpha"}),
        (attribute("custom.plan", "!=", "pro"), {"beta", "gamma", "delta"}),
        (attribute("custom.plan", "in", ["free", "pro"]), {"alpha", "beta"}),
        (attribute("custom.plan", "empty"), {"gamma", "delta"}),
        (attribute("custom.memo", "contains", "名刺"), {"alpha"}),
        (attribute("custom.memo", "not_contains", "名刺"), {"beta", "gamma", "delta"}),
        (attribute("custom.memo", "=", "展示会で名刺交換"), {"alpha"}),
        (attribute("custom.memo", "empty"), {"beta", "gamma", "delta"}),
    ],
)
def test_custom_fields(leads, block, expected):
    assert matching(block) == expected


@pytest.mark.parametrize(
    "block",
    [
        attribute("custom.budget", "<", 200),
        attribute("custom.memo", "contains", "名刺"),
        attribute("custom.renewal", "within_days", 30),
        attribute("employee_count", ">", 50),
        attribute("last_activity_at", "within_days", 7),
    ],
)
def test_not_is_the_exact_complement_even_for_missing_values(leads, block):
    assert matching(block, "NOT 1") == ALL - matching(block)


def test_custom_equality_uses_containment_for_the_gin_index(leads):
    sql = str(segment_leads("1", {"1": attribute("custom.plan", "=", "pro")}).query)
    assert "@>" in sql


@pytest.mark.parametrize(
    ("block", "key", "fragment"),
    [
        (attribute("password", "=", "x"), "field", "“password” is not a lead field"),
        (attribute("custom.nope", "=", "x"), "field", "There is no custom field “nope”."),
        (attribute("employee_count", "contains", "1"), "op", "does not apply to employees"),
        (attribute("employee_count", ">=", "many"), "value", "Enter a number"),
        (attribute("employee_count", ">=", True), "value", "Enter a number"),
        (attribute("employee_count", "="), "value", "required"),
        (attribute("employee_count", "between", [5, 1]), "value", "swap them"),
        (attribute("employee_count", "between", 5), "value", "[from, to]"),
        (attribute("score", "empty"), "op", "does not apply to score"),
        (attribute("is_competitor", "is", "yes"), "value", "Enter true or false."),
        (attribute("stage", "=", "lost"), "value", "“lost” is not a choice of stage"),
        (attribute("created_at", "before", "2026-13-01"), "value", "Enter a date"),
        (attribute("created_at", "within_days", 0), "value", "at least 1"),
        (attribute("custom.plan", "=", "enterprise"), "value", "Choose one of: free, pro"),
        (attribute("custom.interest", "=", "MA"), "op", "contains_any"),
        ({"kind": "attribute", "field": "industry", "op": "=", "values": "IT"}, "values",
         "no parameter “values”"),
    ],
)  # fmt: skip
def test_invalid_attribute_blocks_say_which_parameter(leads, block, key, fragment):
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": block})
    errors = info.value.message_dict
    assert list(errors) == [f"blocks.1.{key}"]
    assert fragment in errors[f"blocks.1.{key}"][0]


def test_window_edges_are_exact(db):
    # given: one lead created exactly 30 days ago, one 30 days and 1 second ago
    with time_machine.travel(NOW, tick=False):
        Lead.objects.bulk_create(
            [
                Lead(email="edge@example.jp", created_at=NOW - datetime.timedelta(days=30)),
                Lead(
                    email="outside@example.jp",
                    created_at=NOW - datetime.timedelta(days=30, seconds=1),
                ),
            ]
        )
        # then
        assert matching(attribute("created_at", "within_days", 30)) == {"edge"}
        assert matching(attribute("created_at", "not_within_days", 30)) == {"outside"}
    # a second later the edge lead is outside the window too
    with time_machine.travel(NOW + datetime.timedelta(seconds=1), tick=False):
        assert matching(attribute("created_at", "within_days", 30)) == set()
