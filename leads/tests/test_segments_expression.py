"""The boolean expression: precedence NOT > AND > OR, parentheses, full-width
input, and errors that say what is wrong and where (1-based characters)."""

import pytest
from django.core.exceptions import ValidationError

from leads.segments import ExpressionError, check_segment, parse_expression, segment_leads
from leads.services import tags_change
from leads.tests.factories import LeadFactory

BLOCKS = {
    "1": {"kind": "tag", "op": "has", "value": "A"},
    "2": {"kind": "tag", "op": "has", "value": "B"},
    "3": {"kind": "tag", "op": "has", "value": "C"},
}


def matching(expression: str, blocks: dict = BLOCKS) -> set[str]:
    return {
        email.split("@")[0]
        for email in segment_leads(expression, blocks).values_list("email", flat=True)
    }


@pytest.fixture
def tagged_leads(db):
    # given: one lead per combination of the tags A, B, C used in the cases below
    for name, tags in {
        "abc": ["A", "B", "C"],
        "ab": ["A", "B"],
        "a": ["A"],
        "bc": ["B", "C"],
        "c": ["C"],
        "none": [],
    }.items():
        lead = LeadFactory(email=f"{name}@example.jp")
        if tags:
            tags_change(lead=lead, add=tags, actor_kind="user")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 AND 2 AND NOT 3", {"ab"}),
        # AND binds tighter than OR: A OR (B AND C)
        ("1 OR 2 AND 3", {"abc", "ab", "a", "bc"}),
        ("(1 OR 2) AND 3", {"abc", "bc"}),
        # NOT binds tighter than AND: (NOT A) AND B
        ("NOT 1 AND 2", {"bc"}),
        ("NOT (1 AND 2)", {"a", "bc", "c", "none"}),
        ("NOT 1 OR 3", {"abc", "bc", "c", "none"}),
        ("NOT NOT 1", {"abc", "ab", "a"}),
        ("not 1 and not 2 and not 3", {"none"}),
        ("1 Or 3", {"abc", "ab", "a", "bc", "c"}),
        ("((1) AND ((2)))", {"abc", "ab"}),
        # Full-width digits, letters, spaces and parentheses from a Japanese IME
        ("（１　ＯＲ　２）　ａｎｄ　３", {"abc", "bc"}),
    ],
)
def test_expression_combines_blocks(tagged_leads, expression, expected):
    assert matching(expression) == expected


@pytest.mark.parametrize(
    ("expression", "code", "position", "fragment"),
    [
        ("(1 AND 2", "unbalanced_parenthesis", 1, "unbalanced parenthesis at 1"),
        ("1 AND (2 OR 3", "unbalanced_parenthesis", 7, "unbalanced parenthesis at 7"),
        ("1 AND 2)", "unbalanced_parenthesis", 8, "unbalanced parenthesis at 8"),
        ("(1 AND 2)) OR 3", "unbalanced_parenthesis", 10, "unbalanced parenthesis at 10"),
        ("１ ＡＮＤ （２", "unbalanced_parenthesis", 7, "unbalanced parenthesis at 7"),
        ("1 2", "missing_operator", 3, "Put AND or OR between “1” and “2” at 3"),
        ("1 AND", "missing_operand", 6, "stops too early at 6"),
        ("1 AND OR 2", "missing_operand", 7, "missing before “OR” at 7"),
        ("NOT", "missing_operand", 4, "after “NOT”"),
        ("()", "empty_parentheses", 1, "parentheses at 1 are empty"),
        ("1 XOR 2", "unknown_word", 3, "“XOR” at 3 is not a keyword"),
        ("1 & 2", "unknown_character", 3, "“&” at 3 cannot be used"),
        ("  ", "empty", 1, "Enter an expression"),
        ("(" * 40 + "1" + ")" * 40, "too_deep", 33, "nest too deeply"),
    ],
)
def test_expression_errors_name_their_position(expression, code, position, fragment):
    with pytest.raises(ExpressionError) as info:
        parse_expression(expression)
    assert info.value.code == code
    assert info.value.position == position
    assert fragment in info.value.message
    assert isinstance(info.value, ValidationError)


@pytest.mark.django_db
def test_undefined_blocks_are_named_with_their_position_and_unused_blocks_are_fine():
    with pytest.raises(ValidationError) as info:
        check_segment("1 AND 4 OR NOT 5 OR 4", BLOCKS)
    assert info.value.message_dict == {
        "expression": [
            "At 7, block 4 is not defined: add block 4 or remove it from the expression.",
            "At 16, block 5 is not defined: add block 5 or remove it from the expression.",
        ]
    }
    # Blocks 2 and 3 are defined but unused: valid.
    assert check_segment("1", BLOCKS) == BLOCKS


@pytest.mark.django_db
def test_every_problem_is_reported_under_its_key():
    blocks = {
        "1": {"kind": "tag", "op": "hass", "value": "A"},
        "2": {"kind": "page_views_typo", "op": ">=", "value": 1},
        "3": {"kind": "attribute", "field": "employee_count", "op": "contains", "value": 1},
        "x": {"kind": "tag", "op": "has", "value": "A"},
        "4": "tag A",
    }
    with pytest.raises(ValidationError) as info:
        check_segment("(1 AND 2", blocks)
    errors = info.value.message_dict
    assert set(errors) == {
        "expression",
        "blocks.1.op",
        "blocks.2.kind",
        "blocks.3.op",
        "blocks.x",
        "blocks.4",
    }
    assert "unbalanced parenthesis at 1" in errors["expression"][0]
    assert "has, has_not, has_any, has_all" in errors["blocks.1.op"][0]
    assert "“page_views_typo” is not a kind of block" in errors["blocks.2.kind"][0]
    assert "tag" in errors["blocks.2.kind"][0] and "activities" in errors["blocks.2.kind"][0]
    assert errors["blocks.3.op"] == [
        "“contains” does not apply to employees (a number). "
        "Choose one of: =, !=, >, >=, <, <=, between, empty, not_empty."
    ]


@pytest.mark.django_db
def test_blocks_must_be_an_object_and_numbers_are_normalized():
    with pytest.raises(ValidationError) as info:
        check_segment("1", [{"kind": "tag"}])
    assert set(info.value.message_dict) == {"blocks"}
    # Full-width block numbers are the same block numbers.
    cleaned = check_segment("１ AND 2", {"１": BLOCKS["1"], "02": BLOCKS["2"]})
    assert cleaned == {"1": BLOCKS["1"], "2": BLOCKS["2"]}
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": BLOCKS["1"], "01": BLOCKS["2"]})
    assert info.value.message_dict == {"blocks.01": ["Block 1 is defined twice."]}


@pytest.mark.django_db
def test_cleaned_blocks_validate_to_themselves():
    blocks = {
        "1": {"kind": "attribute", "field": "employee_count", "op": "≧", "value": "１,０００"},
        "2": {"kind": "activities", "op": ">=", "value": "1", "within_days": "30"},
        "3": {"kind": "tag", "op": "has_any", "value": "失注"},
    }
    cleaned = check_segment("1 AND 2 AND 3", blocks)
    assert cleaned == {
        "1": {"kind": "attribute", "field": "employee_count", "op": ">=", "value": 1000},
        "2": {"kind": "activities", "op": ">=", "value": 1, "within_days": 30},
        "3": {"kind": "tag", "op": "has_any", "value": ["失注"]},
    }
    assert check_segment("1 AND 2 AND 3", cleaned) == cleaned
