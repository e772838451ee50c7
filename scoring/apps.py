from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        from scoring import panels, receivers, timeline  # noqa: F401 - connects the receivers

        timeline.register()
        panels.register()
