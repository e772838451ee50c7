from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        from scoring import receivers, timeline  # noqa: F401 - connects the signal receivers

        timeline.register()
        from scoring.hotlists import hooks  # noqa: F401 - HOT lists: admin, tasks, preset
