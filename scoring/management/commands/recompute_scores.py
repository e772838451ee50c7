"""``manage.py recompute_scores``: rebuild the score ledger from events and
recompute every lead's score and rank, now (what a rule change does in the
background). Set-based: two statements however many leads there are."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from scoring import services


class Command(BaseCommand):
    help = "Rebuild the score ledger from events and recompute every lead's score and rank."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--snapshot",
            action="store_true",
            help="Also write today's score snapshot (the trend charts' point for today).",
        )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        step_started = started
        labels = {
            "ledger": _("Step 1/2: ledger rebuilt from events: %(count)d rows (%(seconds).1f s)"),
            "scores": _("Step 2/2: scores recomputed: %(count)d leads changed (%(seconds).1f s)"),
        }

        def progress(step: str, count: int) -> None:
            nonlocal step_started
            now = time.monotonic()
            self.stdout.write(labels[step] % {"count": count, "seconds": now - step_started})
            step_started = now

        self.stdout.write(_("Recomputing every score…"))
        result = services.scores_recompute(progress=progress)
        moved = len(result["rank_changes"])
        self.stdout.write(
            _("%(count)d leads changed rank (recorded on their timelines).") % {"count": moved}
        )
        if options["snapshot"]:
            written = services.snapshots_write()
            self.stdout.write(_("Today's snapshot: %(count)d leads.") % {"count": written})
        self.stdout.write(
            self.style.SUCCESS(
                _("Done in %(seconds).1f s.") % {"seconds": time.monotonic() - started}
            )
        )
