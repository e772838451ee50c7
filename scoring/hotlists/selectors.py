"""Reads of the weekly HOT lists: what the workbench shows and the mails tell.

Every list read is a constant number of queries whatever the number of
members: "followed" and the latest result are correlated subqueries on the
activities index, owners and companies are joined, counts are one aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from leads.models import Activity
from leads.selectors import user_display_name
from scoring.hotlists.models import HotListMember, HotListRun

WORK_ALL = "scoring.work_hotlist"
WORK_OWN = "scoring.work_own_hotlist_members"
CONFIGURE = "scoring.change_hotlist"

FILTERS = ("all", "mine", "unassigned", "not_followed", "removed")
RANKS = ("HOT", "WARM", "COLD")


# -- who may do what ------------------------------------------------------------------


def can_work_all(user) -> bool:
    return user.is_active and user.has_perm(WORK_ALL)


def can_use_workbench(user) -> bool:
    return user.is_active and (user.has_perm(WORK_ALL) or user.has_perm(WORK_OWN))


def members_visible_to(user, queryset: QuerySet[HotListMember] | None = None):
    """Inside sales (and marketers) see every member; a sales rep the members
    whose lead they own; anybody else none."""
    queryset = HotListMember.objects.all() if queryset is None else queryset
    if can_work_all(user):
        return queryset
    if user.is_active and user.has_perm(WORK_OWN):
        return queryset.filter(lead__owner=user)
    return queryset.none()


# -- lists and weeks ---------------------------------------------------------------------


def workbench_runs() -> list[HotListRun]:
    """The newest week of every active list, by list name."""
    latest = (
        HotListRun.objects.filter(hot_list__is_active=True)
        .order_by("hot_list_id", "-week_start")
        .distinct("hot_list_id")
        .values("pk")
    )
    return list(
        HotListRun.objects.filter(pk__in=latest)
        .select_related("hot_list")
        .order_by("hot_list__name")
    )


def run_get(run_id: int) -> HotListRun | None:
    return HotListRun.objects.select_related("hot_list").filter(pk=run_id).first()


def member_get(member_id: int, user) -> HotListMember | None:
    return (
        members_visible_to(user)
        .select_related("run__hot_list", "lead__owner", "lead__company")
        .filter(pk=member_id)
        .first()
    )


def _activities_since(run: HotListRun):
    return Activity.objects.filter(lead_id=OuterRef("lead_id"), created_at__gte=run.generated_at)


def run_members(run: HotListRun) -> QuerySet[HotListMember]:
    """The run's members in priority order, with ``followed`` (an activity was
    recorded since the list was made) and ``last_result`` annotated."""
    since = _activities_since(run)
    return (
        HotListMember.objects.filter(run=run)
        .select_related("lead__owner", "lead__company")
        .annotate(
            followed=Exists(since),
            last_result=Subquery(since.order_by("-created_at", "-id").values("result")[:1]),
        )
        .order_by("position", "id")
    )


def unfollowed_members(run: HotListRun) -> QuerySet[HotListMember]:
    return run_members(run).filter(removed_at__isnull=True, followed=False)


def filter_members(queryset, *, user, which: str = "all", rank: str = "") -> QuerySet:
    if which == "removed":
        queryset = queryset.filter(removed_at__isnull=False)
    else:
        queryset = queryset.filter(removed_at__isnull=True)
    if which == "mine":
        queryset = queryset.filter(lead__owner=user)
    elif which == "unassigned":
        queryset = queryset.filter(lead__owner__isnull=True)
    elif which == "not_followed":
        queryset = queryset.filter(followed=False)
    if rank in RANKS:
        queryset = queryset.filter(rank=rank)
    return queryset


def member_counts(queryset, *, user) -> dict[str, int]:
    """Counts for every filter button, in one aggregate query."""
    on_list = Q(removed_at__isnull=True)
    return queryset.aggregate(
        all=Count("id", filter=on_list),
        mine=Count("id", filter=on_list & Q(lead__owner=user)),
        unassigned=Count("id", filter=on_list & Q(lead__owner__isnull=True)),
        not_followed=Count("id", filter=on_list & Q(followed=False)),
        removed=Count("id", filter=Q(removed_at__isnull=False)),
        HOT=Count("id", filter=on_list & Q(rank="HOT")),
        WARM=Count("id", filter=on_list & Q(rank="WARM")),
        COLD=Count("id", filter=on_list & Q(rank="COLD")),
    )


def person(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user_display_name(user)}


def member_row(member: HotListMember) -> dict:
    lead = member.lead
    return {
        "id": member.pk,
        "lead": lead.pk,
        "position": member.position,
        "name": lead.full_name or lead.email,
        "email": lead.email,
        "company": lead.company.name if lead.company_id else lead.company_name,
        "title": lead.title,
        "phone": lead.phone,
        "rank": member.rank,
        "score": member.score,
        "rank_now": lead.rank,
        "score_now": lead.score,
        "last_behaviour_at": member.last_behaviour_at.isoformat()
        if member.last_behaviour_at
        else None,
        "reasons": member.reasons[:3],
        "owner": person(lead.owner),
        "followed": bool(getattr(member, "followed", False)),
        "last_result": getattr(member, "last_result", None) or "",
        "carried_over": member.carried_over,
        "removed": member.removed_at is not None,
        "removal_reason": member.removal_reason,
        "handoff": member.handoff,
    }


def colleagues() -> list[dict]:
    """People a lead can be given to from the workbench: active staff in a role
    that works the list."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename__in=["work_hotlist", "work_own_hotlist_members"])
        )
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    return [person(user) for user in users]


# -- what the mails tell ---------------------------------------------------------------


@dataclass
class RunSummary:
    members: int
    followed: int
    not_followed: list[HotListMember]
    removed: int
    outcomes: dict[str, int]


def run_summary(run: HotListRun) -> RunSummary:
    members = list(run_members(run))
    on_list = [m for m in members if m.removed_at is None]
    outcomes: dict[str, int] = {"opportunity": 0, "continue": 0, "archive": 0}
    for member in on_list:
        if member.last_result:
            outcomes[member.last_result] = outcomes.get(member.last_result, 0) + 1
    return RunSummary(
        members=len(on_list),
        followed=sum(1 for m in on_list if m.followed),
        not_followed=[m for m in on_list if not m.followed],
        removed=len(members) - len(on_list),
        outcomes=outcomes,
    )


def pending_handoffs() -> QuerySet[HotListMember]:
    """Members whose lead became an opportunity on the workbench and waits for
    the SFA (the sfa_sync outbox picks these up, oldest first)."""
    return (
        HotListMember.objects.filter(handoff="pending")
        .select_related("lead__owner", "run__hot_list")
        .order_by("handoff_requested_at", "id")
    )
