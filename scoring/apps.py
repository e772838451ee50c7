from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        from scoring import panels, receivers, timeline  # noqa: F401 - connects the receivers
        from scoring.alerts import admin, tasks  # noqa: F401 - registers the alerts' admin, tasks
        from scoring.alerts import receivers as alert_receivers  # noqa: F401

        timeline.register()
        panels.register()
        from scoring.hotlists import hooks  # noqa: F401 - HOT lists: admin, tasks, preset
