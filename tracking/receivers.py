"""How tracking reacts to leads' signals."""

from django.db import connection
from django.dispatch import receiver

from leads.signals import lead_merging
from tracking.models import FormSubmission, Identification, Visit, Visitor


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
