"""Step mail: enrolling leads, advancing due enrollments, leaving.

Each enrollment keeps the position and due time of its next step. A step is
due on the day ``day_offset`` days after the lead's own start (in the site's
time zone) at the step's time of day, or at once when that moment passed
before the lead entered (a lead entering at 15:00 gets its day-0 mail then).

Advancing is set-based: one statement claims a batch of due enrollments
(``FOR UPDATE SKIP LOCKED``), writes their step's send rows (UNIQUE lead +
"enrollment:<id>:step:<id>", so a step is never sent twice) and moves each
to its next step or completes it. The send rows then take the one send path
(suppression, cap, window checks, exactly-once hand-over).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scenarios.models import Enrollment, Send, StepSequence

#: Enrollments advanced per statement (a few hundred bytes each).
ADVANCE_BATCH = 5000

#: The moment a step at (day_offset, send_time) is due for a lead that started
#: at ``started``: that local day + offset at that time, never before the start.
_DUE_SQL = """GREATEST({started},
    ((({started}) AT TIME ZONE %(tz)s)::date + {offset} + {time}) AT TIME ZONE %(tz)s)"""


def _due(started: str, offset: str, time: str) -> str:
    return _DUE_SQL.format(started=started, offset=offset, time=time)


def sequence_enroll(
    *, sequence: StepSequence, lead_ids: list[int], now: datetime.datetime | None = None
) -> int:
    """Enroll leads (set-based) following the sequence's re-entry policy.
    A lead already active in it is left alone. Returns leads enrolled."""
    if not sequence.is_active or not lead_ids:
        return 0
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO scenarios_enrollment
                (sequence_id, lead_id, state, started_at, next_position, next_due_at,
                 ended_at, exit_reason)
            SELECT %(seq)s, l.id, 'active', %(now)s, first.position,
                   {_due("%(now)s::timestamptz", "first.day_offset", "first.send_time")},
                   NULL, ''
              FROM leads_lead l
              CROSS JOIN (SELECT position, day_offset, send_time FROM scenarios_sequencestep
                           WHERE sequence_id = %(seq)s ORDER BY position LIMIT 1) AS first
             WHERE l.id = ANY(%(leads)s::bigint[])
               AND NOT EXISTS (
                   SELECT 1 FROM scenarios_enrollment x
                    WHERE x.sequence_id = %(seq)s AND x.lead_id = l.id
                      AND (%(once)s OR x.state = 'active'))
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            {
                "seq": sequence.pk,
                "now": now,
                "leads": list(lead_ids),
                "once": sequence.reentry == StepSequence.Reentry.ONCE,
                "tz": settings.TIME_ZONE,
            },
        )
        return cursor.rowcount


def enrollments_advance(*, now: datetime.datetime | None = None, limit: int = ADVANCE_BATCH) -> int:
    """Advance one batch of due enrollments; returns how many moved."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH due AS (
                SELECT id, lead_id, sequence_id, next_position, next_due_at, started_at
                  FROM scenarios_enrollment
                 WHERE state = 'active' AND next_due_at <= %(now)s
                 ORDER BY next_due_at, id
                 LIMIT %(limit)s
                   FOR UPDATE SKIP LOCKED
            ), sent AS (
                INSERT INTO scenarios_send
                    (lead_id, template_id, source_key, kind, newsletter_id, enrollment_id,
                     send_window_id, state, reason, due_at, attempts, message_id, token,
                     to_email, subject, links, error, created_at)
                SELECT due.lead_id, step.template_id,
                       'enrollment:' || due.id || ':step:' || step.id, 'step', NULL, due.id,
                       step.send_window_id, 'pending', '', due.next_due_at, 0, '',
                       gen_random_uuid(), '', '', '[]'::jsonb, '', %(now)s
                  FROM due
                  JOIN scenarios_sequencestep step
                    ON step.sequence_id = due.sequence_id AND step.position = due.next_position
                ON CONFLICT (lead_id, source_key) DO NOTHING
            ), following AS (
                SELECT due.id, nxt.position, nxt.day_offset, nxt.send_time, due.started_at
                  FROM due
                  LEFT JOIN LATERAL (
                       SELECT position, day_offset, send_time FROM scenarios_sequencestep s
                        WHERE s.sequence_id = due.sequence_id AND s.position > due.next_position
                        ORDER BY position LIMIT 1) AS nxt ON TRUE
            )
            UPDATE scenarios_enrollment e
               SET next_position = following.position,
                   next_due_at = CASE WHEN following.position IS NULL THEN NULL ELSE
                       {_due("following.started_at", "following.day_offset", "following.send_time")}
                       END,
                   state = CASE WHEN following.position IS NULL THEN 'completed' ELSE 'active' END,
                   ended_at = CASE WHEN following.position IS NULL THEN %(now)s ELSE NULL END
              FROM following
             WHERE e.id = following.id
            """,  # noqa: S608 - only our own SQL fragments are formatted in
            {"now": now, "limit": limit, "tz": settings.TIME_ZONE},
        )
        return cursor.rowcount


def enrollments_exit(
    *, lead_ids: list[int], reason: str, sequence_ids: list[int] | None = None
) -> int:
    """Take leads out of their active sequences (all, or ``sequence_ids``) and
    stop their step mails not yet sent. Returns enrollments ended."""
    active = Enrollment.objects.filter(lead_id__in=lead_ids, state=Enrollment.State.ACTIVE)
    if sequence_ids is not None:
        active = active.filter(sequence_id__in=sequence_ids)
    with transaction.atomic():
        ids = list(active.values_list("pk", flat=True))
        if not ids:
            return 0
        ended = Enrollment.objects.filter(pk__in=ids, state=Enrollment.State.ACTIVE).update(
            state=Enrollment.State.EXITED,
            ended_at=timezone.now(),
            exit_reason=reason[:200],
            next_due_at=None,
        )
        Send.objects.filter(enrollment_id__in=ids, state=Send.State.PENDING).update(
            state=Send.State.SKIPPED, reason=reason[:200]
        )
    return ended


def on_tag_added(*, lead_ids: list[int], tag: str) -> None:
    """A tag starts the sequences it triggers and ends those it exits (失注)."""
    for sequence in StepSequence.objects.filter(
        is_active=True, trigger=StepSequence.Trigger.TAG_ADDED, trigger_tag__name=tag
    ):
        sequence_enroll(sequence=sequence, lead_ids=lead_ids)
    exits = list(StepSequence.objects.filter(exit_tag__name=tag).values_list("pk", flat=True))
    if exits:
        enrollments_exit(
            lead_ids=lead_ids,
            sequence_ids=exits,
            reason=_("Tag “%(tag)s” added") % {"tag": tag},
        )
