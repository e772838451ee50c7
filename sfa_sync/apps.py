from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SfaSyncConfig(AppConfig):
    name = "sfa_sync"
    verbose_name = _("SFA sync")

    def ready(self) -> None:
        from sfa_sync import panels, receivers, tasks, timeline  # noqa: F401 - connects them

        timeline.register()
        panels.register()
