"""Which popup and which slot contents a browser gets (the snippet asks)."""

from __future__ import annotations

import datetime

from django.db.models import Q
from django.utils import timezone

from tracking.models import (
    Event,
    EventType,
    FormSubmission,
    Popup,
    PopupState,
    Site,
    SlotVariant,
    Visit,
    Visitor,
)
from tracking.writer import VISIT_GAP


def _in_segment(lead_id: int | None, segment) -> bool:
    if not lead_id or segment is None:
        return False
    from leads.segments import segment_leads_for

    return segment_leads_for(segment).filter(pk=lead_id).exists()


def visits_within(visitor: Visitor | None, days: int, new_visit: bool) -> int:
    """Visits that started in the last ``days`` days, counting the current one
    even when its first page view is still on its way to the database."""
    now = timezone.now()
    if visitor is None:
        return 1 if new_visit else 0
    visits = Visit.objects.filter(
        visitor=visitor, started_at__gte=now - datetime.timedelta(days=days)
    )
    count = visits.count()
    latest = visits.order_by("-last_event_at").values_list("last_event_at", flat=True).first()
    if new_visit and (latest is None or now - latest >= VISIT_GAP):
        count += 1
    return count


def page_views_within(visitor: Visitor | None, pattern: str, days: int, current_url: str) -> int:
    count = 1 if pattern in current_url else 0
    if visitor is None:
        return count
    return (
        count
        + Event.objects.filter(
            visitor_id=visitor.pk,
            type=EventType.PAGE_VIEW,
            occurred_at__gte=timezone.now() - datetime.timedelta(days=days),
            url__contains=pattern,
        )
        .exclude(url=current_url, occurred_at__gte=timezone.now() - datetime.timedelta(seconds=30))
        .count()
    )


def choose_popup(site: Site, visitor: Visitor | None, *, new_visit: bool, url: str) -> Popup | None:
    now = timezone.now()
    states = {s.popup_id: s for s in PopupState.objects.filter(visitor=visitor)} if visitor else {}
    lead_id = visitor.lead_id if visitor else None
    popups = Popup.objects.filter(Q(site=site) | Q(site__isnull=True), is_active=True)
    for popup in popups.select_related("segment", "form"):
        state = states.get(popup.pk)
        if state and state.converted_at:
            continue
        if (
            state
            and state.closed_at
            and now - state.closed_at < datetime.timedelta(days=popup.snooze_days)
        ):
            continue
        if popup.audience == Popup.Audience.ANONYMOUS and lead_id:
            continue
        if popup.audience == Popup.Audience.KNOWN and not lead_id:
            continue
        if (
            popup.form_id
            and lead_id
            and FormSubmission.objects.filter(form_id=popup.form_id, lead_id=lead_id).exists()
        ):
            continue  # converted already
        if popup.min_visits and visits_within(visitor, popup.within_days, new_visit) < (
            popup.min_visits
        ):
            continue
        if any(
            page_views_within(visitor, pattern, popup.within_days, url) < popup.page_views_each
            for pattern in popup.page_patterns
        ):
            continue
        if popup.segment_id and not _in_segment(lead_id, popup.segment):
            continue
        return popup
    return None


def record_popup(visitor: Visitor, popup: Popup, action: str) -> None:
    state, _created = PopupState.objects.get_or_create(visitor=visitor, popup=popup)
    now = timezone.now()
    if action == "shown":
        state.shown_at = now
        state.shown_count += 1
    elif action == "closed":
        state.closed_at = now
    elif action == "converted":
        state.converted_at = now
    state.save()


def slot_variant(slot_name: str, visitor: Visitor | None, *, new_visit: bool) -> SlotVariant | None:
    stored_visits = visitor.visit_count if visitor else 0
    returning = stored_visits >= 2 or (stored_visits >= 1 and new_visit)
    lead_id = visitor.lead_id if visitor else None
    variants = SlotVariant.objects.filter(slot__name=slot_name).select_related("segment")
    for variant in variants:
        rule = variant.rule
        if (
            (rule == SlotVariant.Rule.FIRST_VISIT and not returning)
            or (rule == SlotVariant.Rule.RETURNING and returning)
            or (rule == SlotVariant.Rule.KNOWN and lead_id)
            or (rule == SlotVariant.Rule.SEGMENT and _in_segment(lead_id, variant.segment))
            or rule == SlotVariant.Rule.DEFAULT
        ):
            return variant
    return None
