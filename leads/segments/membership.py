"""Blocks over other saved sets of leads: a static list, another segment.

``{"kind": "list", "op": "in", "value": 12}`` — active members only.
``{"kind": "segment", "op": "not_in", "value": 3}`` — the other segment's
conditions are inlined into this search (one statement, planned as a whole);
loops (A uses B uses A) are refused when saving and when compiling.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import ListMembership, Segment, StaticList
from leads.segments import params as p
from leads.segments.registry import BlockKind, CompileContext, register_block
from leads.segments.search import saved_segment_condition

MEMBERSHIP_OPERATORS = ("in", "not_in")


def _clean_membership(params: dict, model, missing_message: str) -> dict:
    p.reject_unknown(params, ("op", "value"))
    op = p.clean_op(params, MEMBERSHIP_OPERATORS)
    value = p.clean_id(p.require(params, "value"))
    if not model.objects.filter(pk=value).exists():
        raise p.fail("value", missing_message % {"id": value})
    return {"op": op, "value": value}


def _name(model, pk: object) -> str:
    found = model.objects.filter(pk=pk).values_list("name", flat=True).first()
    return f"“{found}”" if found is not None else f"#{pk}"


@register_block
class ListBlock(BlockKind):
    name = "list"
    label = gettext_lazy("List")

    def validate(self, params: dict) -> dict:
        return _clean_membership(params, StaticList, _("There is no list with id %(id)s."))

    def compile(self, params: dict, context: CompileContext) -> Q:
        member = Q(
            Exists(
                ListMembership.objects.filter(
                    lead=OuterRef("pk"), static_list_id=params["value"], removed_at__isnull=True
                )
            )
        )
        return member if params["op"] == "in" else ~member

    def describe(self, params: dict) -> str:
        name = _name(StaticList, params.get("value"))
        if params.get("op") == "not_in":
            return _("not in list %(name)s") % {"name": name}
        return _("in list %(name)s") % {"name": name}

    def parameters(self) -> list[dict]:
        return [
            {
                "name": "op",
                "type": "choice",
                "required": True,
                "choices": list(MEMBERSHIP_OPERATORS),
            },
            {"name": "value", "type": "list_id", "required": True},
        ]


@register_block
class SegmentBlock(BlockKind):
    name = "segment"
    label = gettext_lazy("Other segment")

    def validate(self, params: dict) -> dict:
        # Loops are checked by check_segment, which knows which segment is edited.
        return _clean_membership(params, Segment, _("There is no segment with id %(id)s."))

    def compile(self, params: dict, context: CompileContext) -> Q:
        matches = saved_segment_condition(params["value"], context)
        return matches if params["op"] == "in" else ~matches

    def describe(self, params: dict) -> str:
        name = _name(Segment, params.get("value"))
        if params.get("op") == "not_in":
            return _("not in segment %(name)s") % {"name": name}
        return _("in segment %(name)s") % {"name": name}

    def parameters(self) -> list[dict]:
        return [
            {
                "name": "op",
                "type": "choice",
                "required": True,
                "choices": list(MEMBERSHIP_OPERATORS),
            },
            {"name": "value", "type": "segment_id", "required": True},
        ]
