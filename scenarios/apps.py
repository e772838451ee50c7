from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScenariosConfig(AppConfig):
    name = "scenarios"
    verbose_name = _("Scenarios")

    def ready(self) -> None:
        from scenarios import receivers, timeline  # noqa: F401 - connects the receivers

        timeline.register()
