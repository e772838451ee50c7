"""/t/decide (popup and slot contents for this browser) and /t/popup (close/convert)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from tracking.decisions import choose_popup, record_popup, slot_variant
from tracking.intake import (
    IntakeError,
    origin_allowed,
    read_collect_payload,
    site_for_key,
    valid_anon_id,
)
from tracking.lead_forms import LeadCaptureForm, _localized
from tracking.models import Popup, Visitor
from tracking.views import _cors, _error, _origin_host

MAX_SLOTS = 20


def _site_and_visitor(request: HttpRequest) -> tuple:
    payload = read_collect_payload(request.body)
    site = site_for_key(str(payload.get("site") or ""))
    if site is None:
        raise IntakeError("unknown_site", _("Unknown site key."), status=403)
    if not origin_allowed(site, _origin_host(request)):
        raise IntakeError("origin_not_allowed", _("This origin is not registered."), 403)
    anon_id = valid_anon_id(payload.get("visitor"))
    visitor = Visitor.objects.filter(site=site, anon_id=anon_id).first()
    return payload, site, anon_id, visitor


def _popup_html(request: HttpRequest, popup: Popup, site_key: str, anon_id: str) -> str:
    form = None
    if popup.form_id and popup.form.is_active:
        form = LeadCaptureForm(lead_form=popup.form)
    return render_to_string(
        "tracking/popup.html",
        {
            "popup": popup,
            "title": _localized(popup, "title"),
            "body": _localized(popup, "body"),
            "cta_label": _localized(popup, "cta_label"),
            "lead_form": popup.form if form else None,
            "form": form,
            "submit_label": _localized(popup.form, "submit_label") if form else "",
            "site_key": site_key,
            "visitor": anon_id,
            "embedded": True,
        },
        request=request,
    )


@csrf_exempt
def decide(request: HttpRequest) -> HttpResponse:
    """POST {"site", "visitor", "nv": new visit?, "url", "slots": [names]}."""
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), request)
    try:
        payload, site, anon_id, visitor = _site_and_visitor(request)
    except IntakeError as exc:
        return _error(request, exc.code, exc.message, status=exc.status)
    new_visit = bool(payload.get("nv"))
    url = str(payload.get("url") or "")[:2048]
    answer: dict = {"popup": None, "slots": {}}
    popup = choose_popup(site, visitor, new_visit=new_visit, url=url)
    if popup is not None:
        if visitor is None:
            visitor, _created = Visitor.objects.get_or_create(site=site, anon_id=anon_id)
        record_popup(visitor, popup, "shown")
        answer["popup"] = {"id": popup.pk, "html": _popup_html(request, popup, site.key, anon_id)}
    names = payload.get("slots") or []
    if isinstance(names, list):
        english = (get_language() or "ja").startswith("en")
        for name in [str(n) for n in names][:MAX_SLOTS]:
            variant = slot_variant(name, visitor, new_visit=new_visit)
            if variant is not None:
                answer["slots"][name] = (variant.html_en if english else "") or variant.html_ja
    return _cors(JsonResponse(answer), request)


@csrf_exempt
def popup_action(request: HttpRequest) -> HttpResponse:
    """POST {"site", "visitor", "popup", "action": "closed" | "converted"}."""
    try:
        payload, site, anon_id, visitor = _site_and_visitor(request)
    except IntakeError as exc:
        return _error(request, exc.code, exc.message, status=exc.status)
    action = payload.get("action")
    popup = Popup.objects.filter(pk=payload.get("popup") if str(payload.get("popup")).isdigit()
                                 else None).first()  # fmt: skip
    if popup is None or action not in ("closed", "converted"):
        return _error(request, "invalid", _("Give a popup id and an action (closed, converted)."))
    if visitor is None:
        visitor, _created = Visitor.objects.get_or_create(site=site, anon_id=anon_id)
    record_popup(visitor, popup, action)
    return _cors(JsonResponse({"ok": True}), request)
