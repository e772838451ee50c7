"""Blocks over other saved sets of leads: a static list, another segment.

``{"kind": "list", "op": "in", "value": 12}`` — active members only.
``{"kind": "segment", "op": "not_in", "value": 3}`` — the other segment's
conditions are inlined into this search (one statement, planned as a whole);
loops (A uses B uses A) are refused when saving and when compiling.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy

from leads.models import ListMembership, Segment, StaticList
from leads.segments import params as p
from leads.segments.registry import BlockKind, CompileContext, register_block
from leads.segments.search import saved_segment_condition

MEMBERSHIP_OPERATORS = ("in", "not_in")


def _name(model, pk: object) -> str:
    found = model.objects.filter(pk=pk).values_list("name", flat=True).first()
    return f"“{found}”" if found is not None else f"#{pk}"


class _MembershipBlock(BlockKind):
    """ "in" / "not in" a saved set of leads: what differs is the set's model
    and how a member is found (``compile``)."""

    model: type
    value_type: str
    missing: str  # "There is no … with id %(id)s."
    in_text: str  # "in … %(name)s"
    not_in_text: str

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("op", "value"))
        op = p.clean_op(params, MEMBERSHIP_OPERATORS)
        value = p.clean_id(p.require(params, "value"))
        if not self.model.objects.filter(pk=value).exists():
            raise p.fail("value", str(self.missing) % {"id": value})
        return {"op": op, "value": value}

    def describe(self, params: dict) -> str:
        text = self.not_in_text if params.get("op") == "not_in" else self.in_text
        return str(text) % {"name": _name(self.model, params.get("value"))}

    def parameters(self) -> list[dict]:
        return [
            {
                "name": "op",
                "type": "choice",
                "required": True,
                "choices": list(MEMBERSHIP_OPERATORS),
            },
            {"name": "value", "type": self.value_type, "required": True},
        ]


@register_block
class ListBlock(_MembershipBlock):
    name = "list"
    label = gettext_lazy("List")
    model = StaticList
    value_type = "list_id"
    missing = gettext_lazy("There is no list with id %(id)s.")
    in_text = gettext_lazy("in list %(name)s")
    not_in_text = gettext_lazy("not in list %(name)s")

    def compile(self, params: dict, context: CompileContext) -> Q:
        member = Q(
            Exists(
                ListMembership.objects.filter(
                    lead=OuterRef("pk"), static_list_id=params["value"], removed_at__isnull=True
                )
            )
        )
        return member if params["op"] == "in" else ~member


@register_block
class SegmentBlock(_MembershipBlock):
    # Loops are checked by check_segment, which knows which segment is edited.
    name = "segment"
    label = gettext_lazy("Other segment")
    model = Segment
    value_type = "segment_id"
    missing = gettext_lazy("There is no segment with id %(id)s.")
    in_text = gettext_lazy("in segment %(name)s")
    not_in_text = gettext_lazy("not in segment %(name)s")

    def compile(self, params: dict, context: CompileContext) -> Q:
        matches = saved_segment_condition(params["value"], context)
        return matches if params["op"] == "in" else ~matches
