"""Scoring writes: rules, the ledger, and score/rank recomputation — all
set-based SQL over sets of leads, never a Python loop per lead."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead
from scoring.models import FitRule, RankChange, ScoreRule, ScoringSettings
from scoring.signals import rank_changed
from tracking.models import EventType


def like_pattern(pattern: str) -> str:
    """ "/pricing" → "%/pricing%"; "*/case/*" → "%/case/%" (LIKE, escaped)."""
    if not pattern:
        return ""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("*", "%")
    return like if "*" in pattern else f"%{like}%"


def check_score_rule(*, event_type: str, url_pattern: str = "", points: int, daily_cap=None):
    errors = {}
    if event_type not in EventType.values:
        errors["event_type"] = [
            _("Unknown event type. Use one of: %(types)s.") % {"types": ", ".join(EventType.values)}
        ]
    if url_pattern and (len(url_pattern) > 500 or any(c in url_pattern for c in "\n\r\t")):
        errors["url_pattern"] = [_("A URL pattern is one line of at most 500 characters.")]
    if url_pattern and " " in url_pattern.strip():
        errors["url_pattern"] = [_("A URL has no spaces: type the part of the URL, e.g. /pricing.")]
    if url_pattern and url_pattern.strip("*") == "":
        errors["url_pattern"] = [_("The pattern matches every URL; leave it empty instead.")]
    if daily_cap is not None and daily_cap <= 0:
        errors["daily_cap"] = [_("A cap is a positive number of points.")]
    if points == 0:
        errors["points"] = [_("A rule worth 0 points changes nothing.")]
    if errors:
        raise ValidationError(errors)


def score_rule_saved(rule: ScoreRule) -> None:
    """Keep the LIKE form current and rescore everyone in the background
    (recounting the rule's ledger rows only if what it matches changed)."""
    ScoreRule.objects.filter(pk=rule.pk).update(url_like=like_pattern(rule.url_pattern))
    rescore_in_background(reason=f"rule {rule.pk} changed")


def rescore_in_background(*, reason: str, recount_all: bool = False):
    """Rescore every lead in a background job. The ledger is recounted for
    the rules whose matching changed, or all of it with ``recount_all`` (the
    window grew: older days must be counted)."""
    from scoring.models import RescoreJob
    from scoring.tasks import rescore_all

    job = RescoreJob.objects.create(reason=reason)
    rule_ids = None if recount_all else []
    transaction.on_commit(lambda: rescore_all.delay(job.pk, rule_ids))
    return job


#: Advisory lock key of the ledger. Incremental and per-rule writers hold it
#: shared; the full rebuild holds it exclusively while it builds and swaps the
#: table, so no incremental write can land in the table being replaced (they
#: wait, then write into the new one).
LEDGER_LOCK = 0x4B5A4C44  # "KZLD"

#: Memory for the rebuild's aggregate and index build (this transaction only,
#: not the connection's default): at 1M leads / 30M events the parallel GROUP BY
#: holds about 6M (lead, rule, day) groups, roughly 900 MB in its final hash
#: table (``hash_mem_multiplier`` 2 doubles this figure for hashing). With less
#: it spills to disk in batches and costs several seconds more.
REBUILD_WORK_MEM = "512MB"

#: Scoring more leads than this at once gets ``REBUILD_WORK_MEM``; up to this
#: many, the statements run without JIT compilation (``_size_statement``).
MANY_LEADS = 50_000

#: One row per (lead, rule, local day): how many of the lead's events the
#: rule matched that day, and the first and last of them. Every rule is
#: counted, active or not, and the points are applied when the rows are read
#: (``day_points``): a change of points, cap or active flag needs no recount.
#: ``{scope}`` narrows it.
LEDGER_SELECT = """
    SELECT e.lead_id, r.id AS rule_id, (e.occurred_at AT TIME ZONE %(tz)s)::date AS day,
           count(*)::int AS events, min(e.occurred_at) AS first_at, max(e.occurred_at) AS last_at
    FROM tracking_event e
    JOIN scoring_scorerule r
      ON r.event_type = e.type
     AND (r.url_like = '' OR e.url LIKE r.url_like)
     AND (r.form_key = '' OR e.properties->>'form' = r.form_key)
    WHERE e.lead_id IS NOT NULL AND e.occurred_at >= %(start)s {scope}
    GROUP BY e.lead_id, r.id, day
"""
LEDGER_COLUMNS = "lead_id, rule_id, day, events, first_at, last_at"

#: What a rule's ledger rows were counted by (``ScoreRule.counted``): the
#: fields that decide which events it matches. A rule whose ``counted`` differs
#: from this is recounted (``rules_recount``).
COUNTED_AS = "concat_ws(chr(31), event_type, url_like, form_key)"


def day_points(day: str = "d", rule: str = "r") -> str:
    """SQL: the points of ledger row ``day`` under rule ``rule`` (joined on
    ``rule_id``): points × events, capped per day by ``daily_cap``."""
    raw = raw_day_points(day, rule)
    cap = f"{rule}.daily_cap"
    return f"(CASE WHEN {cap} IS NULL THEN {raw} ELSE LEAST({raw}, {cap}) END)"


def raw_day_points(day: str = "d", rule: str = "r") -> str:
    """SQL: the points of ledger row ``day`` before the daily cap."""
    return f"({rule}.points * {day}.events)"


@dataclass(frozen=True)
class Window:
    """The rolling window in whole local days: ``first_day`` … ``today``
    (``window_days`` days, today included). A ledger day counts while
    ``day >= first_day``, so it leaves the window on ``day + window_days``."""

    today: datetime.date
    first_day: datetime.date
    days: int

    @property
    def start(self) -> datetime.datetime:
        """The first instant of ``first_day`` in the site's time zone."""
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        return datetime.datetime.combine(self.first_day, datetime.time.min, tzinfo=zone)

    def leaves_on(self, day: datetime.date) -> datetime.date:
        return day + datetime.timedelta(days=self.days)


def score_window(now: datetime.datetime | None = None) -> Window:
    now = now or timezone.now()
    days = ScoringSettings.current().window_days
    today = timezone.localtime(now, zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()
    return Window(today=today, first_day=today - datetime.timedelta(days=days - 1), days=days)


def window(now: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    """(start, now) of the window as instants."""
    now = now or timezone.now()
    return score_window(now).start, now


def _size_statement(cursor, leads: int | None) -> None:
    """Settings for this transaction's scoring statements by how many leads
    they cover (None: every lead).

    - Many leads: ``REBUILD_WORK_MEM``, so the per-lead sums and joins stay in
      memory instead of spilling to disk in batches.
    - A batch: no JIT. The planner's cost estimate of a batch statement (an
      array of 10,000 ids probed into the events, the ledger and the leads)
      passes ``jit_above_cost`` and even the inlining and optimizing
      thresholds, so PostgreSQL compiled it with LLVM first: measured at
      1M leads / 30M events, 0.75 s of compilation for a batch whose
      statements then ran in 1.0 s. The whole-table statements keep JIT,
      where it pays for itself."""
    if leads is None or leads > MANY_LEADS:
        cursor.execute(f"SET LOCAL work_mem = '{REBUILD_WORK_MEM}'")
    else:
        cursor.execute("SET LOCAL jit = off")


def ledger_from_events(
    *,
    lead_ids: Iterable[int] | None = None,
    rule_ids: Iterable[int] | None = None,
    since: datetime.date | None = None,
    now: datetime.datetime | None = None,
) -> int:
    """Recompute ledger days from events inside the window. Idempotent: rows are
    recomputed from the events, never added to, so a retried task changes nothing.

    - nothing given: the full rebuild (``ledger_rebuild``);
    - ``rule_ids``: those rules' rows for every lead (a rule changed);
    - ``lead_ids`` (and/or ``since``, a local day): the incremental path, only
      the (lead, rule, day) rows whose events changed are written.

    Returns the rows written."""
    if lead_ids is None and rule_ids is None and since is None:
        return ledger_rebuild(now=now)
    if rule_ids is not None and lead_ids is None and since is None:
        return rule_ledger_rebuild(list(rule_ids), now=now)
    win = score_window(now)
    start = win.start
    params: dict = {"tz": settings.TIME_ZONE}
    scope = ""
    if lead_ids is not None:
        scope += " AND e.lead_id = ANY(%(leads)s)"
        params["leads"] = list(lead_ids)
    if rule_ids is not None:
        scope += " AND r.id = ANY(%(rules)s)"
        params["rules"] = list(rule_ids)
    if since is not None and since > win.first_day:
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        start = datetime.datetime.combine(since, datetime.time.min, tzinfo=zone)
    params["start"] = start
    sql = f"""
        WITH fresh AS ({LEDGER_SELECT.format(scope=scope)}),
        stale AS (
            SELECT f.* FROM fresh f
            LEFT JOIN scoring_scoreday d
              ON d.lead_id = f.lead_id AND d.rule_id = f.rule_id AND d.day = f.day
            WHERE d.lead_id IS NULL
               OR (d.events, d.first_at, d.last_at)
                  IS DISTINCT FROM (f.events, f.first_at, f.last_at)
        )
        INSERT INTO scoring_scoreday ({LEDGER_COLUMNS})
        SELECT {LEDGER_COLUMNS} FROM stale
        ON CONFLICT (lead_id, rule_id, day) DO UPDATE SET
            events = EXCLUDED.events, first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at
    """  # noqa: S608 - fixed fragments; every value is a parameter
    with transaction.atomic(), connection.cursor() as cursor:
        _size_statement(cursor, None if lead_ids is None else len(params["leads"]))
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LEDGER_LOCK])
        cursor.execute(sql, params)
        return cursor.rowcount


def ledger_rebuild(
    *, now: datetime.datetime | None = None, rule_ids: list[int] | None = None
) -> int:
    """Rebuild the whole ledger from events: one parallel CREATE TABLE … AS
    SELECT … GROUP BY into a fresh table with no index, then its primary key,
    then swap it in for the old table — all in one transaction, under the
    exclusive ledger lock (incremental writers wait and then write into the new
    table; readers see the old table until the commit). With ``rule_ids`` only
    those rules are counted and the other rules' rows are copied over (a
    recount of rules that hold much of the ledger). Returns rows built."""
    win = score_window(now)
    params = {"tz": settings.TIME_ZONE, "start": win.start, "rules": rule_ids}
    select = LEDGER_SELECT.format(scope="")
    counted = ""
    if rule_ids is not None:
        counting = LEDGER_SELECT.format(scope="AND r.id = ANY(%(rules)s)")
        # Fixed fragments; every value is a parameter.
        select = f"SELECT {LEDGER_COLUMNS} FROM scoring_scoreday WHERE rule_id <> ALL(%(rules)s) "  # noqa: S608
        select += f"UNION ALL {counting}"
        counted = "WHERE id = ANY(%(rules)s)"
    build = "scoring_scoreday_build"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{REBUILD_WORK_MEM}'")
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{REBUILD_WORK_MEM}'")
        # The join's row estimate is off by orders of magnitude (type = event_type
        # with the pattern filter), which makes the planner sort a million rows
        # to group them; hashing them is twice as fast. Only this transaction.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_LOCK])
        cursor.execute(f"DROP TABLE IF EXISTS {build}")
        cursor.execute(f"CREATE TABLE {build} AS {select}", params)
        rows = cursor.rowcount
        cursor.execute(
            f"""
            ALTER TABLE {build}
                ALTER COLUMN events SET NOT NULL, ALTER COLUMN first_at SET NOT NULL,
                ALTER COLUMN last_at SET NOT NULL,
                ADD CONSTRAINT {build}_pkey PRIMARY KEY (lead_id, rule_id, day)
            """
        )
        # A new table has no statistics until (auto)vacuum analyzes it: the
        # batch statements that read it would be planned blind. A sample of
        # 30,000 rows, well under a second at 6M rows.
        cursor.execute(f"ANALYZE {build}")
        cursor.execute("DROP TABLE scoring_scoreday")
        cursor.execute(f"ALTER TABLE {build} RENAME TO scoring_scoreday")
        cursor.execute(
            f"ALTER TABLE scoring_scoreday RENAME CONSTRAINT {build}_pkey TO scoring_scoreday_pkey"
        )
        cursor.execute(f"UPDATE scoring_scorerule SET counted = {COUNTED_AS} {counted}", params)  # noqa: S608
    return rows


#: A recount of rules holding more than this share of the ledger rows builds
#: a new table (``ledger_rebuild(rule_ids=…)``) instead of deleting and
#: inserting their rows one by one, which costs several times more per row.
RECOUNT_BY_SWAP_SHARE = 0.25


def rule_ledger_rebuild(rule_ids: list[int], *, now: datetime.datetime | None = None) -> int:
    """These rules' rows are recounted from events for every lead (their
    event type, URL pattern or form changed, or they are new)."""
    win = score_window(now)
    params = {"tz": settings.TIME_ZONE, "start": win.start, "rules": list(rule_ids)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM scoring_scoreday WHERE rule_id = ANY(%s)), "
            "(SELECT reltuples FROM pg_class WHERE oid = 'scoring_scoreday'::regclass)",
            [list(rule_ids)],
        )
        theirs, estimate = cursor.fetchone()
    if theirs > RECOUNT_BY_SWAP_SHARE * max(estimate, 1):
        return ledger_rebuild(now=now, rule_ids=list(rule_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{REBUILD_WORK_MEM}'")
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LEDGER_LOCK])
        cursor.execute("DELETE FROM scoring_scoreday WHERE rule_id = ANY(%s)", [list(rule_ids)])
        cursor.execute(
            f"INSERT INTO scoring_scoreday ({LEDGER_COLUMNS}) "
            + LEDGER_SELECT.format(scope="AND r.id = ANY(%(rules)s)"),
            params,
        )
        rows = cursor.rowcount
        cursor.execute(
            f"UPDATE scoring_scorerule SET counted = {COUNTED_AS} WHERE id = ANY(%s)",  # noqa: S608
            [list(rule_ids)],
        )
        return rows


def rules_recount(*, now: datetime.datetime | None = None) -> int:
    """Recount the rules whose ledger rows were counted by other matching
    fields than they have now (new rules, a changed event type, URL pattern
    or form); a change of points, cap or active flag needs none. Returns
    the rows written."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM scoring_scorerule WHERE counted IS DISTINCT FROM {COUNTED_AS}"  # noqa: S608
        )
        stale = [row[0] for row in cursor.fetchall()]
    return rule_ledger_rebuild(stale, now=now) if stale else 0


def ledger_prune(*, now: datetime.datetime | None = None) -> int:
    """Drop ledger days that left the window (they count for nothing)."""
    win = score_window(now)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM scoring_scoreday WHERE day < %s", [win.first_day])
        return cursor.rowcount


def _scope_sql() -> tuple[str, list]:
    """SELECT id, score, rank, fit FROM leads_lead … : the leads to score with
    their stored score and rank and their fit points from FitRules, in one scan
    of ``leads_lead`` (no fit rule: fit is 0). Narrowed by the caller with
    ``WHERE id = ANY(…)``, which PostgreSQL pushes into the scan."""
    from leads.segments import CompileContext, get_block

    attribute = get_block("attribute")
    context = CompileContext()
    total = Value(0)
    for rule in FitRule.objects.filter(is_active=True):
        params = attribute.validate(dict(rule.condition))
        condition = attribute.compile(params, context)
        total = total + Case(When(condition, then=Value(rule.points)), default=Value(0))
    queryset = Lead.objects.all()
    queryset = queryset.annotate(fit=Coalesce(total, Value(0), output_field=IntegerField())).values(
        "id", "score", "rank", "fit"
    )
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


#: Connections that score every lead side by side, each a range of lead ids
#: (a statement that writes gets no parallel workers from PostgreSQL).
SCORING_CONNECTIONS = 2


def score_leads(
    lead_ids: Iterable[int] | None = None,
    *,
    now: datetime.datetime | None = None,
    refresh_ledger: bool = False,
    id_range: tuple[int, int] | None = None,
) -> dict:
    """Recompute score and rank of these leads (None: every lead) from the
    ledger, tags and fit rules in one statement; record rank changes and send
    ``rank_changed`` on commit. Returns {"changed", "rank_changes"}.

    ``refresh_ledger`` (with ``lead_ids``): the same statement first recomputes
    these leads' ledger days from their events over the whole window (writing
    only rows that differ) and takes the behaviour score from that fresh
    aggregate instead of reading the rows back — the incremental path.

    ``id_range`` (with no ``lead_ids``): the leads whose id is in [low, high].
    Every lead, outside a caller's transaction, is scored in
    ``SCORING_CONNECTIONS`` id ranges side by side, each its own
    transaction."""
    now = now or timezone.now()
    if lead_ids is None and id_range is None and not connection.in_atomic_block:
        ranges = _id_ranges(SCORING_CONNECTIONS)
        if len(ranges) > 1:
            return _score_ranges(ranges, now=now)
    row = ScoringSettings.current()
    win = score_window(now)
    ids = None if lead_ids is None else list(lead_ids)
    refresh = refresh_ledger and ids is not None
    scope_sql, scope_params = _scope_sql()
    params: dict = {
        "ids": ids,
        "first_day": win.first_day,
        "today": win.today,
        "hot": row.hot_min,
        "warm": row.warm_min,
        "now": now,
        "tz": settings.TIME_ZONE,
        "start": win.start,
        **{f"scope{i}": value for i, value in enumerate(scope_params)},
    }
    # The scope query is compiled by Django with positional placeholders.
    pieces = scope_sql.split("%s")
    scope_sql = pieces[0] + "".join(f"%(scope{i})s{piece}" for i, piece in enumerate(pieces[1:]))
    only = ""
    if ids is not None:
        scope_sql = f"SELECT * FROM ({scope_sql}) leads WHERE leads.id = ANY(%(ids)s)"  # noqa: S608
        only = " AND {column} = ANY(%(ids)s)"
    elif id_range is not None:
        params["low"], params["high"] = id_range
        scope_sql = f"SELECT * FROM ({scope_sql}) leads WHERE leads.id BETWEEN %(low)s AND %(high)s"  # noqa: S608
        only = " AND {column} BETWEEN %(low)s AND %(high)s"
    if refresh:
        ledger = f"""
        fresh AS ({LEDGER_SELECT.format(scope="AND e.lead_id = ANY(%(ids)s)")}),
        stale AS (
            SELECT f.* FROM fresh f
            LEFT JOIN scoring_scoreday d
              ON d.lead_id = f.lead_id AND d.rule_id = f.rule_id AND d.day = f.day
            WHERE d.lead_id IS NULL
               OR (d.events, d.first_at, d.last_at)
                  IS DISTINCT FROM (f.events, f.first_at, f.last_at)
        ),
        written AS (
            INSERT INTO scoring_scoreday ({LEDGER_COLUMNS})
            SELECT {LEDGER_COLUMNS} FROM stale
            ON CONFLICT (lead_id, rule_id, day) DO UPDATE SET
                events = EXCLUDED.events, first_at = EXCLUDED.first_at,
                last_at = EXCLUDED.last_at
        ),
        behaviour AS (
            SELECT f.lead_id, SUM({day_points("f")}) AS points
            FROM fresh f JOIN scoring_scorerule r ON r.id = f.rule_id AND r.is_active
            WHERE f.day >= %(first_day)s AND f.day <= %(today)s
            GROUP BY f.lead_id
        ),"""  # noqa: S608 - fixed fragments
    else:
        ledger = f"""
        behaviour AS (
            SELECT d.lead_id, SUM({day_points()}) AS points
            FROM scoring_scoreday d JOIN scoring_scorerule r ON r.id = d.rule_id AND r.is_active
            WHERE d.day >= %(first_day)s AND d.day <= %(today)s {only.format(column="d.lead_id")}
            GROUP BY d.lead_id
        ),"""  # noqa: S608 - fixed fragments
    sql = f"""
        WITH scope AS ({scope_sql}),{ledger}
        tags AS (
            SELECT lt.lead_id, SUM(ta.points) AS points
            FROM leads_leadtag lt JOIN scoring_tagadjustment ta ON ta.tag_id = lt.tag_id
            WHERE true {only.format(column="lt.lead_id")} GROUP BY lt.lead_id
        ),
        ranked AS (
            SELECT s.id, s.rank AS old_rank, t.total AS score, k.rank
            FROM scope s
            LEFT JOIN behaviour b ON b.lead_id = s.id
            LEFT JOIN tags tg ON tg.lead_id = s.id
            CROSS JOIN LATERAL (
                SELECT (COALESCE(b.points, 0) + COALESCE(tg.points, 0) + s.fit)::int
                AS total
            ) t
            CROSS JOIN LATERAL (
                SELECT CASE WHEN t.total >= %(hot)s THEN 'HOT' WHEN t.total >= %(warm)s THEN 'WARM'
                            ELSE 'COLD' END AS rank
            ) k
            WHERE (s.score, s.rank) IS DISTINCT FROM (t.total, k.rank)
        ),
        -- Only leads whose score or rank differ are written, and no index holds
        -- score (leads migration 0006): most of these are heap-only updates.
        changed AS (
            UPDATE leads_lead l SET score = r.score, rank = r.rank
            FROM ranked r
            WHERE l.id = r.id
            RETURNING l.id, r.old_rank, r.rank AS new_rank, r.score
        ),
        moved AS (
            INSERT INTO scoring_rankchange (lead_id, old_rank, new_rank, score, changed_at)
            SELECT id, old_rank, new_rank, score, %(now)s FROM changed WHERE old_rank <> new_rank
            RETURNING lead_id, old_rank, new_rank
        )
        SELECT (SELECT count(*) FROM changed), lead_id, old_rank, new_rank FROM moved
        UNION ALL SELECT (SELECT count(*) FROM changed), NULL, NULL, NULL
    """  # noqa: S608 - fixed fragments; every value is a parameter
    with transaction.atomic(), connection.cursor() as cursor:
        _size_statement(cursor, None if ids is None else len(ids))
        if refresh:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LEDGER_LOCK])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    changes = [(lead, old, new) for _count, lead, old, new in rows if lead is not None]
    changed = rows[0][0] if rows else 0
    if changes:
        transaction.on_commit(lambda: rank_changed.send(sender=RankChange, changes=changes))
    return {"changed": changed, "rank_changes": changes}


def _id_ranges(parts: int) -> list[tuple[int, int]]:
    """Lead id ranges of about equal size for ``parts`` connections, or one
    range when there are too few leads to be worth it (``MANY_LEADS``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), "
            "(SELECT reltuples FROM pg_class WHERE oid = 'leads_lead'::regclass) FROM leads_lead"
        )
        low, high, estimate = cursor.fetchone()
    if low is None or parts < 2 or estimate < MANY_LEADS:
        return [(low or 0, high or 0)]
    step = (high - low) // parts + 1
    return [(start, min(start + step - 1, high)) for start in range(low, high + 1, step)]


def _score_ranges(ranges: list[tuple[int, int]], *, now: datetime.datetime) -> dict:
    """Score each id range in its own thread, connection and transaction."""
    from concurrent.futures import ThreadPoolExecutor

    def score(id_range: tuple[int, int]) -> dict:
        try:
            return score_leads(None, now=now, id_range=id_range)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="kizuki-score") as pool:
        results = list(pool.map(score, ranges))
    return {
        "changed": sum(result["changed"] for result in results),
        "rank_changes": [change for result in results for change in result["rank_changes"]],
    }


def score_after_events(
    lead_ids: Iterable[int],
    *,
    since: datetime.date | None = None,
    now: datetime.datetime | None = None,
) -> dict:
    """Incremental: new events of these leads → their ledger days → their
    scores. Without ``since`` one statement recomputes their ledger days over
    the window and their scores (``score_leads(refresh_ledger=True)``); with
    ``since`` (a local day, when the caller knows the batch's earliest day)
    only days from then on are recomputed, then the scores. Safe to run twice."""
    ids = list(lead_ids)
    if since is None:
        return score_leads(ids, now=now, refresh_ledger=True)
    ledger_from_events(lead_ids=ids, since=since, now=now)
    return score_leads(ids, now=now)


def scores_recompute(
    *,
    progress: Callable[[str, int], None] | None = None,
    now: datetime.datetime | None = None,
    recount_all: bool = True,
) -> dict:
    """Rescore everyone: recount the ledger from events (all of it, or with
    ``recount_all=False`` only the rules whose matching changed: what a rule
    change runs), then every lead's score and rank. ``manage.py
    recompute_scores`` recounts all of it. ``progress(step, count)`` is
    called after each step."""
    report = progress or (lambda step, count: None)
    rows = ledger_rebuild(now=now) if recount_all else rules_recount(now=now)
    report("ledger", rows)
    result = score_leads(None, now=now)
    report("scores", result["changed"])
    return {"ledger_rows": rows, **result}


def snapshots_write(*, now: datetime.datetime | None = None) -> int:
    """Today's score snapshot of every lead whose score is not 0 (a missing
    day means 0), in one INSERT … SELECT. Idempotent per day: today's rows are
    replaced in the same transaction, so a second run leaves the same rows."""
    today = score_window(now).today
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM scoring_scoresnapshot WHERE day = %s", [today])
        cursor.execute(
            """
            INSERT INTO scoring_scoresnapshot (lead_id, day, score, rank)
            SELECT id, %s, score, rank FROM leads_lead WHERE score <> 0
            """,
            [today],
        )
        return cursor.rowcount


def scores_daily(*, now: datetime.datetime | None = None) -> dict:
    """The nightly job: catch up the ledger on the last two days' events (a
    batch whose task was lost), drop days that left the window, recompute every
    score (leads whose entries left drop rank) and write today's snapshot."""
    win = score_window(now)
    caught_up = ledger_from_events(since=win.today - datetime.timedelta(days=1), now=now)
    pruned = ledger_prune(now=now)
    result = score_leads(None, now=now)
    snapshots = snapshots_write(now=now)
    return {"caught_up": caught_up, "pruned": pruned, "snapshots": snapshots, **result}


def rescore_job_run(*, job_id: int, rule_ids: list[int] | None = None) -> None:
    """Run one ``RescoreJob``: claim it (PENDING → RUNNING, a conditional
    UPDATE: a second delivery finds nothing to claim), recount the ledger (all
    of it when ``rule_ids`` is None, else the rules whose matching changed),
    score everyone, recording each step; a failure is stored on the job and
    raised."""
    from scoring.models import RescoreJob

    jobs = RescoreJob.objects.filter(pk=job_id)
    if not jobs.filter(state=RescoreJob.State.PENDING).update(
        state=RescoreJob.State.RUNNING, total_steps=2, done_steps=0
    ):
        return
    try:
        result = scores_recompute(
            recount_all=rule_ids is None,
            progress=lambda step, count: step == "ledger" and jobs.update(done_steps=1),
        )
        jobs.update(
            state=RescoreJob.State.DONE,
            done_steps=2,
            leads_changed=result["changed"],
            finished_at=timezone.now(),
        )
    except Exception as exc:
        jobs.update(
            state=RescoreJob.State.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
