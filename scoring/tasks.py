"""Scoring tasks: thin, carry ids, safe to run twice (recomputing is idempotent)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

#: Leads scored per task: one statement over this many ids stays well under a second.
LEADS_PER_TASK = 10_000


@shared_task(name="scoring.tasks.score_leads")
def score_leads(lead_ids: list[int]) -> int:
    from scoring.services import score_after_events

    return score_after_events(lead_ids)["changed"]


@shared_task(name="scoring.tasks.rescore_all")
def rescore_all(job_id: int, rule_ids: list[int] | None = None) -> None:
    """Rebuild changed rules' ledger entries, then recompute every lead."""
    from scoring.models import RescoreJob
    from scoring.services import ledger_from_events, rule_ledger_rebuild
    from scoring.services import score_leads as recompute

    claimed = RescoreJob.objects.filter(pk=job_id, state=RescoreJob.State.PENDING).update(
        state=RescoreJob.State.RUNNING
    )
    if not claimed:
        return
    try:
        if rule_ids:
            rule_ledger_rebuild(rule_ids)
        RescoreJob.objects.filter(pk=job_id).update(done_steps=1)
        ledger_from_events()
        RescoreJob.objects.filter(pk=job_id).update(done_steps=2)
        result = recompute(None)
        RescoreJob.objects.filter(pk=job_id).update(
            state=RescoreJob.State.DONE,
            done_steps=3,
            leads_changed=result["changed"],
            finished_at=timezone.now(),
        )
    except Exception as exc:
        RescoreJob.objects.filter(pk=job_id).update(
            state=RescoreJob.State.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise


@shared_task(name="scoring.tasks.daily_rescore")
def daily_rescore() -> int:
    """Entries leave the window every day: recompute everyone (one statement)."""
    from scoring.services import score_leads as recompute

    return recompute(None)["changed"]
