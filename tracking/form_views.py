"""/f/<key>/: the hosted form page, its embeddable fragment, gated downloads."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from tracking.double_opt_in import (
    double_opt_in_confirm,
    double_opt_in_resend,
    opt_in_for_token,
    pending_opt_in_for,
)
from tracking.form_submissions import (
    asset_submission,
    asset_token,
    form_submit,
    rate_limited,
    record_download,
)
from tracking.lead_forms import LeadCaptureForm, _localized
from tracking.models import Form
from tracking.views import _client_ip


def _form_or_404(key: str) -> Form:
    return get_object_or_404(Form.objects.prefetch_related("fields"), key=key, is_active=True)


# Forms are posted from customers' sites (embedded) where Kizuki's CSRF cookie
# cannot exist; the honeypot, the signed start time and the per-IP limit guard
# them instead, and a submission changes no one's account.
def _allow_site_origin(response: HttpResponse, request: HttpRequest, lead_form: Form):
    """Embedded forms are fetched from customers' pages: allow their origins."""
    from urllib.parse import urlsplit

    from tracking.intake import origin_allowed
    from tracking.models import Site

    origin = request.META.get("HTTP_ORIGIN")
    if origin:
        host = urlsplit(origin).hostname or ""
        sites = [lead_form.site] if lead_form.site else Site.objects.filter(is_active=True)
        if any(origin_allowed(site, host) for site in sites):
            response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin"
    return response


@csrf_exempt
@xframe_options_exempt
def form_page(request: HttpRequest, key: str) -> HttpResponse:
    lead_form = _form_or_404(key)
    return _allow_site_origin(_form_page(request, lead_form), request, lead_form)


def _form_page(request: HttpRequest, lead_form: Form) -> HttpResponse:
    embedded = request.GET.get("embed") == "1" or request.POST.get("embed") == "1"
    template = "tracking/form_fragment.html" if embedded else "tracking/form_page.html"
    context = {
        "lead_form": lead_form,
        "title": _localized(lead_form, "title") or lead_form.name,
        "intro": _localized(lead_form, "intro"),
        "submit_label": _localized(lead_form, "submit_label"),
        "site_key": request.GET.get("s") or request.POST.get("s", ""),
        "visitor": request.GET.get("v") or request.POST.get("v", ""),
        "page_url": request.GET.get("u") or request.POST.get("u", ""),
        "embedded": embedded,
    }
    if request.method == "POST":
        capture = LeadCaptureForm(request.POST, lead_form=lead_form)
        if rate_limited(_client_ip(request)):
            capture.add_error(None, _("Too many submissions from your network. Try again later."))
        elif capture.is_valid():
            try:
                submission = form_submit(
                    form=lead_form,
                    data=capture.lead_data(),
                    consented=bool(capture.cleaned_data.get("consent")),
                    consent_text=capture.consent_text(),
                    site_key=context["site_key"],
                    anon_id=context["visitor"],
                    ip=_client_ip(request),
                    url=context["page_url"] or request.META.get("HTTP_REFERER", ""),
                )
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    target = field if field in capture.fields else None
                    for message in messages:
                        capture.add_error(target, message)
            else:
                if lead_form.redirect_url and not embedded:
                    return redirect(lead_form.redirect_url)
                context.update(
                    thanks=_localized(lead_form, "thanks"),
                    asset_url=(
                        request.build_absolute_uri(
                            f"/f/{lead_form.key}/asset/{asset_token(submission)}/"
                        )
                        if lead_form.asset
                        else ""
                    ),
                    redirect_url=lead_form.redirect_url,
                    confirm_by_mail=hasattr(submission, "double_opt_in"),
                )
                return render(request, template, context)
        status = 400 if capture.errors else 200
        return render(request, template, {**context, "form": capture}, status=status)
    return render(request, template, {**context, "form": LeadCaptureForm(lead_form=lead_form)})


def form_asset(request: HttpRequest, key: str, token: str) -> HttpResponse:
    lead_form = _form_or_404(key)
    submission = asset_submission(token, lead_form)
    if submission is None or not lead_form.asset:
        raise Http404(_("This download link is not valid or has expired."))
    record_download(submission, request.build_absolute_uri())
    name = lead_form.asset.name.rsplit("/", 1)[-1]
    return FileResponse(lead_form.asset.open("rb"), as_attachment=True, filename=name)


def form_confirm(request: HttpRequest, key: str, token: str) -> HttpResponse:
    """The link in a double opt-in mail. GET shows a button, its POST confirms:
    mail scanners that open every link must not confirm for the person. A
    genuine but expired link offers a new mail; a tampered one asks for the
    address to send a new link to."""
    lead_form = _form_or_404(key)
    opt_in, status = opt_in_for_token(token, lead_form)
    if opt_in is None:
        return _confirm_page(request, lead_form, "invalid", status=400)
    with translation.override(opt_in.language):
        if request.method == "POST" and request.POST.get("action") == "resend":
            mail = double_opt_in_resend(opt_in=opt_in)
            return _confirm_page(request, lead_form, "resent" if mail else "resend_refused")
        if opt_in.state == opt_in.State.CONFIRMED:
            return _confirm_page(request, lead_form, "already")
        if status == "expired":
            return _confirm_page(request, lead_form, "expired", status=410)
        if request.method == "POST":
            double_opt_in_confirm(
                opt_in=opt_in,
                ip=_client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
            return _confirm_page(request, lead_form, "confirmed")
        return _confirm_page(request, lead_form, "ask")


def form_confirm_resend(request: HttpRequest, key: str) -> HttpResponse:
    """A new confirmation link by address, for a link that no longer works.
    Answers the same whether or not the address waits for one."""
    lead_form = _form_or_404(key)
    if request.method != "POST":
        return _confirm_page(request, lead_form, "invalid", status=400)
    if rate_limited(_client_ip(request)):
        return _confirm_page(request, lead_form, "resend_refused", status=429)
    opt_in = pending_opt_in_for(lead_form, request.POST.get("email", ""))
    if opt_in is not None:
        double_opt_in_resend(opt_in=opt_in)
    return _confirm_page(request, lead_form, "resend_requested")


def _confirm_page(
    request: HttpRequest, lead_form: Form, state: str, status: int = 200
) -> HttpResponse:
    context = {
        "lead_form": lead_form,
        "title": _localized(lead_form, "title") or lead_form.name,
        "state": state,
        "thanks": _localized(lead_form, "thanks"),
    }
    return render(request, "tracking/double_opt_in_page.html", context, status=status)
