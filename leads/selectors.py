"""Reads of the lead database for pages and APIs; writes live in ``leads.services``.

Every read here is meant to stay cheap at a million leads: lists are ordered
by an indexed column and sliced, counts are bounded (see ``lead_count``).
"""

from __future__ import annotations

import datetime
import functools
import json
import unicodedata
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Concat, Lower

from leads.models import (
    Activity,
    ActivityChoice,
    ActivityCorrection,
    Company,
    Consent,
    CustomField,
    Lead,
    LeadTag,
    ListMembership,
    Segment,
    StaticList,
    Suppression,
    Tag,
)

#: Up to this many matching rows a list shows an exact count; beyond it an
#: estimate. Counting 10,001 rows through an index takes a few milliseconds;
#: counting a million takes a few hundred on every page view.
COUNT_EXACT_UP_TO = 10_000


# -- people ---------------------------------------------------------------------------


def user_display_name(user) -> str:
    """A user as Japanese teams write names: 姓 名, else the login name."""
    name = " ".join(part for part in (user.last_name, user.first_name) if part)
    return name or user.get_username()


def owner_candidates(including: int | None = None) -> QuerySet:
    """Users a lead can be assigned to: active staff, by family name, plus the
    current owner (``including``) even when they are no longer staff."""
    wanted = Q(is_active=True, is_staff=True)
    if including is not None:
        wanted |= Q(pk=including)
    return get_user_model().objects.filter(wanted).order_by("last_name", "first_name", "username")


# -- the lead list ------------------------------------------------------------------


@dataclass(frozen=True)
class LeadListFilters:
    """What a lead list (admin or API) is narrowed by; None or empty means "any"."""

    tag_id: int | None = None
    tag_names: tuple[str, ...] = ()
    stage: str | None = None
    rank: str | None = None
    owner_id: int | None = None
    owner_username: str = ""
    without_owner: bool = False
    static_list_id: int | None = None
    company_id: int | None = None
    company_name: str = ""
    email: str = ""
    segment: Segment | None = None
    updated_since: datetime.datetime | None = None
    search: str = ""


def leads_visible_to(user, queryset: QuerySet[Lead] | None = None) -> QuerySet[Lead]:
    """The leads a user may see. A sales rep (who has no other role) sees the
    leads they own; marketers, inside sales and admins see every lead."""
    from ma_core.roles import SALES_REP

    queryset = Lead.objects.all() if queryset is None else queryset
    if user.is_superuser:
        return queryset
    roles = set(user.groups.values_list("name", flat=True))
    if roles == {SALES_REP}:
        return queryset.filter(owner=user)
    return queryset


def lead_list(filters: LeadListFilters | None = None) -> QuerySet[Lead]:
    """Leads newest first, each filter one indexed condition."""
    queryset = Lead.objects.select_related("owner", "company").order_by("-id")
    return queryset if filters is None else leads_filtered(queryset, filters)


def leads_filtered(queryset: QuerySet[Lead], filters: LeadListFilters) -> QuerySet[Lead]:
    """Narrow any lead queryset (the admin list, the API's visible leads)."""
    if filters.email:
        queryset = queryset.filter(email__lower=filters.email.strip().lower())
    if filters.tag_id is not None:
        queryset = leads_with_tag(queryset, filters.tag_id)
    for name in filters.tag_names:
        queryset = queryset.filter(
            Exists(LeadTag.objects.filter(lead_id=OuterRef("pk"), tag__name=name))
        )
    if filters.stage:
        queryset = queryset.filter(stage=filters.stage)
    if filters.rank:
        queryset = queryset.filter(rank=filters.rank)
    if filters.without_owner:
        queryset = queryset.filter(owner__isnull=True)
    elif filters.owner_id is not None:
        queryset = queryset.filter(owner_id=filters.owner_id)
    elif filters.owner_username:
        queryset = queryset.filter(owner__username=filters.owner_username)
    if filters.static_list_id is not None:
        queryset = leads_in_list(queryset, filters.static_list_id)
    if filters.company_id is not None:
        queryset = queryset.filter(company_id=filters.company_id)
    if filters.company_name:
        queryset = queryset.filter(company_name__icontains=filters.company_name)
    if filters.segment is not None:
        from leads.segments import segment_leads_for

        queryset = queryset.filter(pk__in=segment_leads_for(filters.segment).values("pk"))
    if filters.updated_since is not None:
        queryset = queryset.filter(updated_at__gte=filters.updated_since)
    if filters.search:
        queryset = lead_search(queryset, filters.search)
    return queryset


def leads_with_tag(queryset: QuerySet[Lead], tag_id: int) -> QuerySet[Lead]:
    # EXISTS rather than a join: a join through lead_tags could repeat a lead
    # and would make the admin add DISTINCT, which sorts the whole result.
    return queryset.filter(Exists(LeadTag.objects.filter(lead_id=OuterRef("pk"), tag_id=tag_id)))


def leads_in_list(queryset: QuerySet[Lead], static_list_id: int) -> QuerySet[Lead]:
    return queryset.filter(
        Exists(
            ListMembership.objects.filter(
                lead_id=OuterRef("pk"), static_list_id=static_list_id, removed_at__isnull=True
            )
        )
    )


def lead_search(queryset: QuerySet[Lead], term: str) -> QuerySet[Lead]:
    """Search by email prefix, name or company.

    A term with "@" matches email prefixes only; on a database whose collation
    orders text by code point (C, C.UTF-8) that is a range scan of the unique
    ``lower(email)`` index. Other terms compare names by prefix and company
    names by substring, which no index serves (see the note on trigram indexes
    in the admin docs), so Japanese terms skip UPPER() on every row: kana and
    kanji have no case. Full-width input (ｓａｔｏ＠…) is folded first, as IMEs
    often produce it. A term with a space is read as 姓 名.
    """
    term = unicodedata.normalize("NFKC", term).strip()
    if not term:
        return queryset
    queryset = queryset.annotate(email_lower=Lower("email"))
    if "@" in term:
        return _email_prefix(queryset, term.lower())
    latin = term.isascii()
    starts, contains = ("istartswith", "icontains") if latin else ("startswith", "contains")
    parts = term.split()
    if len(parts) >= 2:
        by_name = Q(**{"last_name__iexact" if latin else "last_name": parts[0]}) & Q(
            **{f"first_name__{starts}": parts[1]}
        )
        return queryset.filter(by_name | Q(**{f"company_name__{contains}": term}))
    condition = (
        Q(**{f"last_name__{starts}": term})
        | Q(**{f"first_name__{starts}": term})
        | Q(**{f"company_name__{contains}": term})
    )
    if latin:
        condition |= Q(email_lower__startswith=term.lower())
    else:
        condition |= Q(last_name_kana__startswith=term)
        queryset = queryset.annotate(name_joined=Concat("last_name", Value(""), "first_name"))
        condition |= Q(name_joined__startswith=term)
    return queryset.filter(condition)


def _email_prefix(queryset: QuerySet[Lead], prefix: str) -> QuerySet[Lead]:
    matching = queryset.filter(email_lower__startswith=prefix)
    if not _text_sorts_by_code_point():
        return matching
    # LIKE 'x%' uses a plain btree index only under the "C" collation, so say
    # the same as a range the index serves; the LIKE stays for exactness.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return matching.filter(email_lower__gte=prefix, email_lower__lt=upper)


@functools.cache
def _text_sorts_by_code_point() -> bool:
    """Whether the database orders text by code point (C, POSIX, C.UTF-8).

    Only then is "prefix <= x < next prefix" the same as "x starts with prefix";
    under a linguistic collation (en_US.UTF-8, ja_JP.UTF-8) punctuation is
    weighed differently and the range would miss addresses.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        collation = cursor.fetchone()[0]
    return collation in ("C", "POSIX") or collation.upper().startswith("C.")


@dataclass(frozen=True)
class RowCount:
    value: int
    is_estimate: bool


def estimated_count(queryset: QuerySet) -> RowCount:
    """How many rows a list holds (leads, consents…), without counting a million.

    First a bounded count (``COUNT(*)`` over ``LIMIT COUNT_EXACT_UP_TO + 1``):
    exact for small results. When there are more, an estimate: for the whole
    table PostgreSQL's row count from ``pg_class.reltuples`` (kept by
    autovacuum/ANALYZE), for a filtered list the planner's row estimate.
    """
    bounded = queryset.order_by()[: COUNT_EXACT_UP_TO + 1].count()
    if bounded <= COUNT_EXACT_UP_TO:
        return RowCount(bounded, is_estimate=False)
    if not queryset.query.where:
        estimate = _table_row_estimate(queryset.model._meta.db_table)
    else:
        estimate = _planner_row_estimate(queryset)
    return RowCount(max(estimate or 0, COUNT_EXACT_UP_TO + 1), is_estimate=True)


def _table_row_estimate(table: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    # -1 means the table was never analyzed.
    return row[0] if row and row[0] >= 0 else None


def _planner_row_estimate(queryset: QuerySet) -> int:
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # The SQL is Django's own compilation of the queryset; values stay parameters.
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# -- one lead -------------------------------------------------------------------------


def lead_get(lead_id: int) -> Lead | None:
    return Lead.objects.select_related("owner", "company").filter(pk=lead_id).first()


def lead_by_email(email: str) -> Lead | None:
    """The lead with this email, case-insensitively, through the ``lower(email)``
    unique index (``email__iexact`` compiles to UPPER(), which no index serves)."""
    return (
        Lead.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=email.strip().lower())
        .first()
    )


def lead_tags(lead: Lead) -> list[LeadTag]:
    return list(
        LeadTag.objects.filter(lead=lead).select_related("tag", "added_by").order_by("tag__name")
    )


def lead_consents(lead: Lead) -> list[Consent]:
    return list(
        Consent.objects.filter(lead=lead).select_related("recorded_by").order_by("-obtained_at")
    )


def lead_suppressions(lead: Lead) -> list[Suppression]:
    """Active suppressions first, then lifted ones; newest first within each."""
    return list(
        Suppression.objects.filter(lead=lead)
        .select_related("lifted_by")
        .order_by("-lifted_at", "-created_at")
    )


def lead_list_memberships(lead: Lead) -> list[ListMembership]:
    return list(
        ListMembership.objects.filter(lead=lead)
        .select_related("static_list", "added_by", "removed_by")
        .order_by("-added_at")
    )


def lead_recent_activities(lead: Lead, limit: int = 10) -> list[Activity]:
    return list(
        Activity.objects.filter(lead=lead)
        .select_related("actor")
        .prefetch_related(
            Prefetch(
                "corrections",
                queryset=ActivityCorrection.objects.select_related("corrected_by").order_by(
                    "corrected_at"
                ),
            )
        )
        .order_by("-occurred_at", "-id")[:limit]
    )


def activity_get(*, lead_id: int, activity_id: int) -> Activity | None:
    return (
        Activity.objects.select_related("lead", "actor")
        .filter(pk=activity_id, lead_id=lead_id)
        .first()
    )


def lead_merge_summaries(lead_ids: list[int]) -> list[Lead]:
    """The leads a merge is about, with what each would bring along."""
    return list(
        Lead.objects.filter(pk__in=lead_ids)
        .select_related("owner", "company")
        .annotate(
            activity_count=Count("activities", distinct=True),
            tag_count=Count("lead_tags", distinct=True),
        )
        .order_by("pk")
    )


# -- settings the pages need ---------------------------------------------------------


def activity_choices(kind: str) -> list[tuple[str, str]]:
    """Active choices of one list (type, result or source), in their order."""
    return list(
        ActivityChoice.objects.filter(kind=kind, is_active=True)
        .order_by("position", "id")
        .values_list("code", "label")
    )


def activity_choice_labels() -> dict[tuple[str, str], str]:
    """{(kind, code): label}, inactive ones included: old activities keep their names."""
    return {
        (kind, code): label
        for kind, code, label in ActivityChoice.objects.values_list("kind", "code", "label")
    }


def custom_field_definitions() -> list[CustomField]:
    return list(CustomField.objects.filter(is_active=True).order_by("position", "id"))


def tag_names(limit: int = 500) -> list[str]:
    """Tag names offered while typing a tag (most recently created first)."""
    return list(Tag.objects.order_by("-created_at").values_list("name", flat=True)[:limit])


def tag_in_use(tag: Tag) -> bool:
    return LeadTag.objects.filter(tag=tag).exists() or tag.changes.exists()


def company_with_lead_count(company_id: int) -> Company | None:
    return Company.objects.annotate(lead_count=Count("leads")).filter(pk=company_id).first()


def static_list_member_count(static_list: StaticList) -> int:
    return ListMembership.objects.filter(static_list=static_list, removed_at__isnull=True).count()


def leads_by_emails(emails: list[str]) -> tuple[list[int], list[str]]:
    """Ids of the leads with these emails (case-insensitive) and the emails not found."""
    wanted = {email.strip().lower() for email in emails if email.strip()}
    found = dict(
        Lead.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=wanted)
        .values_list("email_lower", "pk")
    )
    return list(found.values()), sorted(wanted - set(found))
