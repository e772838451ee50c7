"""Scenarios' compound-search block: leads that opened or clicked mail.

``{"kind": "email", "action": "clicked", "template": 12, "within_days": 14}``
— ``template`` and ``within_days`` are optional ("any email", "ever"). The
condition is an EXISTS over ``tracking_event`` on its (lead_id, type,
occurred_at) index; the template is matched in the event's properties.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.segments import BlockKind, CompileContext, register_block
from leads.segments import params as p
from tracking.models import Event, EventType

ACTIONS = {"opened": EventType.EMAIL_OPEN, "clicked": EventType.EMAIL_CLICK}


@register_block
class EmailBlock(BlockKind):
    name = "email"
    label = gettext_lazy("Email opened or clicked")

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("action", "template", "within_days"))
        action = str(p.require(params, "action")).strip().lower()
        if action not in ACTIONS:
            raise p.fail("action", _("Choose “opened” or “clicked”."))
        cleaned: dict = {"action": action}
        if params.get("template") not in (None, ""):
            cleaned["template"] = p.clean_id(params["template"], "template")
        if params.get("within_days") not in (None, ""):
            cleaned["within_days"] = p.clean_days(params["within_days"])
        return cleaned

    def compile(self, params: dict, context: CompileContext) -> Q:
        rows = Event.objects.filter(lead_id=OuterRef("pk"), type=ACTIONS[params["action"]])
        if params.get("template"):
            rows = rows.filter(properties__template=params["template"])
        if params.get("within_days"):
            since = context.now - datetime.timedelta(days=params["within_days"])
            rows = rows.filter(occurred_at__gte=since, occurred_at__lte=context.now)
        return Q(Exists(rows))

    def describe(self, params: dict) -> str:
        what = _("opened an email") if params["action"] == "opened" else _("clicked in an email")
        if params.get("template"):
            what += " " + _("(template %(id)s)") % {"id": params["template"]}
        if params.get("within_days"):
            what += " " + _("within %(days)d days") % {"days": params["within_days"]}
        return what

    def parameters(self) -> list[dict]:
        return [
            {"name": "action", "type": "choice", "required": True, "choices": list(ACTIONS)},
            {"name": "template", "type": "id", "required": False},
            {"name": "within_days", "type": "integer", "required": False},
        ]
