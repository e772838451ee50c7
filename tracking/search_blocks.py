"""Tracking's compound-search blocks, registered with leads' registry, and
the seed-004 HOT search preset.

Counts are "has at least n rows" EXISTS over ``tracking_event`` on its
(lead_id, type, occurred_at) index (see leads.segments.counting), so a
lead with no events is matched by "= 0" and "< n" too.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.segments import BlockKind, CompileContext, count_condition, register_block
from leads.segments import params as p
from leads.segments.counting import COUNT_OPERATORS, clean_count_params
from leads.segments.presets import register_preset
from tracking.models import Event, EventType, Form, Visit


def _window(rows, params: dict, context: CompileContext):
    if params.get("within_days"):
        since = context.now - datetime.timedelta(days=params["within_days"])
        rows = rows.filter(occurred_at__gte=since, occurred_at__lte=context.now)
    return rows


def _days_phrase(params: dict) -> str:
    if params.get("within_days"):
        return " " + _("within %(days)d days") % {"days": params["within_days"]}
    return ""


@register_block
class PageViewsBlock(BlockKind):
    """{"kind": "page_views", "op": ">=", "value": 15, "within_days": 30, "url": "/pricing"}"""

    name = "page_views"
    label = gettext_lazy("Page views")

    def validate(self, params: dict) -> dict:
        cleaned = clean_count_params(params, ("url",))
        if params.get("url") not in (None, ""):
            cleaned["url"] = p.clean_text(params["url"], "url", max_length=500)
        return cleaned

    def compile(self, params: dict, context: CompileContext) -> Q:
        rows = Event.objects.filter(lead_id=OuterRef("pk"), type=EventType.PAGE_VIEW)
        if params.get("url"):
            rows = rows.filter(url__contains=params["url"])
        return count_condition(_window(rows, params, context), params["op"], params["value"])

    def describe(self, params: dict) -> str:
        values = {"op": params["op"], "value": params["value"], "url": params.get("url", "")}
        if params.get("url"):
            text = _("page views of URLs containing “%(url)s” %(op)s %(value)s") % values
        else:
            text = _("page views %(op)s %(value)s") % values
        return text + _days_phrase(params)

    def parameters(self) -> list[dict]:
        return [
            {"name": "op", "type": "choice", "required": True, "choices": list(COUNT_OPERATORS)},
            {"name": "value", "type": "integer", "required": True},
            {"name": "within_days", "type": "integer", "required": False},
            {"name": "url", "type": "text", "required": False, "help": "URL contains"},
        ]


@register_block
class VisitedUrlBlock(BlockKind):
    """{"kind": "visited_url", "op": "visited" | "not_visited", "value": "/pricing",
    "within_days": 30}"""

    name = "visited_url"
    label = gettext_lazy("Visited a page")
    OPS = ("visited", "not_visited")

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("op", "value", "within_days"))
        op = p.clean_op(params, self.OPS)
        cleaned = {"op": op, "value": p.clean_text(p.require(params, "value"), max_length=500)}
        if params.get("within_days") not in (None, ""):
            cleaned["within_days"] = p.clean_days(params["within_days"])
        return cleaned

    def compile(self, params: dict, context: CompileContext) -> Q:
        rows = Event.objects.filter(
            lead_id=OuterRef("pk"), type=EventType.PAGE_VIEW, url__contains=params["value"]
        )
        condition = Q(Exists(_window(rows, params, context)))
        return condition if params["op"] == "visited" else ~condition

    def describe(self, params: dict) -> str:
        text = (
            _("visited “%(url)s”%(days)s")
            if params["op"] == "visited"
            else _("did not visit “%(url)s”%(days)s")
        )
        return text % {"url": params["value"], "days": _days_phrase(params)}


@register_block
class LastVisitBlock(BlockKind):
    """{"kind": "last_visit", "op": "within" | "not_within", "value": 14} (days)"""

    name = "last_visit"
    label = gettext_lazy("Last visit")
    OPS = ("within", "not_within")

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("op", "value"))
        op = p.clean_op(params, self.OPS)
        return {"op": op, "value": p.clean_days(p.require(params, "value"), "value")}

    def compile(self, params: dict, context: CompileContext) -> Q:
        since = context.now - datetime.timedelta(days=params["value"])
        recent = Q(Exists(Visit.objects.filter(lead=OuterRef("pk"), last_event_at__gte=since)))
        return recent if params["op"] == "within" else ~recent

    def describe(self, params: dict) -> str:
        text = (
            _("last visit within %(days)d days")
            if params["op"] == "within"
            else _("no visit in the last %(days)d days")
        )
        return text % {"days": params["value"]}


@register_block
class FormSubmissionsBlock(BlockKind):
    """{"kind": "form_submissions", "op": ">=", "value": 1, "within_days": 90,
    "form": "<form key>"}"""

    name = "form_submissions"
    label = gettext_lazy("Form submissions")

    def validate(self, params: dict) -> dict:
        cleaned = clean_count_params(params, ("form",))
        if params.get("form") not in (None, ""):
            key = str(params["form"])
            form = Form.objects.filter(Q(key=key) | Q(pk=int(key) if key.isdigit() else None))
            found = form.first()
            if found is None:
                raise p.fail("form", _("There is no form “%(form)s”.") % {"form": key})
            cleaned["form"] = found.key
        return cleaned

    def compile(self, params: dict, context: CompileContext) -> Q:
        rows = Event.objects.filter(lead_id=OuterRef("pk"), type=EventType.FORM_SUBMIT)
        if params.get("form"):
            rows = rows.filter(properties__form=params["form"])
        return count_condition(_window(rows, params, context), params["op"], params["value"])

    def describe(self, params: dict) -> str:
        which = (
            _("form “%(form)s”") % {"form": params["form"]} if params.get("form") else _("any form")
        )
        return _("submissions of %(which)s %(op)s %(value)s%(days)s") % {
            "which": which, "op": params["op"], "value": params["value"],
            "days": _days_phrase(params),
        }  # fmt: skip


#: Seed 004: page views ≥ 15 within 30 days AND a form submission AND no sales
#: activity yet, plus has email, not a competitor, nurture target.
register_preset(
    "hot_leads",
    gettext_lazy("HOT lead list"),
    "1 AND 2 AND NOT 3 AND 4 AND 5 AND 6",
    {
        "1": {"kind": "page_views", "op": ">=", "value": 15, "within_days": 30},
        "2": {"kind": "form_submissions", "op": ">=", "value": 1},
        "3": {"kind": "activities", "op": ">=", "value": 1},
        "4": {"kind": "attribute", "field": "email", "op": "not_empty"},
        "5": {"kind": "attribute", "field": "is_competitor", "op": "is", "value": False},
        "6": {"kind": "attribute", "field": "is_nurture_target", "op": "is", "value": True},
    },
    gettext_lazy(
        "Leads who read a lot and filled a form but have had no sales activity: call them."
    ),
)
