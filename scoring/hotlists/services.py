"""Writes of the weekly HOT lists: materializing a week, the workbench's
actions, and the cadence emails.

Materializing is set-based: members are inserted by ``INSERT … SELECT`` from
the compiled saved search and from last week's open members; reasons and
the priority order are one ``UPDATE`` each. No lead passes through Python.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead, Stage
from leads.segments import CompileContext, get_block, segment_leads_for
from leads.services import activity_create, leads_set_owner, tags_change
from scoring.hotlists.models import (
    Handoff,
    HotList,
    HotListMail,
    HotListMember,
    HotListRun,
    MailKind,
    MailState,
)

logger = logging.getLogger(__name__)

#: Results after which a member is done with: it does not carry over.
CLOSING_RESULTS = ("opportunity", "archive")
#: The tag "archive" puts on a lead, so nurture scenarios pick it up.
NURTURE_TAG = "ナーチャリング"
#: Stages an opportunity moves forward to consideration (never backwards).
EARLY_STAGES = (Stage.AWARENESS, Stage.INTEREST)
#: A claimed mail not marked sent after this long is taken again (the worker died).
SENDING_LEASE = datetime.timedelta(minutes=10)
#: A lead taken off a list (リスト除外) is not put back on it by the weekly
#: search for this long, though it still matches: someone decided about it.
REMOVAL_MEMORY = datetime.timedelta(days=28)
MAX_MAIL_ATTEMPTS = 5

MEMBER_TABLE = HotListMember._meta.db_table
RUN_TABLE = HotListRun._meta.db_table
RANK_ORDER_SQL = "CASE {col} WHEN 'HOT' THEN 0 WHEN 'WARM' THEN 1 ELSE 2 END"
LAST_BEHAVIOUR_SQL = "(SELECT max(v.last_event_at) FROM tracking_visit v WHERE v.lead_id = l.id)"


# -- the calendar ------------------------------------------------------------------------


def local_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def week_start_of(moment: datetime.datetime) -> datetime.date:
    """The Monday (local time, settings.TIME_ZONE) of the week ``moment`` is in."""
    local = timezone.localtime(moment, local_zone())
    return local.date() - datetime.timedelta(days=local.weekday())


def moment_in_week(week_start: datetime.date, weekday: int, at: datetime.time) -> datetime.datetime:
    day = week_start + datetime.timedelta(days=weekday)
    return datetime.datetime.combine(day, at, tzinfo=local_zone())


def milestones(hot_list: HotList, week_start: datetime.date) -> dict[str, datetime.datetime]:
    return {
        MailKind.PUBLISH: moment_in_week(
            week_start, hot_list.publish_weekday, hot_list.publish_time
        ),
        MailKind.REMIND: moment_in_week(week_start, hot_list.remind_weekday, hot_list.remind_time),
        MailKind.REPORT: moment_in_week(week_start, hot_list.report_weekday, hot_list.report_time),
    }


# -- materializing a week ----------------------------------------------------------------


def hot_list_materialize(
    *, hot_list: HotList, now: datetime.datetime | None = None, by=None
) -> HotListRun:
    """Make (or top up) this week's snapshot of ``hot_list``.

    Idempotent per week: the run is unique per (list, week) and members per
    (run, lead), so running it again adds only leads that newly match; members
    already on the list (also those taken off) are left as they are, and a
    lead taken off the list in the last ``REMOVAL_MEMORY`` is not added. Open
    members of the previous week (not taken off, no opportunity/archive
    result since that list was made) carry over. Holds a row lock on the list
    for the transaction, so two ticks never build the same week at once.
    Raises ``ValidationError`` when the saved search is no longer valid.
    """
    now = now or timezone.now()
    with transaction.atomic():
        hot_list = HotList.objects.select_for_update().select_related("segment").get(pk=hot_list.pk)
        week = week_start_of(now)
        members = segment_leads_for(hot_list.segment, context=CompileContext(now=now))
        run, created = HotListRun.objects.get_or_create(
            hot_list=hot_list, week_start=week, defaults={"generated_at": now, "generated_by": by}
        )
        if not created:
            run.refreshed_at = now
        previous = (
            HotListRun.objects.filter(hot_list=hot_list, week_start__lt=week)
            .order_by("-week_start")
            .first()
        )
        select_sql, select_params = members.values("pk").query.sql_with_params()
        columns = (
            "run_id, lead_id, position, rank, score, last_behaviour_at, reasons, carried_over, "
            "added_at, removal_reason, handoff"
        )
        with connection.cursor() as cursor:
            if previous is not None:
                cursor.execute(
                    f"INSERT INTO {MEMBER_TABLE} ({columns}) "  # noqa: S608 - names from models
                    f"SELECT %s, l.id, 0, l.rank, l.score, {LAST_BEHAVIOUR_SQL}, '[]', true, "
                    "%s, '', '' "
                    f"FROM {MEMBER_TABLE} m JOIN leads_lead l ON l.id = m.lead_id "
                    "WHERE m.run_id = %s AND m.removed_at IS NULL AND NOT EXISTS ("
                    "  SELECT 1 FROM leads_activity a WHERE a.lead_id = m.lead_id "
                    "  AND a.created_at >= %s AND a.result = ANY(%s)) "
                    "ON CONFLICT (run_id, lead_id) DO NOTHING",
                    [run.pk, now, previous.pk, previous.generated_at, list(CLOSING_RESULTS)],
                )
            # The SELECT is Django's compiled search: user values are parameters.
            cursor.execute(
                f"INSERT INTO {MEMBER_TABLE} ({columns}) "  # noqa: S608
                f"SELECT %s, l.id, 0, l.rank, l.score, {LAST_BEHAVIOUR_SQL}, '[]', false, "
                "%s, '', '' "
                f"FROM leads_lead l JOIN ({select_sql}) AS matched (lead_id) "
                "ON matched.lead_id = l.id "
                "WHERE NOT EXISTS ("
                f"  SELECT 1 FROM {MEMBER_TABLE} gone JOIN {RUN_TABLE} r ON r.id = gone.run_id "
                "  WHERE gone.lead_id = l.id AND r.hot_list_id = %s AND r.id <> %s "
                "  AND gone.removed_at >= %s) "
                "ON CONFLICT (run_id, lead_id) DO NOTHING",
                [run.pk, now, *select_params, hot_list.pk, run.pk, now - REMOVAL_MEMORY],
            )
            # Thousands of rows just arrived: without fresh statistics the
            # planner takes them for one and joins them by nested loop (O(n²)).
            cursor.execute(f"ANALYZE {MEMBER_TABLE}")
        _write_reasons(run=run, added_at=now)
        _order_members(run)
        counts = HotListMember.objects.filter(run=run).aggregate(
            total=Count("id"), carried=Count("id", filter=Q(carried_over=True))
        )
        run.member_count, run.carried_over_count = counts["total"], counts["carried"]
        run.save()
    return run


def hot_list_run_now(*, hot_list: HotList, by) -> HotListRun:
    """Make this week's list by hand (admin action, API); its mails are sent
    once the list is committed. Raises ValidationError for a broken search."""
    from scoring.hotlists.tasks import dispatch_on_commit

    with transaction.atomic():
        run = hot_list_materialize(hot_list=hot_list, by=by)
        dispatch_on_commit()
    return run


def _write_reasons(*, run: HotListRun, added_at: datetime.datetime) -> None:
    """Store why each newly added member scores what it does, set-based.

    The same parts as ``scoring.selectors.lead_explanation`` (behaviour by
    rule inside the window, each rule capped per day; tag adjustments; fit
    rules), computed for all new members in one statement plus one per
    active fit rule, instead of one explanation per lead.
    """
    from scoring.models import FitRule
    from scoring.services import day_points, score_window

    window = score_window(added_at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH new_members AS (
                SELECT id, lead_id FROM {MEMBER_TABLE} WHERE run_id = %s AND added_at = %s
            ), parts AS (
                SELECT d.lead_id, 'behaviour' AS kind, r.name, SUM({day_points()}) AS points
                FROM scoring_scoreday d
                JOIN new_members nm ON nm.lead_id = d.lead_id
                JOIN scoring_scorerule r ON r.id = d.rule_id AND r.is_active
                WHERE d.day >= %s AND d.day <= %s
                GROUP BY d.lead_id, r.id, r.name
                UNION ALL
                SELECT lt.lead_id, 'tag', t.name, ta.points
                FROM leads_leadtag lt
                JOIN new_members nm ON nm.lead_id = lt.lead_id
                JOIN leads_tag t ON t.id = lt.tag_id
                JOIN scoring_tagadjustment ta ON ta.tag_id = t.id
            )
            UPDATE {MEMBER_TABLE} m SET reasons = agg.reasons
            FROM (
                SELECT lead_id, jsonb_agg(
                    jsonb_build_object('kind', kind, 'name', name, 'points', points)
                    ORDER BY abs(points) DESC, name) AS reasons
                FROM parts GROUP BY lead_id
            ) agg
            WHERE m.run_id = %s AND m.added_at = %s AND m.lead_id = agg.lead_id
            """,  # noqa: S608 - the table name comes from the model
            [run.pk, added_at, window.first_day, window.today, run.pk, added_at],
        )
        attribute = get_block("attribute")
        context = CompileContext(now=added_at)
        # One statement per fit rule (a handful), never one per lead.
        for rule in FitRule.objects.filter(is_active=True).order_by("pk"):
            try:
                condition = attribute.compile(attribute.validate(dict(rule.condition)), context)
            except ValidationError:
                logger.warning("fit rule %s has an invalid condition; not in the reasons", rule.pk)
                continue
            matching_sql, params = (
                Lead.objects.filter(condition).values("pk").query.sql_with_params()
            )
            cursor.execute(
                f"UPDATE {MEMBER_TABLE} SET reasons = reasons || "  # noqa: S608
                "jsonb_build_array(jsonb_build_object('kind', 'fit', 'name', %s, 'points', %s)) "
                f"WHERE run_id = %s AND added_at = %s AND lead_id IN ({matching_sql})",
                [rule.name, rule.points, run.pk, added_at, *params],
            )


def _order_members(run: HotListRun) -> None:
    """Priority order: rank, then score, then the most recent behaviour."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {MEMBER_TABLE} m SET position = o.position
            FROM (
                SELECT id, row_number() OVER (
                    ORDER BY {RANK_ORDER_SQL.format(col="rank")}, score DESC,
                             last_behaviour_at DESC NULLS LAST, lead_id
                ) AS position
                FROM {MEMBER_TABLE} WHERE run_id = %s
            ) o
            WHERE m.id = o.id AND m.position IS DISTINCT FROM o.position
            """,  # noqa: S608
            [run.pk],
        )


# -- the workbench -----------------------------------------------------------------------


class AssignConflict(Exception):
    """Someone else assigned the lead first; ``owner`` is who has it now."""

    def __init__(self, owner) -> None:
        super().__init__("assigned meanwhile")
        self.owner = owner


_UNSET = object()


def member_assign(*, member: HotListMember, owner, expected_owner_id=_UNSET) -> Lead:
    """Give the member's lead to ``owner`` (None: nobody).

    ``expected_owner_id`` is the owner the person saw when they clicked. The
    lead row is locked and the owner compared first, so when two people
    assign the same lead at once the first wins and the second gets
    ``AssignConflict`` naming the owner: one owner, and both see who.
    """
    with transaction.atomic():
        # No join in the locking query: a row read again after waiting for the
        # lock has its new owner_id, but a joined user row would be the old one.
        lead = Lead.objects.select_for_update().get(pk=member.lead_id)
        if expected_owner_id is not _UNSET and lead.owner_id != expected_owner_id:
            if lead.owner_id != getattr(owner, "pk", None):
                raise AssignConflict(lead.owner)
            return lead
        leads_set_owner(lead_ids=[lead.pk], owner=owner)
        lead.owner = owner
    return lead


def members_assign_bulk(*, members: list[HotListMember], owner) -> int:
    """Give every member's lead to ``owner`` in one UPDATE (a deliberate
    reassignment: no comparison with what was seen). Returns how many changed."""
    return leads_set_owner(lead_ids=[m.lead_id for m in members], owner=owner)


def check_workbench_activity(data: dict) -> dict:
    """The panel's form: a date is required here (the list counts by it)."""
    errors: dict[str, list[str]] = {}
    raw = (
        (data.get("occurred_at") or "").strip() if isinstance(data.get("occurred_at"), str) else ""
    )
    occurred_at = None
    if not raw:
        errors["occurred_at"] = [_("Enter the date of the activity.")]
    else:
        from django.utils.dateparse import parse_date, parse_datetime

        try:
            occurred_at = parse_datetime(raw) or parse_date(raw)
        except ValueError:
            occurred_at = None
        if occurred_at is None:
            errors["occurred_at"] = [_("Enter a date such as 2026-04-13.")]
        elif isinstance(occurred_at, datetime.datetime) and timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, local_zone())
    from leads.services import check_activity

    try:
        cleaned = check_activity(
            type=str(data.get("type") or ""),
            result=str(data.get("result") or ""),
            source=str(data.get("source") or ""),
            occurred_at=occurred_at or timezone.now(),
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cleaned = {}
    if errors:
        raise ValidationError(errors)
    content = data.get("content") or ""
    if not isinstance(content, str) or len(content) > 10_000:
        raise ValidationError({"content": [_("Write at most 10,000 characters.")]})
    return {**cleaned, "content": content}


@dataclass
class LoggedActivity:
    activity_id: int
    handoff: str
    stage: str
    tagged: list[str]


def member_log_activity(*, member: HotListMember, by, data: dict) -> LoggedActivity:
    """Log an activity on the member's lead from the workbench.

    "opportunity" (商談化) moves the lead forward to consideration and
    records a pending SFA handoff on the member (the SFA sync picks pending
    handoffs up); "archive" tags the lead for nurturing.
    """
    data = {**data, "source": data.get("source") or member.run.hot_list.activity_source}
    cleaned = check_workbench_activity(data)
    tagged: list[str] = []
    with transaction.atomic():
        lead = Lead.objects.get(pk=member.lead_id)
        activity = activity_create(lead=lead, actor=by, **cleaned)
        if activity.result == "opportunity":
            Lead.objects.filter(pk=lead.pk, stage__in=EARLY_STAGES).update(
                stage=Stage.CONSIDERATION, updated_at=timezone.now()
            )
            HotListMember.objects.filter(pk=member.pk).exclude(handoff=Handoff.DONE).update(
                handoff=Handoff.PENDING, handoff_requested_at=timezone.now()
            )
        elif activity.result == "archive":
            tagged = tags_change(lead=lead, add=[NURTURE_TAG], actor_kind="user", actor=by)["added"]
    member.refresh_from_db(fields=["handoff"])
    stage = Lead.objects.filter(pk=member.lead_id).values_list("stage", flat=True).first()
    return LoggedActivity(activity.pk, member.handoff, stage or "", tagged)


def handoffs_done_for_leads(*, lead_ids: list[int]) -> int:
    """The SFA has these leads now (``sfa_sync`` calls this after a push):
    their pending workbench handoffs are done. Idempotent."""
    return HotListMember.objects.filter(lead_id__in=lead_ids, handoff=Handoff.PENDING).update(
        handoff=Handoff.DONE
    )


def member_remove(*, member: HotListMember, by, reason: str) -> HotListMember:
    """Take the lead off this week's list (リスト除外); a reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the lead leaves the list.")]})
    if len(reason) > 300:
        raise ValidationError({"reason": [_("Keep the reason under 300 characters.")]})
    HotListMember.objects.filter(pk=member.pk, removed_at__isnull=True).update(
        removed_at=timezone.now(), removed_by=by, removal_reason=reason
    )
    member.refresh_from_db()
    return member


# -- the cadence ---------------------------------------------------------------------------


def _recipients(users) -> list[tuple[str, int | None]]:
    return [(user.email, user.pk) for user in users if user.email and user.is_active]


def _mail_rows(run: HotListRun, kind: str, recipients: list[tuple[str, int | None]]) -> None:
    """Record the mails to send, once per (run, kind, recipient) whatever the ticks."""
    HotListMail.objects.bulk_create(
        [
            HotListMail(run=run, kind=kind, recipient=email, user_id=uid)
            for email, uid in recipients
        ],
        ignore_conflicts=True,
    )


def _remind_recipients(run: HotListRun) -> list[tuple[str, int | None]]:
    """Each owner of an unfollowed member, and the team; nobody when all are followed."""
    from scoring.hotlists.selectors import unfollowed_members

    unfollowed = list(unfollowed_members(run).select_related("lead__owner"))
    if not unfollowed:
        return []
    people = {m.lead.owner.pk: m.lead.owner for m in unfollowed if m.lead.owner is not None}
    people.update({user.pk: user for user in run.hot_list.team.all()})
    return _recipients(people.values())


def _due(run: HotListRun, kind: str, now: datetime.datetime) -> bool:
    """A reminder or report is due once its time passed, for lists made before it."""
    at = milestones(run.hot_list, run.week_start)[kind]
    return now >= at and run.generated_at <= at


def _record_due_mails(run: HotListRun, *, now: datetime.datetime, current_week) -> None:
    hot_list = run.hot_list
    if run.week_start == current_week:
        _mail_rows(run, MailKind.PUBLISH, _recipients(hot_list.team.all()))
    # The reminder's recipients are fixed when it falls due (those unfollowed then).
    if _due(run, MailKind.REMIND, now) and not run.mails.filter(kind=MailKind.REMIND).exists():
        _mail_rows(run, MailKind.REMIND, _remind_recipients(run))
    if _due(run, MailKind.REPORT, now):
        _mail_rows(run, MailKind.REPORT, _recipients(hot_list.report_recipients.all()))


def hotlists_dispatch(*, now: datetime.datetime | None = None) -> list[int]:
    """The beat tick: make due weeks and record due mails; returns mail ids to send.

    Everything due by ``now`` is done, so a missed tick catches up at the
    next: a list whose Monday time passed gets this week's snapshot and its
    mail; reminders and reports are due for runs made before their time, in
    this week and the last. Safe to run any number of times.
    """
    now = now or timezone.now()
    week = week_start_of(now)
    for hot_list in HotList.objects.filter(is_active=True).prefetch_related(
        "team", "report_recipients"
    ):
        publish_at = milestones(hot_list, week)[MailKind.PUBLISH]
        week_due = now >= publish_at and hot_list.created_at <= publish_at
        if week_due and not HotListRun.objects.filter(hot_list=hot_list, week_start=week).exists():
            try:
                hot_list_materialize(hot_list=hot_list, now=now)
            except ValidationError as exc:
                logger.warning("HOT list %s not made: %s", hot_list.pk, exc.messages)
        runs = HotListRun.objects.filter(
            hot_list=hot_list, week_start__gte=week - datetime.timedelta(days=7)
        )
        for run in runs:
            run.hot_list = hot_list
            _record_due_mails(run, now=now, current_week=week)
    return list(
        HotListMail.objects.filter(
            Q(state=MailState.PENDING)
            | Q(state=MailState.SENDING, claimed_at__lt=now - SENDING_LEASE)
        ).values_list("pk", flat=True)
    )


def hotlist_mail_claim(*, mail_id: int, now: datetime.datetime | None = None) -> bool:
    """pending → sending (or a sending row whose lease ran out). True if ours."""
    now = now or timezone.now()
    return bool(
        HotListMail.objects.filter(pk=mail_id)
        .filter(
            Q(state=MailState.PENDING)
            | Q(state=MailState.SENDING, claimed_at__lt=now - SENDING_LEASE)
        )
        .update(state=MailState.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )


def hotlist_mail_send(*, mail_id: int) -> bool:
    """Send one recorded mail if this worker can claim it; True when sent now.

    Contract: the row exists before anything is sent; the claim is a
    conditional UPDATE; the SMTP conversation happens outside any
    transaction; the row is marked sent right after the server accepted the
    message. A worker that dies after claiming leaves the row "sending", and
    the next tick after ``SENDING_LEASE`` sends it. (A death in the instant
    between the server's acceptance and the UPDATE would send it again: the
    Message-ID is fixed per row so mail systems can tell.)
    """
    from scoring.hotlists.emails import build_message

    if not hotlist_mail_claim(mail_id=mail_id):
        return False
    mail = HotListMail.objects.select_related("run__hot_list", "user").get(pk=mail_id)
    try:
        build_message(mail).send()
    except Exception as exc:
        state = MailState.FAILED if mail.attempts >= MAX_MAIL_ATTEMPTS else MailState.PENDING
        HotListMail.objects.filter(pk=mail_id, state=MailState.SENDING).update(
            state=state, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    HotListMail.objects.filter(pk=mail_id, state=MailState.SENDING).update(
        state=MailState.SENT, sent_at=timezone.now(), error=""
    )
    return True
