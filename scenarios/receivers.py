"""Bounces and complaints from any ESP, through django-anymail's tracking signal."""

from __future__ import annotations

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

from leads.signals import lead_merging, lead_suppressed, tags_changed
from scenarios.models import Bounce
from scoring.signals import rank_changed
from tracking.signals import events_recorded

#: Anymail's normalized event types → our bounce kinds. "deferred" is a
#: temporary failure the ESP retries (a soft bounce); "bounced" is permanent.
KINDS = {
    "bounced": Bounce.Kind.HARD,
    "complained": Bounce.Kind.COMPLAINT,
    "deferred": Bounce.Kind.SOFT,
}


@receiver(tracking, dispatch_uid="scenarios.bounces")
def on_tracking_event(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    from scenarios.services import bounce_record

    kind = KINDS.get(event.event_type)
    if kind is None or not event.recipient:
        return
    event_id = f"{esp_name}:{event.event_id}" if event.event_id else ""
    bounce_record(
        email=event.recipient,
        kind=kind,
        esp_event_id=event_id[:200],
        detail=str(event.mta_response or event.description or event.reject_reason or "")[:500],
        occurred_at=event.timestamp,
    )


@receiver(tags_changed, dispatch_uid="scenarios.step_mail_tags")
def on_tags_changed(sender, lead_ids: list[int], tag: str, action: str, **kwargs) -> None:
    from scenarios.step_mail import on_tag_added

    if action == "added":
        on_tag_added(lead_ids=list(lead_ids), tag=tag)
    from scenarios.engine import on_tags_changed as scenario_tags_changed

    scenario_tags_changed(lead_ids=list(lead_ids), tag=tag, action=action)


@receiver(lead_suppressed, dispatch_uid="scenarios.step_mail_suppressed")
def on_lead_suppressed(sender, lead_id: int, channel: str, reason: str, **kwargs) -> None:
    """Unsubscribed from all marketing mail (or bounced): leave every sequence."""
    from django.utils.translation import gettext as _

    from leads.models import Suppression
    from scenarios.step_mail import enrollments_exit

    if channel == Suppression.Channel.EMAIL:
        enrollments_exit(lead_ids=[lead_id], reason=_("Unsubscribed or suppressed"))
        from scenarios.engine import enrollments_leave
        from scenarios.models import Scenario

        enrollments_leave(
            lead_ids=[lead_id],
            scenario_ids=list(
                Scenario.objects.filter(exit_on_unsubscribe=True).values_list("pk", flat=True)
            ),
            reason=_("Unsubscribed or suppressed"),
        )


@receiver(lead_merging, dispatch_uid="scenarios.lead_merging")
def on_lead_merging(sender, survivor_id: int, merged_id: int, moved: dict, **kwargs) -> None:
    """Inside the merge transaction: the merged lead's mail history, bounces and
    step mail become the survivor's. A source that mailed both keeps the
    survivor's row (UNIQUE lead + source); a sequence both are in keeps the
    survivor's enrollment. What is not moved goes with the merged lead."""
    from django.db import connection

    from scenarios.models import Bounce

    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE scenarios_enrollment e SET lead_id = %(s)s
             WHERE e.lead_id = %(m)s
               AND NOT (e.state = 'active' AND EXISTS (
                   SELECT 1 FROM scenarios_enrollment x
                    WHERE x.lead_id = %(s)s AND x.sequence_id = e.sequence_id
                      AND x.state = 'active'))
            """,
            {"s": survivor_id, "m": merged_id},
        )
        moved["enrollments"] = cursor.rowcount
        cursor.execute(
            """
            UPDATE scenarios_send d SET lead_id = %(s)s
             WHERE d.lead_id = %(m)s
               AND NOT EXISTS (SELECT 1 FROM scenarios_send x
                                WHERE x.lead_id = %(s)s AND x.source_key = d.source_key)
            """,
            {"s": survivor_id, "m": merged_id},
        )
        moved["mail_sends"] = cursor.rowcount
        cursor.execute(
            "UPDATE scenarios_scenarioenrollment SET lead_id = %(s)s WHERE lead_id = %(m)s",
            {"s": survivor_id, "m": merged_id},
        )
        moved["scenario_enrollments"] = cursor.rowcount
    moved["mail_bounces"] = Bounce.objects.filter(lead_id=merged_id).update(lead_id=survivor_id)


@receiver(events_recorded, dispatch_uid="scenarios.scenario_events")
def on_events_recorded(sender, by_lead: dict, earliest: dict | None = None, **kwargs) -> None:
    """Form submitted, page visited, email clicked, returned after absence."""
    from scenarios.engine import on_events_recorded as scenario_events

    scenario_events(by_lead=by_lead, earliest=earliest)


@receiver(rank_changed, dispatch_uid="scenarios.scenario_ranks")
def on_rank_changed(sender, changes: list, **kwargs) -> None:
    from scenarios.engine import on_rank_changed as scenario_ranks

    scenario_ranks(changes=changes)
