"""Scoring tasks: thin, carry ids, safe to run twice (recomputing is idempotent)."""

from __future__ import annotations

from celery import shared_task

#: Leads scored per task: one statement over this many ids stays well under a second.
LEADS_PER_TASK = 10_000


@shared_task(name="scoring.tasks.score_leads")
def score_leads(lead_ids: list[int], since: str | None = None) -> int:
    """``since``: the local day (ISO) of the earliest new event, when known."""
    import datetime

    from scoring.services import score_after_events

    day = datetime.date.fromisoformat(since) if since else None
    return score_after_events(lead_ids, since=day)["changed"]


@shared_task(name="scoring.tasks.rescore_all")
def rescore_all(job_id: int, rule_ids: list[int] | None = None) -> None:
    """Recount the ledger (the rows of rules whose matching changed when
    ``rule_ids`` is a list, all of it when None), then recompute every lead. Claims the job with
    a conditional UPDATE, so a duplicate delivery does nothing; the steps only
    recompute, so a job re-run after a crash gives the same result."""
    from scoring.services import rescore_job_run

    rescore_job_run(job_id=job_id, rule_ids=rule_ids)


@shared_task(name="scoring.tasks.daily_rescore")
def daily_rescore() -> int:
    """Days leave the window every night: catch up, prune, rescore everyone,
    snapshot (each step one statement over every lead)."""
    from scoring.services import scores_daily

    return scores_daily()["changed"]
