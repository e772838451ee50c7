"""Extra panels on the lead page, contributed by other apps.

``leads`` imports no other app (DESIGN.md), so an app that has something to
show beside a lead registers a renderer here from its ``AppConfig.ready()``::

    from leads.panels import register_lead_panel

    def score_panel(request, lead) -> str:  # safe HTML, or "" to show nothing
        return render_to_string("admin/scoring/lead_score_panel.html", {...}, request)

    register_lead_panel("scoring.score", score_panel)

Panels appear in registration order after the lead's summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from leads.models import Lead

logger = logging.getLogger(__name__)

LeadPanel = Callable[[HttpRequest, Lead], str]
_PANELS: dict[str, LeadPanel] = {}


def register_lead_panel(name: str, render: LeadPanel) -> None:
    _PANELS[name] = render


def lead_panels(request: HttpRequest, lead: Lead) -> list[SafeString]:
    """Each registered panel's HTML for this lead; a panel that fails is left
    out (and logged) rather than breaking the lead page."""
    html = []
    for name, render in _PANELS.items():
        try:
            part = render(request, lead)
        except Exception:
            logger.exception("lead panel %s failed for lead %s", name, lead.pk)
            continue
        if part:
            html.append(mark_safe(part))  # noqa: S308 - renderers return rendered templates
    return html
