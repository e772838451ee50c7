"""Imported from ``ScoringConfig.ready()``: the admin, the tasks and the
dig-up preset of the HOT lists (a package Django's autodiscovery does not see)."""

from scoring.hotlists import admin, presets, tasks  # noqa: F401 - registers
