"""Conditions on how many rows a lead has ("activities >= 3 in 30 days").

Shared with the kinds other apps register (page views, form submissions,
email clicks), so every count condition behaves the same.

Every count comparison is written with "has at least n rows", an EXISTS
over the lead's rows that stops reading after the n-th one (``OFFSET n-1
LIMIT 1``) on an index such as ``(lead_id, occurred_at)``:

- no counting over a join, so nothing is grouped or de-duplicated;
- leads without any row are handled by the same NOT EXISTS that handles
  the others, so ``= 0`` and ``< 3`` include them (a grouped count over the
  rows would silently leave them out);
- ``>= 1`` and ``= 0`` are plain EXISTS / NOT EXISTS, which PostgreSQL turns
  into semi- and anti-joins (or hashed subplans under OR).
"""

from __future__ import annotations

from django.db.models import Exists, Q, QuerySet

from leads.segments import params as p
from leads.segments.params import EVERY_LEAD, NO_LEAD

COUNT_OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "between")


def has_at_least(rows: QuerySet, n: int) -> Q:
    """``rows`` must already be correlated to the lead: ``lead=OuterRef("pk")``."""
    if n <= 0:
        return EVERY_LEAD
    return Q(Exists(rows[n - 1 : n]))


def count_condition(rows: QuerySet, op: str, value: int | list[int]) -> Q:
    """The leads whose number of ``rows`` compares to ``value`` by ``op``."""
    if op == "between":
        low, high = value
        return has_at_least(rows, low) & ~has_at_least(rows, high + 1)
    n = int(value)
    if op == ">=":
        return has_at_least(rows, n)
    if op == ">":
        return has_at_least(rows, n + 1)
    if op == "<":
        return ~has_at_least(rows, n) if n > 0 else NO_LEAD
    if op == "<=":
        return ~has_at_least(rows, n + 1)
    exactly = has_at_least(rows, n) & ~has_at_least(rows, n + 1)
    if op == "=":
        return exactly
    if op == "!=":
        return ~exactly
    raise ValueError(op)


def clean_count_params(params: dict, extra: tuple[str, ...] = ()) -> dict:
    """Validate the common part of a count block: op, value (a pair for
    "between") and an optional within_days; ``extra`` names the kind's own
    parameters, which the kind cleans itself."""
    p.reject_unknown(params, ("op", "value", "within_days", *extra))
    op = p.clean_op(params, COUNT_OPERATORS)
    p.require(params, "value")
    value = (
        p.clean_pair(params["value"], p.clean_count)
        if op == "between"
        else p.clean_count(params["value"])
    )
    cleaned: dict = {"op": op, "value": value}
    if params.get("within_days") not in (None, ""):
        cleaned["within_days"] = p.clean_days(params["within_days"])
    return cleaned
