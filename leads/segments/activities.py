"""The ``activities`` block: how many sales activities (活動履歴) a lead has.

``{"kind": "activities", "op": ">=", "value": 1, "within_days": 30,
"type": "phone", "result": ["continue", "opportunity"], "source": "hot_list"}``

Counts are EXISTS over the lead's activities on the (lead_id, occurred_at)
index (see ``counting``), so ``"op": "=", "value": 0`` includes leads that
never had an activity.
"""

from __future__ import annotations

import datetime

from django.db.models import OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import Activity, ActivityChoice
from leads.segments import params as p
from leads.segments.counting import COUNT_OPERATORS, clean_count_params, count_condition
from leads.segments.registry import BlockKind, CompileContext, register_block

FILTERS = {
    "type": ActivityChoice.Kind.TYPE,
    "result": ActivityChoice.Kind.RESULT,
    "source": ActivityChoice.Kind.SOURCE,
}


def _clean_codes(params: dict, name: str) -> str | list[str] | None:
    if params.get(name) in (None, "", []):
        return None
    raw = params[name]
    codes = p.clean_text_list(raw, name)
    # Inactive choices still name past activities, so they remain searchable.
    known = set(ActivityChoice.objects.filter(kind=FILTERS[name]).values_list("code", flat=True))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise p.fail(
            name,
            _("“%(code)s” is not an activity %(list)s. Choose one of: %(valid)s.")
            % {
                "code": ", ".join(unknown),
                "list": str(ActivityChoice.Kind(FILTERS[name]).label).lower(),
                "valid": ", ".join(sorted(known)),
            },
        )
    return codes if isinstance(raw, list | tuple) else codes[0]


def activity_rows(params: dict, context: CompileContext):
    """The lead's activities a block counts, correlated to the outer lead."""
    rows = Activity.objects.filter(lead=OuterRef("pk"))
    if params.get("within_days"):
        since = context.now - datetime.timedelta(days=params["within_days"])
        rows = rows.filter(occurred_at__gte=since, occurred_at__lte=context.now)
    for name in FILTERS:
        value = params.get(name)
        if value:
            rows = rows.filter(**{f"{name}__in": value if isinstance(value, list) else [value]})
    return rows


@register_block
class ActivitiesBlock(BlockKind):
    name = "activities"
    label = gettext_lazy("Activities (活動履歴)")

    def validate(self, params: dict) -> dict:
        cleaned = clean_count_params(params, tuple(FILTERS))
        for name in FILTERS:
            codes = _clean_codes(params, name)
            if codes is not None:
                cleaned[name] = codes
        return cleaned

    def compile(self, params: dict, context: CompileContext) -> Q:
        return count_condition(activity_rows(params, context), params["op"], params["value"])

    def describe(self, params: dict) -> str:
        value = params.get("value")
        if isinstance(value, list):
            value = f"{value[0]}–{value[1]}"
        values = {"op": params.get("op"), "value": value, "days": params.get("within_days")}
        if params.get("within_days"):
            text = _("activities %(op)s %(value)s in the last %(days)s days") % values
        else:
            text = _("activities %(op)s %(value)s") % values
        labels = dict(ActivityChoice.objects.values_list("code", "label"))
        for name in FILTERS:
            codes = params.get(name)
            if codes:
                codes = codes if isinstance(codes, list) else [codes]
                text += " · " + "/".join(labels.get(code, code) for code in codes)
        return text

    def parameters(self) -> list[dict]:
        choices = {
            name: list(
                ActivityChoice.objects.filter(kind=kind, is_active=True).values_list(
                    "code", flat=True
                )
            )
            for name, kind in FILTERS.items()
        }
        return [
            {"name": "op", "type": "choice", "required": True, "choices": list(COUNT_OPERATORS)},
            {"name": "value", "type": "count", "required": True},
            {"name": "within_days", "type": "days", "required": False},
            *(
                {"name": name, "type": "choice_list", "required": False, "choices": codes}
                for name, codes in choices.items()
            ),
        ]
