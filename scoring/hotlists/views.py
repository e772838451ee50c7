"""The inside-sales workbench: one page (Django template + a little vanilla
JS) and the JSON endpoints it calls with fetch. Session login required.

Inside sales (and marketers) work every list; a sales rep sees and logs on
the members whose lead they own; anybody else gets 403.
"""

from __future__ import annotations

import functools
import json

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from leads.selectors import (
    activity_choice_labels,
    activity_choices,
    lead_recent_activities,
    lead_tags,
    user_display_name,
)
from leads.timeline import lead_timeline
from ma_core.api_errors import error_body
from scoring.hotlists import selectors, services
from scoring.hotlists.models import HotListMember
from scoring.selectors import lead_explanation

PANEL_TIMELINE_ENTRIES = 15


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields), status=status)


def workbench_json(view):
    """Login and a workbench role; JSON errors in the API's shape; bad input 400."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error(401, "not_authenticated", _("Log in first."))
        if not selectors.can_use_workbench(request.user):
            return _error(403, "permission_denied", _("You cannot use the HOT list workbench."))
        if request.method == "POST":
            try:
                request.json = json.loads(request.body or b"{}")
            except (ValueError, UnicodeDecodeError):
                return _error(400, "invalid", _("Send a JSON object."))
            if not isinstance(request.json, dict):
                return _error(400, "invalid", _("Send a JSON object."))
        try:
            return view(request, *args, **kwargs)
        except ValidationError as exc:
            fields = exc.message_dict if hasattr(exc, "error_dict") else {}
            return _error(400, "invalid", " ".join(exc.messages), fields)
        except PermissionDenied:
            return _error(403, "permission_denied", _("You cannot do this on the workbench."))

    return wrapper


def _member_or_404(request, member_id: int) -> HotListMember | JsonResponse:
    member = selectors.member_get(member_id, request.user)
    if member is None:
        return _error(404, "not_found", _("This lead is not on a list you can see."))
    return member


def _require_work_all(request) -> None:
    if not selectors.can_work_all(request.user):
        raise PermissionDenied


def _user_from(value, request):
    """ "me", a user id, or null (nobody)."""
    if value in (None, ""):
        return None
    if value == "me":
        return request.user
    try:
        user = get_user_model().objects.filter(pk=int(value), is_active=True).first()
    except (TypeError, ValueError):
        user = None
    if user is None:
        message = _("There is no active user with id %(id)s.") % {"id": value}
        raise ValidationError({"owner": [message]})
    return user


def _strings() -> dict[str, str]:
    """What the page's script shows, translated here (no JS catalogue needed)."""
    return {
        "assignMe": _("Assign to me"),
        "nobody": _("nobody"),
        "unassigned": _("Unassigned"),
        "notFollowed": _("Not followed yet"),
        "followed": _("Followed"),
        "carried": _("carried over"),
        "handoff": _("SFA handoff pending"),
        "removed": _("Taken off"),
        "saved": _("Saved."),
        "score": _("Score"),
        "now": _("now"),
        "atListTime": _("when listed"),
        "email": _("Email"),
        "phone": _("Phone"),
        "company": _("Company"),
        "title": _("Job title"),
        "stage": _("Stage"),
        "tags": _("Tags"),
        "noReasons": _("No scored behaviour in the window."),
        "error": _("Something went wrong; try again."),
        "opportunity": _("Opportunity"),
        "continue": _("Continue follow-up"),
        "archive": _("Archive"),
        "assignTo": _("Assign to"),
    }


# -- the page ---------------------------------------------------------------------------


@login_required
@require_GET
def workbench(request: HttpRequest) -> HttpResponse:
    if not selectors.can_use_workbench(request.user):
        raise PermissionDenied
    runs = selectors.workbench_runs()
    wanted = request.GET.get("run", "")
    current = next((r for r in runs if str(r.pk) == wanted), None)
    if current is None and wanted.isdigit():
        current = selectors.run_get(int(wanted))
    if current is None and runs:
        current = runs[0]
    config = {
        "run": current.pk if current else None,
        "member": int(request.GET["member"]) if request.GET.get("member", "").isdigit() else None,
        "me": request.user.pk,
        "canAssign": selectors.can_work_all(request.user),
        "urls": {
            "members": "/workbench/api/runs/{run}/members/",
            "bulk": "/workbench/api/runs/{run}/assign/",
            "panel": "/workbench/api/members/{member}/",
            "assign": "/workbench/api/members/{member}/assign/",
            "activity": "/workbench/api/members/{member}/activities/",
            "remove": "/workbench/api/members/{member}/remove/",
        },
    }
    return render(
        request,
        "scoring/hotlists/workbench.html",
        {
            "runs": runs,
            "current": current,
            "colleagues": selectors.colleagues(),
            "types": activity_choices("type"),
            "results": activity_choices("result"),
            "sources": activity_choices("source"),
            "default_source": current.hot_list.activity_source if current else "hot_list",
            "today": timezone.localdate().isoformat(),
            "config": config,
            "strings": _strings(),
        },
    )


# -- JSON ---------------------------------------------------------------------------------


@require_GET
@workbench_json
def members_json(request: HttpRequest, run_id: int) -> JsonResponse:
    run = selectors.run_get(run_id)
    if run is None:
        return _error(404, "not_found", _("There is no such list."))
    which = request.GET.get("filter", "all")
    if which not in selectors.FILTERS:
        which = "all"
    rank = request.GET.get("rank", "")
    visible = selectors.members_visible_to(request.user, selectors.run_members(run))
    members = selectors.filter_members(visible, user=request.user, which=which, rank=rank)
    return JsonResponse(
        {
            "run": {
                "id": run.pk,
                "name": run.hot_list.name,
                "week_start": run.week_start.isoformat(),
                "generated_at": timezone.localtime(run.generated_at).isoformat(),
            },
            "filter": which,
            "rank": rank if rank in selectors.RANKS else "",
            "counts": selectors.member_counts(visible, user=request.user),
            "members": [selectors.member_row(m) for m in members],
        }
    )


def _entry(entry) -> dict:
    return {
        "at": timezone.localtime(entry.occurred_at).strftime("%Y-%m-%d %H:%M"),
        "kind": entry.kind,
        "title": str(entry.title),
        "detail": str(entry.detail),
        "actor": str(entry.actor),
        "icon": entry.icon,
    }


def _panel(member: HotListMember) -> dict:
    lead = member.lead
    labels = activity_choice_labels()
    timeline = lead_timeline(lead.pk, limit=PANEL_TIMELINE_ENTRIES)
    return {
        "member": selectors.member_row(member),
        "contact": {
            "name": lead.full_name,
            "kana": " ".join(p for p in (lead.last_name_kana, lead.first_name_kana) if p),
            "email": lead.email,
            "phone": lead.phone,
            "company": lead.company.name if lead.company_id else lead.company_name,
            "department": lead.department,
            "title": lead.title,
            "prefecture": lead.get_prefecture_display() if lead.prefecture else "",
            "stage": str(lead.get_stage_display()),
            "tags": [lt.tag.name for lt in lead_tags(lead)],
        },
        "reasons": member.reasons,
        "explanation": lead_explanation(lead),
        "timeline": [_entry(e) for e in timeline.entries],
        "activities": [
            {
                "at": timezone.localtime(a.occurred_at).strftime("%Y-%m-%d"),
                "type": labels.get(("type", a.type), a.type),
                "result": labels.get(("result", a.result), a.result),
                "source": labels.get(("source", a.source), a.source),
                "content": a.content,
                "actor": user_display_name(a.actor) if a.actor else "",
            }
            for a in lead_recent_activities(lead, 10)
        ],
    }


@require_GET
@workbench_json
def member_json(request: HttpRequest, member_id: int) -> JsonResponse:
    member = _member_or_404(request, member_id)
    if isinstance(member, JsonResponse):
        return member
    annotated = selectors.run_members(member.run).filter(pk=member.pk).first()
    return JsonResponse(_panel(annotated))


@require_POST
@workbench_json
def member_assign_json(request: HttpRequest, member_id: int) -> JsonResponse:
    _require_work_all(request)
    member = _member_or_404(request, member_id)
    if isinstance(member, JsonResponse):
        return member
    owner = _user_from(request.json.get("owner"), request)
    kwargs = {}
    if "expected_owner" in request.json:
        expected = request.json["expected_owner"]
        kwargs["expected_owner_id"] = int(expected) if str(expected).isdigit() else None
    try:
        lead = services.member_assign(member=member, owner=owner, **kwargs)
    except services.AssignConflict as conflict:
        who = selectors.person(conflict.owner)
        return JsonResponse(
            {
                **error_body(
                    "conflict",
                    _("%(name)s took this lead a moment ago.")
                    % {"name": who["name"] if who else _("nobody")},
                ),
                "owner": who,
            },
            status=409,
        )
    return JsonResponse({"member": member.pk, "owner": selectors.person(lead.owner)})


@require_POST
@workbench_json
def bulk_assign_json(request: HttpRequest, run_id: int) -> JsonResponse:
    _require_work_all(request)
    ids = request.json.get("members")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise ValidationError({"members": [_("Choose at least one lead.")]})
    owner = _user_from(request.json.get("owner"), request)
    members = list(HotListMember.objects.filter(run_id=run_id, pk__in=ids).only("id", "lead_id"))
    changed = services.members_assign_bulk(members=members, owner=owner)
    return JsonResponse(
        {"assigned": len(members), "changed": changed, "owner": selectors.person(owner)}
    )


@require_POST
@workbench_json
def member_activity_json(request: HttpRequest, member_id: int) -> JsonResponse:
    if not request.user.has_perm("leads.add_activity"):
        raise PermissionDenied
    member = _member_or_404(request, member_id)
    if isinstance(member, JsonResponse):
        return member
    logged = services.member_log_activity(member=member, by=request.user, data=request.json)
    return JsonResponse(
        {
            "activity": logged.activity_id,
            "handoff": logged.handoff,
            "stage": logged.stage,
            "tagged": logged.tagged,
        },
        status=201,
    )


@require_POST
@workbench_json
def member_remove_json(request: HttpRequest, member_id: int) -> JsonResponse:
    _require_work_all(request)
    member = _member_or_404(request, member_id)
    if isinstance(member, JsonResponse):
        return member
    member = services.member_remove(
        member=member, by=request.user, reason=str(request.json.get("reason") or "")
    )
    return JsonResponse({"member": member.pk, "removed": True, "reason": member.removal_reason})
