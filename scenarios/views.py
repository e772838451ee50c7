"""Public mail endpoints: click redirect, open pixel, unsubscribe and preferences.

They are reached from mail clients, without login; the signed token in the
address is the authority. The one-click POST (RFC 8058) carries no CSRF
token by design, so these views are CSRF-exempt.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from leads.models import Lead, Suppression
from scenarios import links, services
from scenarios.models import Send

log = logging.getLogger(__name__)

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x01D\x00;"
)
#: The tracking snippet's first-party visitor cookie (tracking/static_src/kizuki.js).
VISITOR_COOKIE = "_kz_vid"


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "scenarios/message.html",
        {"title": _("Link not valid"),
         "message": _("This link is not valid. It may have been copied incompletely.")},
        status=404,
    )  # fmt: skip


@never_cache
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to a link of the mail; only to a link that mail contained."""
    parsed = links.read_click_token(token)
    if parsed is None:
        return _not_found(request)
    send_id, index = parsed
    send = Send.objects.select_related("lead").filter(pk=send_id).first()
    if send is None or index >= len(send.links):
        return _not_found(request)
    anon_id = request.COOKIES.get(VISITOR_COOKIE, "")
    if not anon_id or len(anon_id) > 64 or not all(c.isalnum() or c in "-_" for c in anon_id):
        anon_id = ""
    try:
        url = services.mail_clicked(send=send, index=index, anon_id=anon_id or None)
    except Exception:  # recording must never keep a reader from their link
        log.exception("click on send %s not recorded", send_id)
        url = send.links[index]
    return HttpResponseRedirect(url)


@never_cache
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    send_id = links.read_open_token(token)
    if send_id is not None:
        send = Send.objects.filter(pk=send_id).first()
        if send is not None:
            try:
                services.mail_opened(send=send)
            except Exception:
                log.exception("open of send %s not recorded", send_id)
    return HttpResponse(PIXEL, content_type="image/gif")


@csrf_exempt
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the preference page. POST ``List-Unsubscribe=One-Click`` (RFC 8058):
    unsubscribe from everything at once. POST ``choice=newsletter|email``:
    the preference page's answer. Idempotent."""
    lead_id = links.read_unsubscribe_token(token)
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id is not None else None
    if lead is None:
        if request.method == "POST":
            return HttpResponse(_("This unsubscribe link is not valid."), status=400)
        return _not_found(request)
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") == "One-Click":
            services.lead_unsubscribe(
                lead=lead, channel=Suppression.Channel.EMAIL, detail="List-Unsubscribe one-click"
            )
            return HttpResponse(_("You are unsubscribed."), content_type="text/plain")
        choice = request.POST.get("choice")
        if choice not in (Suppression.Channel.NEWSLETTER, Suppression.Channel.EMAIL):
            return render(
                request, "scenarios/preferences.html",
                {"lead": lead, "error": _("Choose one of the options."),
                 "current": _current(lead)},
                status=400,
            )  # fmt: skip
        services.lead_unsubscribe(lead=lead, channel=choice, detail="preference page")
        return render(
            request, "scenarios/preferences.html",
            {"lead": lead, "done": True, "current": _current(lead)},
        )  # fmt: skip
    return render(request, "scenarios/preferences.html", {"lead": lead, "current": _current(lead)})


def _current(lead: Lead) -> set[str]:
    return set(
        Suppression.objects.filter(lead=lead, lifted_at__isnull=True).values_list(
            "channel", flat=True
        )
    )
