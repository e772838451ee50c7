"""The ``tag`` block: ``{"kind": "tag", "op": "has", "value": "失注"}``.

Tags are matched by name inside the subquery (not resolved to ids while
compiling), so building a search runs no query and a tag created later is
found by a saved search. A tag nobody has yet is valid and matches no lead.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import LeadTag
from leads.segments import params as p
from leads.segments.registry import BlockKind, CompileContext, register_block

SINGLE = ("has", "has_not")
MULTIPLE = ("has_any", "has_all")

PHRASES = {
    "has": gettext_lazy("has tag %(tags)s"),
    "has_not": gettext_lazy("does not have tag %(tags)s"),
    "has_any": gettext_lazy("has any of the tags %(tags)s"),
    "has_all": gettext_lazy("has all of the tags %(tags)s"),
}


def _has_tags(names: list[str]) -> Q:
    return Q(
        Exists(LeadTag.objects.filter(lead=OuterRef("pk"), tag__name__in=names))
        if len(names) > 1
        else Exists(LeadTag.objects.filter(lead=OuterRef("pk"), tag__name=names[0]))
    )


@register_block
class TagBlock(BlockKind):
    name = "tag"
    label = gettext_lazy("Tag")

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("op", "value"))
        op = p.clean_op(params, (*SINGLE, *MULTIPLE))
        p.require(params, "value")
        if op in SINGLE:
            value = params["value"]
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if isinstance(value, list):
                raise p.fail(
                    "value",
                    _("“%(op)s” takes one tag; use has_any or has_all for several.") % {"op": op},
                )
            return {"op": op, "value": p.clean_text(value, max_length=100)}
        names = [
            p.clean_text(name, max_length=100)
            for name in (
                params["value"] if isinstance(params["value"], list) else [params["value"]]
            )
        ]
        return {"op": op, "value": list(dict.fromkeys(names))}

    def compile(self, params: dict, context: CompileContext) -> Q:
        op, value = params["op"], params["value"]
        if op == "has":
            return _has_tags([value])
        if op == "has_not":
            return ~_has_tags([value])
        if op == "has_any":
            return _has_tags(value)
        result = Q()
        for name in value:
            result &= _has_tags([name])
        return result

    def describe(self, params: dict) -> str:
        value = params.get("value")
        names = value if isinstance(value, list) else [value]
        tags = "、".join(f"“{name}”" for name in names)
        return str(PHRASES.get(params.get("op"), "%(tags)s")) % {"tags": tags}

    def parameters(self) -> list[dict]:
        return [
            {"name": "op", "type": "choice", "required": True, "choices": [*SINGLE, *MULTIPLE]},
            {
                "name": "value",
                "type": "tag",
                "required": True,
                "help": str(_("A tag name, or a list of names for has_any / has_all.")),
            },
        ]
