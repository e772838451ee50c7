"""Mail tasks (queue "mail"): thin, safe to run twice, started by beat.

The dispatcher claims rows in PostgreSQL, so two dispatchers running at once
(a duplicate beat tick, two workers) never send a row twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.exceptions import ValidationError

log = logging.getLogger(__name__)


@shared_task(name="scenarios.tasks.dispatch")
def dispatch() -> dict:
    """Materialize due newsletters, advance due step mail, then deliver due sends."""
    from scenarios import engine
    from scenarios.sending import sends_dispatch
    from scenarios.services import newsletters_finish, newsletters_materialize_due
    from scenarios.step_mail import ADVANCE_BATCH, enrollments_advance

    newsletters_materialize_due()
    for _batch in range(20):
        if enrollments_advance() < ADVANCE_BATCH:
            break
    engine.scenario_exits_sweep()
    engine.scenario_triggers_check()
    for _batch in range(20):
        if engine.scenario_enrollments_advance() == 0:
            break
    engine.scenario_actions_deliver()
    try:
        result = sends_dispatch()
    except ValidationError as exc:  # no sender profile yet: nothing may go out
        log.warning("mail not dispatched: %s", "; ".join(exc.messages))
        return {}
    newsletters_finish()
    return result
