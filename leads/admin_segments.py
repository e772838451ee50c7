"""Admin for saved compound searches (複合検索 / segments).

The changelist never counts members (at a million leads one count per row
would make the list unusable); the change page shows the count and the
newest matching leads, and a JSON endpoint lets the form show the count
while the marketer edits the expression and blocks.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import Lead, Segment
from leads.segments import (
    block_kinds,
    check_segment,
    describe_blocks,
    segment_leads,
    segment_leads_for,
    segment_materialize,
)
from ma_core.api_errors import error_body

PREVIEW_SIZE = 20

BLOCKS_EXAMPLE = (
    '{"1": {"kind": "tag", "op": "has", "value": "失注"}, '
    '"2": {"kind": "activities", "op": ">=", "value": 1, "within_days": 30}}'
)


class BlocksField(forms.JSONField):
    """The blocks as indented JSON, one parameter per line, Japanese unescaped."""

    def prepare_value(self, value):
        if isinstance(value, str):  # what the marketer typed, shown again as typed
            return value
        if isinstance(value, dict):
            value = {number: _kind_first(block) for number, block in value.items()}
        return json.dumps(value, ensure_ascii=False, indent=2)


def _kind_first(block: object) -> object:
    """JSONB stores keys in its own order; people read "kind" first."""
    if not isinstance(block, dict) or "kind" not in block:
        return block
    return {"kind": block["kind"], **{k: v for k, v in block.items() if k != "kind"}}


def field_message(key: str, message: str) -> str:
    """Word a ``check_segment`` key for the form: "blocks.2.value" → "Block 2, value: …"."""
    parts = key.split(".", 2)
    if parts[0] != "blocks" or len(parts) == 1:
        return message
    if len(parts) == 2:
        return _("Block %(number)s: %(message)s") % {"number": parts[1], "message": message}
    return _("Block %(number)s, %(param)s: %(message)s") % {
        "number": parts[1],
        "param": parts[2],
        "message": message,
    }


class SegmentForm(forms.ModelForm):
    blocks = BlocksField(
        label=capfirst(Segment._meta.get_field("blocks").verbose_name),
        widget=forms.Textarea(attrs={"rows": 16, "cols": 80, "spellcheck": "false"}),
        help_text=gettext_lazy(
            "Numbered condition blocks as JSON, for example: %(example)s. "
            "The kinds of block and their parameters are listed below."
        )
        % {"example": BLOCKS_EXAMPLE},
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "expression", "blocks"]
        widgets = {
            "expression": forms.TextInput(attrs={"class": "vTextField", "autocomplete": "off"}),
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    def clean(self) -> dict:
        cleaned = super().clean()
        if "expression" not in cleaned or "blocks" not in cleaned:
            return cleaned  # a field error is shown already
        try:
            cleaned["blocks"] = check_segment(
                cleaned["expression"], cleaned["blocks"], segment_id=self.instance.pk
            )
        except ValidationError as exc:
            for key, texts in exc.message_dict.items():
                target = "expression" if key == "expression" else "blocks"
                for text in texts:
                    self.add_error(target, field_message(key, text))
        return cleaned


def _admin_url(name: str, *args) -> str | None:
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:  # that admin is not registered (yet)
        return None


def lead_summary(lead: Lead) -> dict:
    return {
        "id": lead.pk,
        "email": lead.email,
        "name": lead.full_name,
        "company": lead.company_name,
        "score": lead.score,
        "rank": lead.rank,
        "created_at": timezone.localtime(lead.created_at).isoformat(),
        "url": _admin_url("leads_lead_change", lead.pk),
    }


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "expression", "is_preset", "updated_at")
    list_filter = ("is_preset",)
    search_fields = ("name", "description", "expression")
    ordering = ("name",)
    actions = ["materialize"]
    readonly_fields = (
        "readable_blocks",
        "match_count",
        "match_preview",
        "export_link",
        "is_preset",
        "created_by",
        "created_at",
        "updated_at",
    )

    def get_fieldsets(self, request: HttpRequest, obj: Segment | None = None):
        editing = (None, {"fields": ("name", "description", "expression", "blocks")})
        if obj is None:
            return [editing]
        return [
            editing,
            (
                _("Saved search"),
                {"fields": ("readable_blocks", "match_count", "match_preview", "export_link")},
            ),
            (
                _("History"),
                {"fields": ("is_preset", "created_by", "created_at", "updated_at")},
            ),
        ]

    @admin.display(description=_("CSV"))
    def export_link(self, obj: Segment) -> str:
        url = reverse("admin:leads_importjob_export_segment", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Export the members to CSV"))

    def save_model(self, request: HttpRequest, obj: Segment, form, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    # -- the change page ---------------------------------------------------------------

    def _members(self, obj: Segment):
        """The saved search's members, or the reason it cannot run (once per page)."""
        if not hasattr(obj, "_admin_members"):
            try:
                obj._admin_members = segment_leads_for(obj)
            except ValidationError as exc:
                obj._admin_members = exc
        return obj._admin_members

    @admin.display(description=gettext_lazy("blocks, readable"))
    def readable_blocks(self, obj: Segment) -> str:
        lines = describe_blocks(obj.blocks)
        if not lines:
            return "—"
        return format_html(
            '<ul class="segment-blocks">{}</ul>',
            format_html_join("", "<li><strong>{}</strong>: {}</li>", lines),
        )

    @admin.display(description=gettext_lazy("matching leads now"))
    def match_count(self, obj: Segment) -> str:
        members = self._members(obj)
        if isinstance(members, ValidationError):
            return format_html(
                '<span class="errornote">{}</span>',
                " ".join(
                    field_message(key, text)
                    for key, texts in members.message_dict.items()
                    for text in texts
                ),
            )
        return format_html('<strong class="segment-count">{}</strong>', f"{members.count():,}")

    @admin.display(description=gettext_lazy("newest matching leads"))
    def match_preview(self, obj: Segment) -> str:
        members = self._members(obj)
        if isinstance(members, ValidationError):
            return "—"
        leads = [
            lead_summary(lead) for lead in members.order_by("-created_at", "-id")[:PREVIEW_SIZE]
        ]
        if not leads:
            return _("No lead matches.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    format_html('<a href="{}">{}</a>', lead["url"], lead["email"])
                    if lead["url"]
                    else lead["email"],
                    lead["name"],
                    lead["company"],
                    f"{lead['score']} {lead['rank']}",
                    lead["created_at"][:10],
                )
                for lead in leads
            ),
        )
        return format_html(
            '<table class="segment-preview"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("email"),
            _("name"),
            _("company"),
            _("score"),
            _("created at"),
            rows,
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "segment_block_kinds": [
                {
                    "name": kind.name,
                    "label": kind.label,
                    "parameters": kind.parameters(),
                }
                for kind in block_kinds()
            ],
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    # -- the live count ---------------------------------------------------------------------

    def get_urls(self):
        live = path(
            "live-count/",
            self.admin_site.admin_view(self.live_count_view),
            name="leads_segment_live_count",
        )
        return [live, *super().get_urls()]

    def live_count_view(self, request: HttpRequest) -> JsonResponse:
        """POST {"expression", "blocks", "segment"?} → {"count", "preview", "blocks"}
        or 400 {"error": {"code", "message", "fields"}}. Read-only: it saves nothing."""
        if not self.has_view_permission(request):
            return JsonResponse(
                error_body("permission_denied", _("You may not view segments.")), status=403
            )
        if request.method != "POST":
            return JsonResponse(
                error_body("method_not_allowed", _("Send the search with POST.")), status=405
            )
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            return JsonResponse(
                error_body("invalid_json", _('Send a JSON object: {"expression", "blocks"}.')),
                status=400,
            )
        blocks = data.get("blocks")
        segment_id = data.get("segment")
        try:
            segment_id = int(segment_id) if segment_id not in (None, "") else None
        except (TypeError, ValueError):
            segment_id = None
        try:
            cleaned = check_segment(data.get("expression", ""), blocks, segment_id=segment_id)
            members = segment_leads(data.get("expression", ""), cleaned)
        except ValidationError as exc:
            fields = exc.message_dict
            readable = [field_message(key, text) for key, texts in fields.items() for text in texts]
            body = error_body("invalid", readable[0], fields)
            body["error"]["messages"] = readable  # the same, worded for the form
            return JsonResponse(body, status=400)
        newest = members.order_by("-created_at", "-id")[:PREVIEW_SIZE]
        return JsonResponse(
            {
                "count": members.count(),
                "preview": [lead_summary(lead) for lead in newest],
                "blocks": describe_blocks(cleaned),
            }
        )

    # -- materialize ------------------------------------------------------------------------

    def has_materialize_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("leads.add_staticlist")

    @admin.action(description=gettext_lazy("Materialize into a list"), permissions=["materialize"])
    def materialize(self, request: HttpRequest, queryset) -> None:
        for segment in queryset.order_by("pk"):
            try:
                static_list = segment_materialize(segment=segment, by=request.user)
            except ValidationError as exc:
                self.message_user(
                    request,
                    _("“%(segment)s” was not saved: %(errors)s")
                    % {"segment": segment.name, "errors": " ".join(exc.messages)},
                    messages.ERROR,
                )
                continue
            url = _admin_url("leads_staticlist_change", static_list.pk)
            name = format_html('<a href="{}">{}</a>', url, static_list) if url else static_list
            self.message_user(
                request,
                format_html(
                    _("Saved {count} leads of “{segment}” as the list {name}."),
                    count=f"{static_list.memberships.count():,}",
                    segment=segment.name,
                    name=name,
                ),
                messages.SUCCESS,
            )
