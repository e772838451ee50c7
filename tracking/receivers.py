"""How tracking reacts to leads' signals."""

from django.db import connection
from django.db.models.signals import post_delete
from django.dispatch import receiver

from leads.models import Lead
from leads.signals import lead_merging
from tracking.models import EventType, FormSubmission, Identification, Visit, Visitor
from tracking.signals import events_recorded


@receiver(lead_merging, dispatch_uid="tracking-lead-merging")
def move_behaviour_to_survivor(sender, survivor_id: int, merged_id: int, moved: dict, **kwargs):
    """Inside the merge transaction: the merged lead's web history becomes the survivor's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tracking_event SET lead_id = %s WHERE lead_id = %s", [survivor_id, merged_id]
        )
        moved["events"] = cursor.rowcount
    moved["visitors"] = Visitor.objects.filter(lead_id=merged_id).update(lead_id=survivor_id)
    moved["visits"] = Visit.objects.filter(lead_id=merged_id).update(lead_id=survivor_id)
    Identification.objects.filter(lead_id=merged_id).update(lead_id=survivor_id)
    moved["form_submissions"] = FormSubmission.objects.filter(lead_id=merged_id).update(
        lead_id=survivor_id
    )


@receiver(post_delete, sender=Lead, dispatch_uid="tracking-lead-deleted")
def forget_deleted_lead(sender, instance: Lead, **kwargs) -> None:
    """A deleted lead's behaviour goes with it (the event table has no foreign
    key, so nothing else would remove it)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tracking_event WHERE lead_id = %s", [instance.pk])


@receiver(events_recorded, dispatch_uid="tracking-lead-touches")
def refresh_touches(sender, by_lead: dict, **kwargs) -> None:
    """A known lead's new visit may come from a new campaign: keep the lead's
    last touch current (one statement for the batch's leads)."""
    from tracking.services import lead_touches_refresh

    visited = [lead_id for lead_id, types in by_lead.items() if EventType.PAGE_VIEW in types]
    lead_touches_refresh(visited)
