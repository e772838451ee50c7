from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = _("Tracking")

    def ready(self) -> None:
        from tracking import receivers, search_blocks, timeline  # noqa: F401 - registers

        timeline.register()
