"""Tag, list and segment blocks, and loops between segments."""

import pytest
from django.core.exceptions import ValidationError

from leads.models import Segment
from leads.segments import check_segment, segment_count, segment_leads, segment_leads_for
from leads.services import list_add, list_remove, tags_change
from leads.tests.factories import LeadFactory, StaticListFactory


def names(queryset) -> set[str]:
    return {email.split("@")[0] for email in queryset.values_list("email", flat=True)}


def matching(block: dict, expression: str = "1") -> set[str]:
    return names(segment_leads(expression, {"1": block}))


@pytest.fixture
def leads(db):
    # given: lost (失注, 展示会), expo (展示会), webinar (ウェビナー), plain (no tag);
    # "dropped" had 失注 removed again.
    result = {}
    for name, tags in {
        "lost": ["失注", "展示会"],
        "expo": ["展示会"],
        "webinar": ["ウェビナー"],
        "plain": [],
        "dropped": ["失注"],
    }.items():
        result[name] = LeadFactory(email=f"{name}@example.jp")
        if tags:
            tags_change(lead=result[name], add=tags, actor_kind="user")
    tags_change(lead=result["dropped"], remove=["失注"], actor_kind="user")
    return result


EVERYONE = {"lost", "expo", "webinar", "plain", "dropped"}


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"op": "has", "value": "失注"}, {"lost"}),
        ({"op": "has_not", "value": "失注"}, {"expo", "webinar", "plain", "dropped"}),
        ({"op": "has_any", "value": ["失注", "ウェビナー"]}, {"lost", "webinar"}),
        ({"op": "has_all", "value": ["失注", "展示会"]}, {"lost"}),
        ({"op": "has_all", "value": ["失注", "ウェビナー"]}, set()),
        # a tag nobody has yet is a valid search that matches no lead
        ({"op": "has", "value": "まだ誰にもない"}, set()),
    ],
)
def test_tag_block(leads, block, expected):
    assert matching({"kind": "tag", **block}) == expected


def test_tag_block_errors(db):
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "tag", "op": "has", "value": ["a", "b"]}})
    assert "use has_any or has_all" in info.value.message_dict["blocks.1.value"][0]
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "tag", "op": "has", "value": "x" * 101}})
    assert "at most 100 characters" in info.value.message_dict["blocks.1.value"][0]


def test_list_block_counts_active_members_only(leads):
    # given: lost and expo were added; expo was removed again
    hot = StaticListFactory(name="HOTリードリスト")
    list_add(static_list=hot, lead_ids=[leads["lost"].pk, leads["expo"].pk], actor_kind="user")
    list_remove(static_list=hot, lead_ids=[leads["expo"].pk])
    # then
    assert matching({"kind": "list", "op": "in", "value": hot.pk}) == {"lost"}
    assert matching({"kind": "list", "op": "not_in", "value": hot.pk}) == EVERYONE - {"lost"}
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "list", "op": "in", "value": hot.pk + 1000}})
    assert info.value.message_dict == {
        "blocks.1.value": [f"There is no list with id {hot.pk + 1000}."]
    }


def test_segment_block_reuses_another_segment(leads):
    # given: "lost deals" = tag 失注; "expo, not lost" = 展示会 AND NOT segment(lost deals)
    lost = Segment.objects.create(
        name="失注", expression="1", blocks={"1": {"kind": "tag", "op": "has", "value": "失注"}}
    )
    expo_not_lost = Segment.objects.create(
        name="展示会・失注以外",
        expression="1 AND NOT 2",
        blocks={
            "1": {"kind": "tag", "op": "has", "value": "展示会"},
            "2": {"kind": "segment", "op": "in", "value": lost.pk},
        },
    )
    # then
    assert names(segment_leads_for(expo_not_lost)) == {"expo"}
    assert matching({"kind": "segment", "op": "not_in", "value": lost.pk}) == EVERYONE - {"lost"}
    assert segment_count(expo_not_lost) == 1


def test_loops_between_segments_are_refused_with_the_path(db):
    # given: B uses A
    a = Segment.objects.create(
        name="A", expression="1", blocks={"1": {"kind": "tag", "op": "has", "value": "x"}}
    )
    b = Segment.objects.create(
        name="B", expression="1", blocks={"1": {"kind": "segment", "op": "in", "value": a.pk}}
    )
    # when: A is edited to use B
    with pytest.raises(ValidationError) as info:
        check_segment(
            "1 OR 2",
            {
                "1": {"kind": "tag", "op": "has", "value": "x"},
                "2": {"kind": "segment", "op": "in", "value": b.pk},
            },
            segment_id=a.pk,
        )
    # then
    assert info.value.message_dict == {
        "blocks.2.value": [
            "This makes a loop (A → B → A): a segment cannot use itself, "
            "directly or through other segments."
        ]
    }
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "segment", "op": "in", "value": a.pk}}, segment_id=a.pk)
    assert info.value.message_dict == {"blocks.1.value": ["A segment cannot use itself."]}
    # A new segment may use B: no loop
    assert check_segment("1", {"1": {"kind": "segment", "op": "not_in", "value": b.pk}})


def test_a_loop_saved_around_validation_fails_cleanly_when_run(db):
    # given: A and B use each other (written directly, as an old import could)
    a = Segment.objects.create(name="A", expression="1", blocks={})
    b = Segment.objects.create(
        name="B", expression="1", blocks={"1": {"kind": "segment", "op": "in", "value": a.pk}}
    )
    Segment.objects.filter(pk=a.pk).update(
        blocks={"1": {"kind": "segment", "op": "in", "value": b.pk}}
    )
    a.refresh_from_db()
    # then: an error a person can act on, not a recursion crash
    with pytest.raises(ValidationError) as info:
        segment_leads_for(a)
    assert "loop" in info.value.message_dict["blocks.1.value"][0]
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "segment", "op": "in", "value": a.pk}})
    assert "loop (A → B → A)" in info.value.message_dict["blocks.1.value"][0]
