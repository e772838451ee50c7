"""sfa_sync's panel on the lead page: where the lead was handed over, what is
waiting or failed, and a button to hand it over (or re-send it) now."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from leads.models import Lead
from leads.panels import register_lead_panel
from sfa_sync.models import Connector
from sfa_sync.selectors import lead_open_outbox, lead_sync_links


def sfa_panel(request: HttpRequest, lead: Lead) -> str:
    if not request.user.has_perm("sfa_sync.view_synclink"):
        return ""
    context = {
        "links": list(lead_sync_links(lead.pk)),
        "outbox": list(lead_open_outbox(lead.pk)),
        "has_connectors": Connector.objects.filter(is_active=True).exists(),
        "can_hand_over": request.user.has_perm("sfa_sync.handoff_lead"),
        "handoff_url": reverse("admin:sfa_sync_synclink_handoff", args=[lead.pk]),
    }
    return render_to_string("admin/sfa_sync/lead_sfa_panel.html", context, request=request)


def register() -> None:
    register_lead_panel("sfa_sync.handoff", sfa_panel)
