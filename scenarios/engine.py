"""The scenario engine: enrolling leads, advancing due enrollments through the
graph, leaving on exit conditions, and delivering outside actions.

An enrollment is a row with the step it is on and ``next_due_at``. The
beat-driven dispatcher (``scenarios.tasks.dispatch``) calls
``scenario_enrollments_advance``, which claims a batch of due rows with
``FOR UPDATE SKIP LOCKED`` (two dispatchers never share a row) and, inside
that one transaction, moves them step by step:

- the batch is grouped by step, and each step's work is done for its whole
  group at once: a branch is one query over the group's leads (a compound-
  search block of ``leads.segments``, or this scenario's own opens/clicks),
  a send is one ``INSERT … ON CONFLICT DO NOTHING`` of send rows (UNIQUE
  lead + ``scenario:<enrollment>:step:<step>``, so a step is never mailed
  twice), a tag change is one call of ``leads.services``;
- enrollments whose next step is due at the same moment go on (a branch then
  a send in one run); waits park them with their ``next_due_at``;
- every enrollment of the batch is written back in one UPDATE.

No Celery ETA: a wait is a timestamp on the row. Sends then take the one
send path (suppression, consent, window, cap, exactly-once hand-over) in
``scenarios.sending``. Notify / SFA / webhook steps write a
``ScenarioAction`` row (UNIQUE enrollment + step) in the same transaction;
``scenario_actions_deliver`` claims and delivers those afterwards, outside
any transaction, with a lease like sends.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import ActorKind, Lead
from leads.services import leads_set_field
from scenarios.models import Scenario, ScenarioAction, ScenarioEnrollment, ScenarioStep, Send

log = logging.getLogger(__name__)

#: Enrollments claimed per statement (a few hundred bytes each in memory).
ADVANCE_BATCH = 5000
#: Steps one enrollment may pass in one run; the graph check forbids loops
#: without a wait, so this is only a guard.
MAX_HOPS = 50
ACTION_LEASE = datetime.timedelta(minutes=5)
ACTION_MAX_ATTEMPTS = 5
ACTION_RETRY = datetime.timedelta(minutes=5)
WEBHOOK_TIMEOUT = 10
OUTSIDE_KINDS = ("notify_user", "handoff_sfa", "webhook")


def site_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


# -- graph writes -------------------------------------------------------------------------


@transaction.atomic
def scenario_save_graph(*, scenario: Scenario, steps: list[dict]) -> list[ScenarioStep]:
    """Check and store a graph. Steps keep their row (by key) so leads on
    them stay; leads on a removed step leave the scenario."""
    from scenarios.graph import check_graph

    cleaned = check_graph(steps)
    existing = {step.key: step for step in scenario.steps.all()}
    kept = []
    for data in cleaned:
        step = existing.pop(data["key"], None) or ScenarioStep(scenario=scenario, key=data["key"])
        for name in ("kind", "config", "next_key", "else_key", "position"):
            setattr(step, name, data[name])
        step.save()
        kept.append(step)
    if existing:
        gone = [step.pk for step in existing.values()]
        ScenarioEnrollment.objects.filter(step_id__in=gone, state="active").update(
            state=ScenarioEnrollment.State.EXITED,
            ended_at=timezone.now(),
            next_due_at=None,
            exit_reason=_("The step it was on was removed"),
        )
        ScenarioStep.objects.filter(pk__in=gone).delete()
    return kept


def graph_of(scenario: Scenario) -> list[dict]:
    return [
        {"key": s.key, "kind": s.kind, "config": s.config, "next_key": s.next_key,
         "else_key": s.else_key, "position": s.position}
        for s in scenario.steps.order_by("position", "id")
    ]  # fmt: skip


# -- enrolling ------------------------------------------------------------------------------


def _exit_filter_sql(alias: str = "l") -> str:
    """SQL true for leads that may not be (or stay) in scenario ``%(scn)s``."""
    return f"""(
        (%(exit_unsub)s AND EXISTS (SELECT 1 FROM leads_suppression p
              WHERE p.lead_id = {alias}.id AND p.lifted_at IS NULL AND p.channel = 'email'))
     OR (%(exit_customer)s AND {alias}.stage = 'customer')
     OR EXISTS (SELECT 1 FROM leads_leadtag lt JOIN leads_tag t ON t.id = lt.tag_id
              WHERE lt.lead_id = {alias}.id AND t.name = ANY(%(exit_tags)s::text[])))"""  # noqa: S608


def _scenario_params(scenario: Scenario) -> dict:
    return {
        "scn": scenario.pk,
        "exit_unsub": scenario.exit_on_unsubscribe,
        "exit_customer": scenario.exit_on_customer,
        "exit_tags": [str(t) for t in scenario.exit_tags or []],
    }


def scenario_enroll(
    *,
    scenario: Scenario,
    lead_ids: list[int],
    now: datetime.datetime | None = None,
    started: dict[int, datetime.datetime] | None = None,
) -> int:
    """Enroll leads (set-based) following the re-entry policy; leads meeting
    an exit condition (unsubscribed, customer, an exit tag) are not enrolled.
    ``started`` may give a lead its own start moment (a date trigger's).
    Returns leads enrolled."""
    if not scenario.is_active or not lead_ids:
        return 0
    entry = scenario.steps.order_by("position", "id").first()
    if entry is None:
        return 0
    now = now or timezone.now()
    started = started or {}
    ids = list(dict.fromkeys(int(i) for i in lead_ids))
    moments = [started.get(i, now) for i in ids]
    reentry = {
        Scenario.Reentry.ONCE: "AND NOT EXISTS (SELECT 1 FROM scenarios_scenarioenrollment x "
        "WHERE x.scenario_id = %(scn)s AND x.lead_id = l.id)",
        Scenario.Reentry.AFTER_EXIT: "AND NOT EXISTS (SELECT 1 FROM scenarios_scenarioenrollment x "
        "WHERE x.scenario_id = %(scn)s AND x.lead_id = l.id AND x.state = 'active')",
        Scenario.Reentry.ALWAYS: "",
    }[scenario.reentry]
    with transaction.atomic(), connection.cursor() as cursor:
        # One lead's enrollments are serialized by its row lock, so two
        # triggers firing at once cannot both pass the re-entry check.
        cursor.execute(
            "SELECT id FROM leads_lead WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
            [ids],
        )
        cursor.execute(
            f"""
            INSERT INTO scenarios_scenarioenrollment
                (scenario_id, lead_id, state, step_id, step_entered_at, next_due_at,
                 started_at, ended_at, exit_reason, path)
            SELECT %(scn)s, l.id, 'active', %(entry)s, v.at, v.at, v.at, NULL, '', '[]'::jsonb
              FROM unnest(%(ids)s::bigint[], %(moments)s::timestamptz[]) AS v(id, at)
              JOIN leads_lead l ON l.id = v.id
             WHERE NOT {_exit_filter_sql()} {reentry}
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            {**_scenario_params(scenario), "entry": entry.pk, "ids": ids, "moments": moments},
        )
        return cursor.rowcount


# -- leaving --------------------------------------------------------------------------------


def enrollments_leave(
    *, lead_ids: list[int], reason: str, scenario_ids: list[int] | None = None
) -> int:
    """End these leads' active scenario runs (all, or ``scenario_ids``) and
    stop their scenario mails not yet sent. Returns runs ended."""
    active = ScenarioEnrollment.objects.filter(lead_id__in=lead_ids, state="active")
    if scenario_ids is not None:
        active = active.filter(scenario_id__in=scenario_ids)
    with transaction.atomic():
        ids = list(active.select_for_update().values_list("pk", flat=True))
        if not ids:
            return 0
        ended = ScenarioEnrollment.objects.filter(pk__in=ids, state="active").update(
            state=ScenarioEnrollment.State.EXITED,
            ended_at=timezone.now(),
            exit_reason=reason[:200],
            next_due_at=None,
        )
        Send.objects.filter(scenario_enrollment_id__in=ids, state=Send.State.PENDING).update(
            state=Send.State.SKIPPED, reason=reason[:200]
        )
    return ended


def scenario_exits_sweep(now: datetime.datetime | None = None) -> int:
    """End, set-based, the active runs whose lead now meets its scenario's exit
    condition (became a customer, unsubscribed, an exit tag) even while it is
    parked at a long wait, and stop their mail not yet sent. One UPDATE per
    scenario. Returns runs ended."""
    now = now or timezone.now()
    ended = 0
    for scenario in Scenario.objects.filter(enrollments__state="active").distinct():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE scenarios_scenarioenrollment e
                   SET state = 'exited', ended_at = %(now)s, next_due_at = NULL,
                       exit_reason = CASE WHEN l.stage = 'customer' AND %(exit_customer)s
                                          THEN %(customer)s ELSE %(other)s END
                  FROM leads_lead l
                 WHERE e.lead_id = l.id AND e.scenario_id = %(scn)s AND e.state = 'active'
                   AND {_exit_filter_sql()}
                RETURNING e.id
                """,  # noqa: S608 - only our own SQL fragments are formatted in
                {
                    **_scenario_params(scenario),
                    "now": now,
                    "customer": _("Became a customer"),
                    "other": _("Unsubscribed, or an exit tag was added"),
                },
            )
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(
                    "UPDATE scenarios_send SET state = 'skipped', reason = %s "
                    "WHERE scenario_enrollment_id = ANY(%s::bigint[]) AND state = 'pending'",
                    [_("Left the scenario"), ids],
                )
            ended += len(ids)
    return ended


# -- triggers -------------------------------------------------------------------------------


def _active(trigger: str):
    return Scenario.objects.filter(is_active=True, trigger=trigger)


def on_tags_changed(*, lead_ids: list[int], tag: str, action: str) -> None:
    """A tag ends the scenarios it exits (失注) first, then starts those it
    triggers (so 失注 moves a lead from nurture to the lost-deal scenario)."""
    if action == "added":
        exits = [s.pk for s in Scenario.objects.all() if tag in (s.exit_tags or [])]
        if exits:
            enrollments_leave(
                lead_ids=lead_ids,
                scenario_ids=exits,
                reason=_("Tag “%(tag)s” added") % {"tag": tag},
            )
    trigger = Scenario.Trigger.TAG_ADDED if action == "added" else Scenario.Trigger.TAG_REMOVED
    for scenario in _active(trigger).filter(trigger_config__tag=tag):
        scenario_enroll(scenario=scenario, lead_ids=lead_ids)


def on_rank_changed(*, changes: list[tuple[int, str, str]]) -> None:
    by_rank: dict[str, list[int]] = defaultdict(list)
    for lead_id, old, new in changes:
        if old != new:
            by_rank[new].append(lead_id)
    for scenario in _active(Scenario.Trigger.RANK_CHANGED):
        leads = by_rank.get(scenario.trigger_config.get("rank"), [])
        if leads:
            scenario_enroll(scenario=scenario, lead_ids=leads)


#: Event type → the trigger it fires.
EVENT_TRIGGERS = {
    "form_submit": Scenario.Trigger.FORM_SUBMITTED,
    "page_view": Scenario.Trigger.PAGE_VISITED,
    "email_click": Scenario.Trigger.EMAIL_CLICKED,
    "returned_after_absence": Scenario.Trigger.RETURNED,
}


def on_events_recorded(
    *, by_lead: dict[int, list[str]], earliest: dict[int, datetime.datetime] | None = None
) -> None:
    """Enroll leads whose new events fire a scenario's trigger. A trigger with
    a filter (a URL, a form, a template) is checked in one query over the
    batch's leads, on events at or after each lead's earliest of the batch."""
    fired: dict[str, list[int]] = defaultdict(list)
    for lead_id, types in by_lead.items():
        for event_type in set(types):
            if event_type in EVENT_TRIGGERS:
                fired[EVENT_TRIGGERS[event_type]].append(int(lead_id))
    if not fired:
        return
    earliest = earliest or {}
    for scenario in Scenario.objects.filter(is_active=True, trigger__in=list(fired)):
        leads = fired[scenario.trigger]
        config = scenario.trigger_config or {}
        if config:
            leads = _leads_with_matching_events(scenario.trigger, config, leads, earliest)
        if leads:
            scenario_enroll(scenario=scenario, lead_ids=leads)


def _leads_with_matching_events(trigger: str, config: dict, leads: list[int], earliest) -> list:
    event_type = {v: k for k, v in EVENT_TRIGGERS.items()}[trigger]
    since = [earliest.get(i) or earliest.get(str(i)) or timezone.now() for i in leads]
    condition, params = "TRUE", []
    if config.get("url"):
        condition, params = "e.url LIKE %s", ["%" + config["url"] + "%"]
    elif config.get("form"):
        condition, params = "e.properties->>'form' = %s", [config["form"]]
    elif config.get("template"):
        condition, params = "e.properties->>'template' = %s", [str(config["template"])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT v.id FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, since)
             WHERE EXISTS (SELECT 1 FROM tracking_event e
                            WHERE e.lead_id = v.id AND e.type = %s
                              AND e.occurred_at >= v.since AND {condition})
            """,  # noqa: S608 - the condition is one of ours; values are parameters
            [leads, since, event_type, *params],
        )
        return [row[0] for row in cursor.fetchall()]


def _date_moment_sql(key_param: str, time_param: str) -> str:
    """The moment in a custom field: an ISO date (at ``time``) or date-time, site time."""
    value = f"(l.custom->>{key_param})"
    return f"""(CASE
        WHEN {value} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}[T ]\\d{{2}}:\\d{{2}}'
          THEN (substr({value}, 1, 10) || ' ' || substr({value}, 12, 5))::timestamp
        WHEN {value} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}$'
          THEN ({value})::date + {time_param}::time
        END AT TIME ZONE %(tz)s)"""


def date_trigger_leads(
    scenario: Scenario, *, since: datetime.datetime, until: datetime.datetime
) -> list[tuple[int, datetime.datetime]]:
    """Leads whose date field + offset falls in [since, until] while the date
    itself is still ahead: ``[(lead, moment)]``. Set-based."""
    config = scenario.trigger_config or {}
    moment = _date_moment_sql("%(key)s", "%(time)s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, at FROM (
                SELECT l.id, {moment} + make_interval(days => %(offset)s) AS at,
                       {moment} AS event_at
                  FROM leads_lead l
                 WHERE l.custom ? %(key)s) AS d
             WHERE at <= %(until)s AND at >= %(since)s AND event_at > %(since)s
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            {
                "key": config.get("field", ""),
                "time": config.get("time") or "10:00",
                "offset": int(config.get("offset_days") or 0),
                "since": since,
                "until": until,
                "tz": settings.TIME_ZONE,
            },
        )
        return [(lead_id, at) for lead_id, at in cursor.fetchall()]


#: How far back a date trigger looks on each run: a dispatcher that was down
#: for a while still enrolls the leads whose moment passed meanwhile.
DATE_LOOKBACK = datetime.timedelta(days=2)


def scenario_triggers_check(now: datetime.datetime | None = None) -> int:
    """The triggers the dispatcher checks itself (set-based): a date field's
    moment arriving, and leads entering a segment since the last check."""
    now = now or timezone.now()
    enrolled = 0
    for scenario in _active(Scenario.Trigger.DATE_FIELD):
        due = date_trigger_leads(scenario, since=now - DATE_LOOKBACK, until=now)
        if due:
            enrolled += scenario_enroll(
                scenario=scenario, lead_ids=[i for i, _at in due], now=now, started=dict(due)
            )
    for scenario in _active(Scenario.Trigger.SEGMENT_ENTERED):
        enrolled += _segment_entered(scenario, now)
    return enrolled


def segment_newcomers_sql(scenario: Scenario) -> tuple[str, list]:
    from leads.models import Segment
    from leads.segments import segment_leads_for

    segment = Segment.objects.get(pk=scenario.trigger_config["segment"])
    sql, params = segment_leads_for(segment).order_by().values("id").query.sql_with_params()
    return sql, list(params)


def _segment_entered(scenario: Scenario, now: datetime.datetime) -> int:
    try:
        sql, params = segment_newcomers_sql(scenario)
    except (ValidationError, Exception) as exc:  # a deleted or broken segment
        log.warning("scenario %s: segment not checked: %s", scenario.pk, exc)
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Dropped first: inside an outer transaction ON COMMIT has not fired yet.
        cursor.execute("DROP TABLE IF EXISTS seg_now")
        cursor.execute(f"CREATE TEMP TABLE seg_now ON COMMIT DROP AS {sql}", params)
        cursor.execute(
            "DELETE FROM scenarios_scenariosegmentmember m WHERE m.scenario_id = %s "
            "AND NOT EXISTS (SELECT 1 FROM seg_now s WHERE s.id = m.lead_id)",
            [scenario.pk],
        )
        cursor.execute(
            "INSERT INTO scenarios_scenariosegmentmember (scenario_id, lead_id) "
            "SELECT %s, s.id FROM seg_now s ON CONFLICT DO NOTHING RETURNING lead_id",
            [scenario.pk],
        )
        newcomers = [row[0] for row in cursor.fetchall()]
        return scenario_enroll(scenario=scenario, lead_ids=newcomers, now=now)


# -- advancing ------------------------------------------------------------------------------


@dataclass
class Run:
    """One enrollment while a batch is advanced."""

    id: int
    lead_id: int
    scenario_id: int
    step_id: int | None
    moment: datetime.datetime  # the logical time it reached its current step
    state: str = "active"
    due: datetime.datetime | None = None
    ended: datetime.datetime | None = None
    reason: str = ""
    path: list[str] = field(default_factory=list)


def wait_until(config: dict, moment: datetime.datetime) -> datetime.datetime:
    """When a wait that began at ``moment`` ends."""
    tz = site_tz()
    if "until" in config:
        until = datetime.datetime.fromisoformat(config["until"])
        return until if until.tzinfo else until.replace(tzinfo=tz)
    if "weekday" in config:
        local = moment.astimezone(tz)
        hour, minute = (int(x) for x in config["time"].split(":"))
        day = local.date() + datetime.timedelta(days=(config["weekday"] - local.weekday()) % 7)
        target = datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=tz)
        return target if target >= local else target + datetime.timedelta(days=7)
    return moment + datetime.timedelta(
        days=config.get("days", 0), hours=config.get("hours", 0), minutes=config.get("minutes", 0)
    )


def _claim(cursor, now: datetime.datetime, limit: int) -> list[Run]:
    cursor.execute(
        """
        SELECT id, lead_id, scenario_id, step_id, step_entered_at
          FROM scenarios_scenarioenrollment
         WHERE state = 'active' AND next_due_at <= %s
         ORDER BY next_due_at, id
         LIMIT %s
           FOR UPDATE SKIP LOCKED
        """,
        [now, limit],
    )
    return [Run(i, lead, scn, step, at) for i, lead, scn, step, at in cursor.fetchall()]


def _exits(cursor, runs: list[Run], scenarios: dict[int, Scenario], now) -> None:
    """Runs whose lead meets an exit condition now leave (checked set-based
    per scenario: a tag, unsubscription or becoming a customer that arrived
    without a signal still ends the run before its next step)."""
    by_scenario: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        by_scenario[run.scenario_id].append(run)
    for scenario_id, group in by_scenario.items():
        scenario = scenarios[scenario_id]
        cursor.execute(
            f"""
            SELECT l.id,
                   CASE WHEN l.stage = 'customer' AND %(exit_customer)s THEN 'customer'
                        WHEN %(exit_unsub)s AND EXISTS (SELECT 1 FROM leads_suppression p
                             WHERE p.lead_id = l.id AND p.lifted_at IS NULL
                               AND p.channel = 'email') THEN 'unsubscribed'
                        ELSE 'tag' END
              FROM leads_lead l
             WHERE l.id = ANY(%(leads)s::bigint[]) AND {_exit_filter_sql()}
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            {**_scenario_params(scenario), "leads": [r.lead_id for r in group]},
        )
        reasons = {
            "customer": _("Became a customer"),
            "unsubscribed": _("Unsubscribed or suppressed"),
            "tag": _("An exit tag was added"),
        }
        leaving = {lead: reasons[why] for lead, why in cursor.fetchall()}
        for run in group:
            if run.lead_id in leaving:
                run.state, run.ended, run.reason = "exited", now, leaving[run.lead_id]


def _mail_condition(cursor, runs: list[Run], condition: dict, steps_by_key: dict) -> set[int]:
    """Runs whose lead opened / clicked a mail of this very run (one step's, or any)."""
    event_type = "email_click" if condition["action"] == "clicked" else "email_open"
    step_filter, params = "", []
    if condition.get("step"):
        step = steps_by_key.get(condition["step"])
        step_filter, params = "AND s.scenario_step_id = %s", [step.pk if step else 0]
    cursor.execute(
        f"""
        SELECT DISTINCT s.scenario_enrollment_id
          FROM scenarios_send s
          JOIN tracking_event e
            ON e.lead_id = s.lead_id AND e.type = %s AND e.occurred_at >= s.created_at
           AND e.properties->>'send' = s.id::text
         WHERE s.scenario_enrollment_id = ANY(%s::bigint[]) {step_filter}
        """,  # noqa: S608 - the filter is ours; values are parameters
        [event_type, [r.id for r in runs], *params],
    )
    return {row[0] for row in cursor.fetchall()}


def _branch(cursor, step: ScenarioStep, runs: list[Run], now, steps_by_key) -> set[int]:
    """The runs for which the branch's condition holds (one query for the group)."""
    from leads.segments import CompileContext, get_block

    condition = step.config["condition"]
    if condition["kind"] == "scenario_mail":
        return _mail_condition(cursor, runs, condition, steps_by_key)
    params = {k: v for k, v in condition.items() if k != "kind"}
    q = get_block(condition["kind"]).compile(params, CompileContext(now=now))
    matching = set(
        Lead.objects.filter(pk__in=[r.lead_id for r in runs]).filter(q).values_list("pk", flat=True)
    )
    return {r.id for r in runs if r.lead_id in matching}


def _insert_sends(cursor, step: ScenarioStep, runs: list[Run], now) -> None:
    cursor.execute(
        """
        INSERT INTO scenarios_send
            (lead_id, template_id, source_key, kind, newsletter_id, enrollment_id,
             scenario_enrollment_id, scenario_step_id, send_window_id, state, reason, due_at,
             attempts, message_id, token, to_email, subject, links, error, created_at)
        SELECT v.lead, %s, 'scenario:' || v.id || ':step:' || %s, 'scenario', NULL, NULL,
               v.id, %s, %s, 'pending', '', %s, 0, '', gen_random_uuid(), '', '', '[]'::jsonb,
               '', %s
          FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, lead)
        ON CONFLICT (lead_id, source_key) DO NOTHING
        """,
        [
            step.config["template"], step.pk, step.pk, step.config.get("send_window"), now, now,
            [r.id for r in runs], [r.lead_id for r in runs],
        ],
    )  # fmt: skip


def _insert_actions(cursor, step: ScenarioStep, runs: list[Run], now) -> None:
    cursor.execute(
        """
        INSERT INTO scenarios_scenarioaction
            (enrollment_id, step_id, lead_id, kind, state, attempts, due_at, result, error,
             created_at)
        SELECT v.id, %s, v.lead, %s, 'pending', 0, %s, '', '', %s
          FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, lead)
        ON CONFLICT (enrollment_id, step_id) DO NOTHING
        """,
        [step.pk, step.kind, now, now, [r.id for r in runs], [r.lead_id for r in runs]],
    )


def _act(cursor, step: ScenarioStep, runs: list[Run], now, steps_by_key) -> set[int] | None:
    """Do one step for a group of runs. Returns, for a branch, the runs that
    take the "yes" edge; None for other kinds."""
    from leads import services as lead_services

    lead_ids = [r.lead_id for r in runs]
    kind = step.kind
    if kind == "branch":
        return _branch(cursor, step, runs, now, steps_by_key)
    if kind == "send_email":
        _insert_sends(cursor, step, runs, now)
    elif kind == "add_tag":
        lead_services.tags_add_bulk(
            lead_ids=lead_ids, names=[step.config["tag"]], actor_kind=ActorKind.SCENARIO,
            source_ref=f"scenario {step.scenario_id}",
        )  # fmt: skip
    elif kind == "remove_tag":
        lead_services.tags_remove_bulk(
            lead_ids=lead_ids, names=[step.config["tag"]], actor_kind=ActorKind.SCENARIO,
            source_ref=f"scenario {step.scenario_id}",
        )  # fmt: skip
    elif kind == "set_field":
        leads_set_field(lead_ids=lead_ids, field=step.config["field"], value=step.config["value"])
    elif kind == "add_to_list":
        from leads.models import StaticList

        static_list = StaticList.objects.filter(pk=step.config["list"]).first()
        if static_list is not None:
            lead_services.list_add(
                static_list=static_list, lead_ids=lead_ids, actor_kind=ActorKind.SCENARIO
            )
    elif kind in OUTSIDE_KINDS:
        _insert_actions(cursor, step, runs, now)
    return None


def scenario_enrollments_advance(
    *, now: datetime.datetime | None = None, limit: int = ADVANCE_BATCH
) -> int:
    """Advance one batch of due scenario runs; returns the steps done (a run
    passing a branch and a send counts two)."""
    now = now or timezone.now()
    done = 0
    with transaction.atomic(), connection.cursor() as cursor:
        runs = _claim(cursor, now, limit)
        if not runs:
            return 0
        scenarios = {s.pk: s for s in Scenario.objects.filter(pk__in={r.scenario_id for r in runs})}
        steps = {s.pk: s for s in ScenarioStep.objects.filter(scenario_id__in=list(scenarios))}
        by_key = {(s.scenario_id, s.key): s for s in steps.values()}
        keyed = defaultdict(dict)
        for s in steps.values():
            keyed[s.scenario_id][s.key] = s
        _exits(cursor, runs, scenarios, now)
        moving = [r for r in runs if r.state == "active"]
        for run in moving:
            if run.step_id not in steps or not scenarios[run.scenario_id].is_active:
                run.state, run.ended = "exited", now
                run.reason = _("The scenario was paused or its step removed")
        for _hop in range(MAX_HOPS):
            moving = [r for r in moving if r.state == "active" and r.due is None]
            if not moving:
                break
            groups: dict[int, list[Run]] = defaultdict(list)
            for run in moving:
                groups[run.step_id].append(run)
            for step_id, group in groups.items():
                step = steps[step_id]
                if step.kind == "wait":
                    ready = []
                    for run in group:
                        until = wait_until(step.config, run.moment)
                        if until > now:
                            run.due = until
                        else:
                            run.moment = until
                            ready.append(run)
                    group = ready
                    yes = None
                else:
                    yes = _act(cursor, step, group, now, keyed[step.scenario_id])
                done += len(group)
                for run in group:
                    run.path.append(step.key)
                    edge = step.next_key if yes is None or run.id in yes else step.else_key
                    if step.kind == "end" or not edge:
                        run.state, run.ended, run.step_id = "completed", now, None
                        continue
                    run.step_id = by_key[(step.scenario_id, edge)].pk
            # a run still moving (no wait reached) is due now for the next hop
        for run in runs:
            if run.state == "active" and run.due is None:
                run.due = now  # the hop guard stopped it; the next run continues
        _write_runs(cursor, runs)
    return done


def _write_runs(cursor, runs: list[Run]) -> None:
    cursor.execute(
        """
        UPDATE scenarios_scenarioenrollment e
           SET state = v.state, step_id = v.step, next_due_at = v.due,
               step_entered_at = v.moment, ended_at = v.ended,
               exit_reason = CASE WHEN v.reason = '' THEN e.exit_reason ELSE v.reason END,
               path = e.path || v.path::jsonb
          FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::timestamptz[],
                      %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[])
               AS v(id, state, step, due, moment, ended, reason, path)
         WHERE e.id = v.id
        """,
        [
            [r.id for r in runs],
            [r.state for r in runs],
            [r.step_id if r.state == "active" else None for r in runs],
            [r.due if r.state == "active" else None for r in runs],
            [r.moment for r in runs],
            [r.ended for r in runs],
            [r.reason[:200] for r in runs],
            [json.dumps(r.path, ensure_ascii=False) for r in runs],
        ],
    )
    exited = [r.id for r in runs if r.state == "exited"]
    if exited:
        cursor.execute(
            "UPDATE scenarios_send SET state = 'skipped', reason = %s "
            "WHERE scenario_enrollment_id = ANY(%s::bigint[]) AND state = 'pending'",
            [_("Left the scenario"), exited],
        )


# -- outside actions (notify, SFA, webhook) ---------------------------------------------------


class SfaUnavailable(Exception):
    pass


def sfa_handoff(*, lead_id: int, reason: str) -> int:
    """Ask for the lead to reach the SFA (``leads.signals.handoff_requested``,
    answered by ``sfa_sync``: scenarios do not import it, DESIGN.md). Fails
    loudly when nobody answers: nothing pretends the handoff happened.
    Returns the handoffs queued."""
    from leads.signals import handoff_requested

    answers = handoff_requested.send(sender=None, lead_id=lead_id, reason=reason)
    if not answers:
        raise SfaUnavailable(_("SFA handoff is not available (sfa_sync is not installed)."))
    return sum(int(queued or 0) for _receiver, queued in answers)


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def actions_reclaim_stale(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    return ScenarioAction.objects.filter(state="claimed", lease_until__lt=now).update(
        state="pending", lease_until=None
    )


def actions_claim_due(*, limit: int = 100, now: datetime.datetime | None = None) -> list[int]:
    """Claim up to ``limit`` due actions (committed before return). The due
    rows are picked by an uncorrelated ``ARRAY(SELECT …)`` run once, as
    ``sends_claim_due`` explains: under ``id IN (SELECT … LIMIT … SKIP
    LOCKED)`` a nested-loop plan rescans the subquery and claims past the
    limit."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_scenarioaction
               SET state = 'claimed', lease_until = %s, attempts = attempts + 1
             WHERE id = ANY(ARRAY(SELECT id FROM scenarios_scenarioaction
                                  WHERE state = 'pending' AND due_at <= %s
                                  ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED))
            RETURNING id
            """,
            [now + ACTION_LEASE, now, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _deliver_one(action: ScenarioAction) -> str:
    config = action.step.config
    lead = action.lead
    if action.kind == "handoff_sfa":
        result = sfa_handoff(lead_id=lead.pk, reason=config.get("reason") or action.step.key)
        return str(result or "")
    if action.kind == "webhook":
        body = json.dumps(
            {
                "delivery": action.pk,
                "scenario": action.step.scenario_id,
                "step": action.step.key,
                "lead": {"id": lead.pk, "email": lead.email, "score": lead.score,
                         "rank": lead.rank},
            },
            ensure_ascii=False,
        ).encode()  # fmt: skip
        request = urllib.request.Request(  # noqa: S310 - the graph check allows http(s) only
            config["url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Kizuki-Delivery": str(action.pk),
                "X-Kizuki-Signature": webhook_signature(config["secret"], body),
            },
        )
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
            return f"HTTP {response.status}"
    if action.kind == "notify_user":
        from django.contrib.auth import get_user_model
        from django.core.mail import send_mail

        user = get_user_model().objects.get(pk=config["user"])
        facts = {
            "lead": f"{lead.last_name} {lead.first_name}".strip() or lead.email,
            "email": lead.email,
            "step": action.step.key,
            "scn": action.step.scenario.name,
            "score": lead.score,
            "rank": lead.rank,
        }
        send_mail(
            subject=config["subject"],
            message="\n".join([
                _("%(lead)s (%(email)s) reached step “%(step)s” of scenario “%(scn)s”.") % facts,
                _("Score %(score)s, rank %(rank)s.") % facts,
            ]),
            from_email=None,
            recipient_list=[user.email],
        )  # fmt: skip
        return user.email
    raise ValueError(action.kind)


def scenario_actions_deliver(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Deliver due outside actions, each once: claimed with a lease, done
    outside any transaction, marked with a conditional UPDATE. A worker dying
    between the call and the mark leaves a claim retried after its lease;
    the webhook's ``X-Kizuki-Delivery`` id lets the receiver drop the repeat."""
    counts = {"done": 0, "failed": 0, "reclaimed": actions_reclaim_stale(now)}
    ids = actions_claim_due(now=now)
    for action in ScenarioAction.objects.select_related("step__scenario", "lead").filter(
        pk__in=ids, state="claimed"
    ):
        try:
            result = _deliver_one(action)
        except SfaUnavailable as exc:
            ScenarioAction.objects.filter(pk=action.pk, state="claimed").update(
                state="failed", error=str(exc), lease_until=None
            )
            counts["failed"] += 1
            continue
        except (OSError, urllib.error.URLError, ValueError, ValidationError) as exc:
            give_up = action.attempts >= ACTION_MAX_ATTEMPTS
            ScenarioAction.objects.filter(pk=action.pk, state="claimed").update(
                state="failed" if give_up else "pending",
                error=str(exc)[:1000],
                lease_until=None,
                due_at=timezone.now() + ACTION_RETRY,
            )
            counts["failed"] += 1
            continue
        ScenarioAction.objects.filter(pk=action.pk, state="claimed").update(
            state="done", done_at=timezone.now(), result=result[:1000], lease_until=None
        )
        counts["done"] += 1
    return counts
