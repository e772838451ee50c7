"""Bounces and complaints from any ESP, through django-anymail's tracking signal."""

from __future__ import annotations

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

from leads.signals import lead_suppressed, tags_changed
from scenarios.models import Bounce

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


@receiver(lead_suppressed, dispatch_uid="scenarios.step_mail_suppressed")
def on_lead_suppressed(sender, lead_id: int, channel: str, reason: str, **kwargs) -> None:
    """Unsubscribed from all marketing mail (or bounced): leave every sequence."""
    from django.utils.translation import gettext as _

    from leads.models import Suppression
    from scenarios.step_mail import enrollments_exit

    if channel == Suppression.Channel.EMAIL:
        enrollments_exit(lead_ids=[lead_id], reason=_("Unsubscribed or suppressed"))
