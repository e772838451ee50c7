"""Dry run of a scenario: who would enter now, and what each would receive
over the next days — nothing is written or sent.

The walk follows the graph from each lead's entry moment: waits move the
clock, a send lands at its send window's next opening and is pushed past the
weekly cap (counting the lead's real capped mails of the last 7 days and the
run's own earlier mails), branches are decided on the lead's data now (one
query per branch for all the leads), and a branch on this scenario's own
opens or clicks is taken as "no" unless the step says to assume "yes"
(``dry_run_assume``). Tags the run adds are remembered for later branches on
those tags.
"""

from __future__ import annotations

import datetime
import heapq
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead
from scenarios.engine import date_trigger_leads, segment_newcomers_sql, wait_until
from scenarios.models import EmailTemplate, Scenario, ScenarioEnrollment, ScenarioStep, SendWindow
from scenarios.sending import cap_deferral, lead_facts

HORIZON = datetime.timedelta(days=14)
#: Leads walked at most (the count of everyone who would enter is exact).
MAX_LEADS = 200
MAX_STEPS_PER_LEAD = 200


@dataclass
class Planned:
    at: datetime.datetime
    step: str
    kind: str
    what: str
    note: str = ""
    #: For a branch: "yes" or "no", the edge taken (``what`` says it in words).
    taken: str = ""


@dataclass
class LeadPlan:
    lead: Lead
    enters_at: datetime.datetime
    items: list[Planned] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "lead": self.lead.pk,
            "email": self.lead.email,
            "name": f"{self.lead.last_name} {self.lead.first_name}".strip(),
            "enters_at": timezone.localtime(self.enters_at).isoformat(),
            "items": [
                {"at": timezone.localtime(i.at).isoformat(), "step": i.step, "kind": i.kind,
                 "what": i.what, "note": i.note, **({"taken": i.taken} if i.taken else {})}
                for i in self.items
            ],
        }  # fmt: skip


def _recent_window(days: int = 7):
    return timezone.now() - datetime.timedelta(days=days)


def entrants(
    scenario: Scenario, *, now: datetime.datetime, lead_ids: list[int] | None = None
) -> tuple[QuerySet[Lead], dict[int, datetime.datetime]]:
    """Who would enter now (for a date trigger: within the horizon, each at
    its own moment), after the re-entry policy and the exit conditions."""
    from django.db.models import Exists, OuterRef

    from leads.models import LeadTag, Suppression, TagChange
    from tracking.models import Event

    config = scenario.trigger_config or {}
    moments: dict[int, datetime.datetime] = {}
    leads = Lead.objects.all()
    trigger = scenario.trigger
    if lead_ids is not None:
        leads = leads.filter(pk__in=lead_ids)
    elif trigger == Scenario.Trigger.TAG_ADDED:
        has_tag = LeadTag.objects.filter(lead=OuterRef("pk"), tag__name=config.get("tag"))
        leads = leads.filter(Exists(has_tag))
    elif trigger == Scenario.Trigger.TAG_REMOVED:
        leads = leads.filter(
            Exists(
                TagChange.objects.filter(
                    lead=OuterRef("pk"),
                    tag__name=config.get("tag"),
                    action="removed",
                    occurred_at__gte=_recent_window(),
                )
            )
        ).exclude(Exists(LeadTag.objects.filter(lead=OuterRef("pk"), tag__name=config.get("tag"))))
    elif trigger == Scenario.Trigger.SEGMENT_ENTERED:
        from scenarios.models import ScenarioSegmentMember

        sql, params = segment_newcomers_sql(scenario)
        leads = leads.extra(where=[f"leads_lead.id IN ({sql})"], params=params).exclude(  # noqa: S610
            Exists(ScenarioSegmentMember.objects.filter(scenario=scenario, lead=OuterRef("pk")))
        )
    elif trigger == Scenario.Trigger.RANK_CHANGED:
        leads = leads.filter(rank=config.get("rank"))
    elif trigger == Scenario.Trigger.DATE_FIELD:
        due = date_trigger_leads(scenario, since=now, until=now + HORIZON)
        moments = dict(due)
        leads = leads.filter(pk__in=list(moments))
    elif trigger == Scenario.Trigger.MANUAL:
        leads = leads.none()
    else:
        from scenarios.engine import EVENT_TRIGGERS

        event_type = {v: k for k, v in EVENT_TRIGGERS.items()}[trigger]
        rows = Event.objects.filter(lead_id=OuterRef("pk"), type=event_type,
                                    occurred_at__gte=_recent_window())  # fmt: skip
        if config.get("url"):
            rows = rows.filter(url__contains=config["url"])
        if config.get("form"):
            rows = rows.filter(properties__form=config["form"])
        if config.get("template"):
            rows = rows.filter(properties__template=config["template"])
        leads = leads.filter(Exists(rows))
    enrolled = ScenarioEnrollment.objects.filter(scenario=scenario, lead=OuterRef("pk"))
    if scenario.reentry == Scenario.Reentry.ONCE:
        leads = leads.exclude(Exists(enrolled))
    elif scenario.reentry == Scenario.Reentry.AFTER_EXIT:
        leads = leads.exclude(Exists(enrolled.filter(state="active")))
    if scenario.exit_on_unsubscribe:
        leads = leads.exclude(Exists(Suppression.objects.filter(
            lead=OuterRef("pk"), lifted_at__isnull=True, channel="email")))  # fmt: skip
    if scenario.exit_on_customer:
        leads = leads.exclude(stage="customer")
    if scenario.exit_tags:
        leads = leads.exclude(
            Exists(LeadTag.objects.filter(lead=OuterRef("pk"), tag__name__in=scenario.exit_tags))
        )
    return leads, moments


def scenario_dry_run(
    *,
    scenario: Scenario,
    now: datetime.datetime | None = None,
    lead_ids: list[int] | None = None,
    horizon: datetime.timedelta = HORIZON,
) -> dict:
    """``{"count", "shown", "leads": [LeadPlan.as_dict()]}`` without writing anything."""
    from leads.segments import CompileContext, get_block
    from scenarios.sending import sender_profile

    now = now or timezone.now()
    end = now + horizon
    audience, moments = entrants(scenario, now=now, lead_ids=lead_ids)
    count = audience.count()
    leads = list(audience.order_by("id")[:MAX_LEADS])
    steps = list(scenario.steps.order_by("position", "id"))
    by_key = {s.key: s for s in steps}
    templates = {
        t.pk: t
        for t in EmailTemplate.objects.filter(
            pk__in=[s.config.get("template") for s in steps if s.kind == "send_email"]
        )
    }
    windows = {w.pk: w for w in SendWindow.objects.all()}
    try:
        cap = sender_profile().weekly_cap
    except Exception:  # no profile yet: show the plan without a cap
        cap = None
    ids = [lead.pk for lead in leads]
    facts = lead_facts(ids, now=now)
    # Each branch decided once for all the leads (set-based); tags the run adds
    # are applied per lead afterwards.
    decided: dict[str, set[int]] = {}
    for step in steps:
        if step.kind != "branch" or step.config["condition"]["kind"] == "scenario_mail":
            continue
        condition = step.config["condition"]
        params = {k: v for k, v in condition.items() if k != "kind"}
        q = get_block(condition["kind"]).compile(params, CompileContext(now=now))
        decided[step.key] = set(
            Lead.objects.filter(pk__in=ids).filter(q).values_list("pk", flat=True)
        )

    plans = []
    for lead in leads:
        plan = LeadPlan(lead=lead, enters_at=moments.get(lead.pk, now))
        sends: list[tuple[Planned, SendWindow | None]] = []
        added_tags: set[str] = set()
        removed_tags: set[str] = set()
        moment = plan.enters_at
        step: ScenarioStep | None = steps[0] if steps else None
        for _n in range(MAX_STEPS_PER_LEAD):
            if step is None or moment > end:
                break
            edge = step.next_key
            if step.kind == "wait":
                moment = wait_until(step.config, moment)
                if moment > end:
                    break
            elif step.kind == "branch":
                yes = _decide(step, lead.pk, decided, added_tags, removed_tags)
                plan.items.append(
                    Planned(moment, step.key, "branch", _("yes") if yes else _("no"),
                            _assumption(step), taken="yes" if yes else "no")
                )  # fmt: skip
                edge = step.next_key if yes else step.else_key
            elif step.kind == "send_email":
                template = templates.get(step.config["template"])
                subject = _subject(template, lead) if template else "?"
                item = Planned(moment, step.key, "send_email", subject)
                sends.append((item, windows.get(step.config.get("send_window"))))
                plan.items.append(item)
            elif step.kind == "end":
                plan.items.append(Planned(moment, step.key, "end", _("End")))
                break
            else:
                if step.kind == "add_tag":
                    added_tags.add(step.config["tag"])
                    removed_tags.discard(step.config["tag"])
                elif step.kind == "remove_tag":
                    removed_tags.add(step.config["tag"])
                    added_tags.discard(step.config["tag"])
                plan.items.append(Planned(moment, step.key, step.kind, _describe(step)))
            step = by_key.get(edge) if edge else None
        _place_sends(sends, list(facts.handed.get(lead.pk, [])), cap)
        plan.items = sorted((i for i in plan.items if i.at <= end), key=lambda i: i.at)
        plans.append(plan)
    return {"count": count, "shown": len(plans), "horizon_days": horizon.days,
            "leads": [p.as_dict() for p in plans]}  # fmt: skip


def _subject(template: EmailTemplate, lead: Lead) -> str:
    """The subject as this lead would see it (sandboxed rendering)."""
    from scenarios.rendering import _compiled, lead_context

    try:
        return " ".join(_compiled(template.subject, False).render(lead_context(lead)).split())
    except Exception:  # a broken template shows as written; sending would report it
        return template.subject


def _assumption(step: ScenarioStep) -> str:
    if step.config["condition"]["kind"] != "scenario_mail":
        return ""
    return _("assumed") if step.config.get("dry_run_assume") else _("assumed no open or click")


def _decide(step, lead_id: int, decided, added: set[str], removed: set[str]) -> bool:
    condition = step.config["condition"]
    if condition["kind"] == "scenario_mail":
        return bool(step.config.get("dry_run_assume"))
    if condition["kind"] == "tag" and condition["op"] in ("has", "has_not"):
        name = condition["value"]
        if name in added or name in removed:
            has = name in added
            return has if condition["op"] == "has" else not has
    return lead_id in decided.get(step.key, set())


def _place_sends(sends, handed: list[datetime.datetime], cap: int | None) -> None:
    """Give each planned send the time it would really go, as the send path
    would: the send due earliest is looked at first; outside its window it
    waits for the opening, over the weekly cap until a slot frees, and then
    it takes its slot (a later send's cap counts it)."""
    queue = [(item.at, index) for index, (item, _w) in enumerate(sends)]
    heapq.heapify(queue)
    notes: dict[int, list[str]] = {index: [] for index in range(len(sends))}
    while queue:
        at, index = heapq.heappop(queue)
        item, window = sends[index]
        if window is not None:
            opens = window.next_open(at)
            if opens > at:
                notes[index].append(_("send window “%(w)s”") % {"w": window.name})
                heapq.heappush(queue, (opens, index))
                continue
        if cap is not None:
            recent = sorted((h for h in handed if h <= at), reverse=True)
            allowed = cap_deferral(handed=recent, cap=cap, now=at)
            if allowed is not None and allowed > at:
                notes[index].append(_("weekly cap of %(cap)d") % {"cap": cap})
                heapq.heappush(queue, (allowed, index))
                continue
        item.at = at
        item.note = ", ".join(dict.fromkeys(notes[index]))
        handed.append(at)


def _describe(step: ScenarioStep) -> str:
    from scenarios.graph import _node, step_summary

    return step_summary(_node({"key": step.key, "kind": step.kind, "config": step.config}))
