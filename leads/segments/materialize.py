"""Saving a segment's members as a static list (the weekly HOT list does this)."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import ActorKind, ListMembership, Segment, StaticList
from leads.segments.registry import CompileContext
from leads.segments.search import segment_leads_for


@transaction.atomic
def segment_materialize(*, segment: Segment, by=None, name: str | None = None) -> StaticList:
    """Create a list holding the leads ``segment`` matches now.

    Members are inserted with one ``INSERT … SELECT`` from the compiled
    search, so no lead passes through Python whatever the size. Every call
    makes a new dated list (a snapshot); ``snapshot_at`` is also the instant
    the search's time windows end at. Raises ``ValidationError`` when the
    saved search is no longer valid, before anything is written.
    """
    now = timezone.now()
    members = segment_leads_for(segment, context=CompileContext(now=now))
    static_list = StaticList.objects.create(
        name=(name or "").strip()[:200]
        or f"{segment.name} ({timezone.localtime(now):%Y-%m-%d %H:%M})"[:200],
        description=_("Snapshot of the segment “%(name)s” (%(expression)s).")
        % {"name": segment.name, "expression": segment.expression},
        source_segment=segment,
        snapshot_at=now,
        created_by=by,
    )
    select_sql, select_params = members.values("pk").query.sql_with_params()
    table = ListMembership._meta.db_table
    with connection.cursor() as cursor:
        # The SELECT is Django's compiled search: every user value in it is a
        # parameter, and the table name comes from the model.
        cursor.execute(
            f"INSERT INTO {table} (static_list_id, lead_id, added_at, added_by_kind, added_by_id) "  # noqa: S608
            f"SELECT %s, member.lead_id, %s, %s, %s FROM ({select_sql}) AS member (lead_id)",
            [
                static_list.pk,
                now,
                ActorKind.USER if by is not None else ActorKind.SYSTEM,
                getattr(by, "pk", None),
                *select_params,
            ],
        )
    return static_list
