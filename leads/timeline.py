"""The lead timeline: one newest-first history of everything that happened to a lead.

``leads`` imports no other app (DESIGN.md), so each app that owns history
registers a *source* here, usually from its ``AppConfig.ready()``::

    from leads.timeline import TimelineEntry, register_timeline_source

    def page_views(lead_id, before, limit):
        rows = Event.objects.filter(lead_id=lead_id, type="page_view")
        if before is not None:
            rows = rows.filter(occurred_at__lt=before)
        return [
            TimelineEntry(occurred_at=e.occurred_at, kind="page_view", title=..., icon="web")
            for e in rows.order_by("-occurred_at")[:limit]
        ]

    register_timeline_source("tracking.page_views", page_views)

The contract of a source: given ``(lead_id, before, limit)`` it returns at most
``limit`` entries of that lead strictly older than ``before`` (all of them when
``before`` is None), newest first, from one indexed query
(``WHERE lead_id = … AND occurred_at < … ORDER BY occurred_at DESC LIMIT …``).
A page of the timeline then costs one small query per source, however long
the lead's history is, and never a scan.
"""

from __future__ import annotations

import datetime
import heapq
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from leads import selectors
from leads.models import (
    Activity,
    ActivityChoice,
    ActivityCorrection,
    ActorKind,
    Consent,
    Lead,
    LeadMerge,
    ListMembership,
    Suppression,
    TagChange,
)

logger = logging.getLogger(__name__)

#: Entries per timeline page on the lead page.
TIMELINE_PAGE_SIZE = 50


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a lead, ready to show.

    ``icon`` is a CSS class name for the entry's marker (``activity``,
    ``tag``, ``consent``, ``suppression``, ``merge``, ``web``, ``mail``,
    ``score`` …); ``url`` links to the object behind the entry when it has a page.
    """

    occurred_at: datetime.datetime
    kind: str
    title: str
    detail: str = ""
    actor: str = ""
    icon: str = ""
    url: str | None = None


#: ``provider(lead_id, before, limit)`` → entries, newest first (see the module docstring).
TimelineProvider = Callable[[int, datetime.datetime | None, int], Iterable[TimelineEntry]]

_sources: dict[str, TimelineProvider] = {}


def register_timeline_source(key: str, provider: TimelineProvider) -> None:
    """Add (or replace) the source named ``key``, e.g. ``"tracking.page_views"``.

    Registering a key again replaces its provider, so a module imported twice
    (autoreload, tests) never doubles its entries.
    """
    _sources[key] = provider


def unregister_timeline_source(key: str) -> None:
    _sources.pop(key, None)


def timeline_sources() -> dict[str, TimelineProvider]:
    return dict(_sources)


@dataclass
class TimelinePage:
    """A page of the timeline. ``older_than`` is the keyset cursor of the next
    (older) page, or None when this page reaches the lead's first entry."""

    entries: list[TimelineEntry]
    older_than: datetime.datetime | None
    failed_sources: list[str] = field(default_factory=list)


def lead_timeline(
    lead_id: int, before: datetime.datetime | None = None, limit: int = TIMELINE_PAGE_SIZE
) -> TimelinePage:
    """The lead's history, newest first: at most ``limit`` entries older than ``before``.

    Each source is asked for ``limit + 1`` entries so we know whether an older
    page exists. A page never ends in the middle of entries that share one
    timestamp (a bulk tag change records several at the same instant): the
    cursor is a timestamp, so such a group is moved whole to the next page.
    A source that fails is logged and named in ``failed_sources``; the others
    still show, so a broken app cannot take the lead page down with it.
    """
    fetched: list[list[TimelineEntry]] = []
    failed: list[str] = []
    for key, provider in _sources.items():
        try:
            # A savepoint, so a failing query of one source does not abort the
            # transaction the page runs in (the admin change view is atomic).
            with transaction.atomic():
                entries = sorted(
                    provider(lead_id, before, limit + 1),
                    key=lambda entry: entry.occurred_at,
                    reverse=True,
                )[: limit + 1]
        except Exception:
            logger.exception("timeline source %s failed for lead %s", key, lead_id)
            failed.append(key)
            continue
        fetched.append(entries)
    merged = list(heapq.merge(*fetched, key=lambda entry: entry.occurred_at, reverse=True))
    if len(merged) <= limit:
        return TimelinePage(entries=merged, older_than=None, failed_sources=failed)
    page = merged[:limit]
    cut_at = merged[limit].occurred_at
    # When more than ``limit`` entries share one instant the page shows those
    # fetched and the cursor goes on below that instant: the rest of it cannot
    # be reached by a timestamp cursor (it takes one write of over a page of rows).
    page = [entry for entry in page if entry.occurred_at != cut_at] or [
        entry for entry in merged if entry.occurred_at == cut_at
    ]
    return TimelinePage(entries=page, older_than=page[-1].occurred_at, failed_sources=failed)


# -- the sources leads owns ----------------------------------------------------------


def _older(queryset, field_name: str, before: datetime.datetime | None):
    if before is not None:
        queryset = queryset.filter(**{f"{field_name}__lt": before})
    return queryset.order_by(f"-{field_name}")


def actor_label(kind: str, user=None) -> str:
    """Who did it: the user's name (姓 名), else the kind of actor (Form, Import…)."""
    if user is not None:
        return selectors.user_display_name(user)
    return str(ActorKind(kind).label) if kind in ActorKind.values else kind


def _activity_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    labels = selectors.activity_choice_labels()
    activities = (
        _older(Activity.objects.filter(lead_id=lead_id), "occurred_at", before)
        .select_related("actor")
        .annotate(corrected=Exists(ActivityCorrection.objects.filter(activity=OuterRef("pk"))))[
            :limit
        ]
    )
    entries = []
    for activity in activities:
        type_label = labels.get((ActivityChoice.Kind.TYPE, activity.type), activity.type)
        result_label = labels.get((ActivityChoice.Kind.RESULT, activity.result), activity.result)
        title = _("%(type)s: %(result)s") % {"type": type_label, "result": result_label}
        if activity.corrected:
            title += " " + _("(corrected)")
        detail_parts = [activity.content, activity.note]
        if activity.source:
            source_label = labels.get((ActivityChoice.Kind.SOURCE, activity.source))
            detail_parts.append(
                _("Source: %(source)s") % {"source": source_label or activity.source}
            )
        entries.append(
            TimelineEntry(
                occurred_at=activity.occurred_at,
                kind="activity",
                title=title,
                detail="\n".join(part for part in detail_parts if part),
                actor=actor_label(activity.created_by_kind, activity.actor),
                icon=f"activity activity-{activity.type}",
                url=reverse("admin:leads_lead_activity_correct", args=[lead_id, activity.pk]),
            )
        )
    return entries


def correction_lines(
    correction: ActivityCorrection, labels: dict[tuple[str, str], str]
) -> list[str]:
    """“Result: 継続フォロー → 商談化” for each corrected field, choice codes by their labels."""
    lines = []
    for name, (before, after) in correction.changes.items():
        if name in CHOICE_FIELDS:
            before = labels.get((name, before), before)
            after = labels.get((name, after), after)
        elif name == "occurred_at":
            before, after = (_local_minute(value) for value in (before, after))
        field_label = Activity._meta.get_field(name).verbose_name
        lines.append(f"{field_label}: {before or '—'} → {after or '—'}")
    return lines


CHOICE_FIELDS = {ActivityChoice.Kind.TYPE, ActivityChoice.Kind.RESULT, ActivityChoice.Kind.SOURCE}


def _local_minute(value: str | None) -> str:
    if not value:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if timezone.is_aware(moment) else value


def _activity_correction_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    labels = selectors.activity_choice_labels()
    corrections = _older(
        ActivityCorrection.objects.filter(activity__lead_id=lead_id), "corrected_at", before
    ).select_related("activity", "corrected_by")[:limit]
    return [
        TimelineEntry(
            occurred_at=correction.corrected_at,
            kind="activity_correction",
            title=_("Activity of %(date)s corrected")
            % {"date": f"{correction.activity.occurred_at:%Y-%m-%d}"},
            detail="\n".join([*correction_lines(correction, labels), correction.reason]).strip(),
            actor=actor_label(ActorKind.USER, correction.corrected_by),
            icon="activity-correction",
        )
        for correction in corrections
    ]


def _tag_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    changes = _older(TagChange.objects.filter(lead_id=lead_id), "occurred_at", before)
    entries = []
    for change in changes.select_related("tag", "actor")[:limit]:
        added = change.action == TagChange.Action.ADDED
        title = (_("Tag added: %(tag)s") if added else _("Tag removed: %(tag)s")) % {
            "tag": change.tag.name
        }
        entries.append(
            TimelineEntry(
                occurred_at=change.occurred_at,
                kind="tag_added" if added else "tag_removed",
                title=title,
                detail=change.source_ref,
                actor=actor_label(change.actor_kind, change.actor),
                icon="tag tag-added" if added else "tag tag-removed",
            )
        )
    return entries


def _consent_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    consents = _older(Consent.objects.filter(lead_id=lead_id), "obtained_at", before)
    return [
        TimelineEntry(
            occurred_at=consent.obtained_at,
            kind="consent",
            title=_("Consent obtained (%(basis)s)") % {"basis": consent.get_basis_display()},
            detail=" · ".join(part for part in (consent.channel, consent.source_ref) if part),
            actor=actor_label(ActorKind.USER, consent.recorded_by) if consent.recorded_by else "",
            icon="consent",
        )
        for consent in consents.select_related("recorded_by")[:limit]
    ]


def _suppression_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    suppressions = _older(Suppression.objects.filter(lead_id=lead_id), "created_at", before)
    return [
        TimelineEntry(
            occurred_at=suppression.created_at,
            kind="suppression",
            title=_("Suppressed: %(channel)s (%(reason)s)")
            % {
                "channel": suppression.get_channel_display(),
                "reason": suppression.get_reason_display(),
            },
            detail=suppression.detail,
            icon="suppression",
        )
        for suppression in suppressions[:limit]
    ]


def _suppression_lift_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    lifts = _older(
        Suppression.objects.filter(lead_id=lead_id, lifted_at__isnull=False), "lifted_at", before
    )
    return [
        TimelineEntry(
            occurred_at=suppression.lifted_at,
            kind="suppression_lifted",
            title=_("Suppression lifted: %(channel)s")
            % {"channel": suppression.get_channel_display()},
            actor=actor_label(ActorKind.USER, suppression.lifted_by)
            if suppression.lifted_by
            else "",
            icon="suppression-lifted",
        )
        for suppression in lifts.select_related("lifted_by")[:limit]
    ]


def _list_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    memberships = _older(ListMembership.objects.filter(lead_id=lead_id), "added_at", before)
    return [
        TimelineEntry(
            occurred_at=membership.added_at,
            kind="list_added",
            title=_("Added to list “%(list)s”") % {"list": membership.static_list.name},
            actor=actor_label(membership.added_by_kind, membership.added_by),
            icon="list",
        )
        for membership in memberships.select_related("static_list", "added_by")[:limit]
    ]


def _list_removal_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    removals = _older(
        ListMembership.objects.filter(lead_id=lead_id, removed_at__isnull=False),
        "removed_at",
        before,
    )
    return [
        TimelineEntry(
            occurred_at=membership.removed_at,
            kind="list_removed",
            title=_("Removed from list “%(list)s”") % {"list": membership.static_list.name},
            actor=actor_label(ActorKind.USER, membership.removed_by)
            if membership.removed_by
            else "",
            icon="list list-removed",
        )
        for membership in removals.select_related("static_list", "removed_by")[:limit]
    ]


def _merge_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    merges = _older(LeadMerge.objects.filter(survivor_id=lead_id), "merged_at", before)
    entries = []
    for merge in merges.select_related("merged_by")[:limit]:
        snapshot = merge.merged_snapshot or {}
        name = " ".join(
            part for part in (snapshot.get("last_name"), snapshot.get("first_name")) if part
        )
        entries.append(
            TimelineEntry(
                occurred_at=merge.merged_at,
                kind="merge",
                title=_("Merged with %(lead)s")
                % {"lead": f"{name} <{merge.merged_email}>".strip()},
                detail=", ".join(
                    f"{kind}: {count}" for kind, count in merge.moved.items() if count
                ),
                actor=actor_label(ActorKind.USER, merge.merged_by) if merge.merged_by else "",
                icon="merge",
            )
        )
    return entries


def _created_entries(lead_id: int, before, limit: int) -> list[TimelineEntry]:
    leads = Lead.objects.filter(pk=lead_id)
    if before is not None:
        leads = leads.filter(created_at__lt=before)
    return [
        TimelineEntry(
            occurred_at=created_at,
            kind="lead_created",
            title=_("Lead created"),
            detail=_("First touch: %(source)s") % {"source": source} if source else "",
            icon="created",
        )
        for created_at, source in leads.values_list("created_at", "first_touch_source")[:limit]
    ]


register_timeline_source("leads.activities", _activity_entries)
register_timeline_source("leads.activity_corrections", _activity_correction_entries)
register_timeline_source("leads.tags", _tag_entries)
register_timeline_source("leads.consents", _consent_entries)
register_timeline_source("leads.suppressions", _suppression_entries)
register_timeline_source("leads.suppression_lifts", _suppression_lift_entries)
register_timeline_source("leads.lists", _list_entries)
register_timeline_source("leads.list_removals", _list_removal_entries)
register_timeline_source("leads.merges", _merge_entries)
register_timeline_source("leads.created", _created_entries)
