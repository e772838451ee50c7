"""Admin pages of the lead database: leads (list, detail, bulk actions, merge),
companies, tags, custom-field definitions, activity choices, lists, consents,
suppressions and merges.

Pages stay thin: reads come from ``leads.selectors``, writes go through
``leads.services`` with ``actor_kind="user"`` and the signed-in user, so the
admin records the same TagChange / ActivityCorrection / signals as the API.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminDateWidget, AdminSplitDateTime
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import localize
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from leads import selectors, services, timeline
from leads.exports import export_selected_leads
from leads.models import (
    Activity,
    ActivityChoice,
    ActorKind,
    Company,
    Consent,
    CustomField,
    Lead,
    LeadMerge,
    ListMembership,
    Segment,
    StaticList,
    Suppression,
    Tag,
)
from leads.panels import lead_panels

#: Leads per statement when an action runs over a selection: one array of
#: 5,000 bigints (~40 kB) per INSERT/DELETE, and one short transaction each.
ACTION_BATCH_SIZE = 5_000
#: Members shown on a list's page; the lead list filtered by the list shows all.
LIST_MEMBERS_SHOWN = 200
#: Recent activities shown with their corrections next to the log form.
RECENT_ACTIVITIES_SHOWN = 10

CUSTOM_PREFIX = "custom__"


class BoundedCountPaginator(Paginator):
    """A paginator that never counts a whole large table (see ``selectors.estimated_count``)."""

    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        counted = selectors.estimated_count(self.object_list)
        self.count_is_estimate = counted.is_estimate
        return counted.value


def lead_id_batches(queryset: QuerySet[Lead]) -> Iterator[list[int]]:
    """The ids of ``queryset`` in ascending batches, by keyset (no OFFSET scans)."""
    ids = queryset.order_by("pk").values_list("pk", flat=True)
    last = 0
    while True:
        batch = list(ids.filter(pk__gt=last)[:ACTION_BATCH_SIZE])
        if not batch:
            return
        yield batch
        last = batch[-1]


def lead_link(lead: Lead) -> str:
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    return format_html('<a href="{}">{}</a>', url, lead.full_name or lead.email)


def user_name(user) -> str:
    return selectors.user_display_name(user) if user is not None else "—"


# -- list filters -------------------------------------------------------------------------


def _id_value(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        # The admin answers this with its "?e=1" page instead of a server error.
        raise IncorrectLookupParameters(value)
    return int(value)


class TagFilter(admin.SimpleListFilter):
    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return list(Tag.objects.order_by("name").values_list("pk", "name"))

    def queryset(self, request, queryset):
        tag_id = _id_value(self.value())
        return queryset if tag_id is None else selectors.leads_with_tag(queryset, tag_id)


class OwnerFilter(admin.SimpleListFilter):
    title = _("owner")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [
            ("mine", _("Mine")),
            ("none", _("No owner")),
            *(
                (str(user.pk), selectors.user_display_name(user))
                for user in selectors.owner_candidates()
            ),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(owner__isnull=True)
        if value == "mine":
            return queryset.filter(owner_id=request.user.pk)
        owner_id = _id_value(value)
        return queryset if owner_id is None else queryset.filter(owner_id=owner_id)


class SegmentFilter(admin.SimpleListFilter):
    title = _("segment")
    parameter_name = "segment"

    def lookups(self, request, model_admin):
        return list(Segment.objects.order_by("name").values_list("pk", "name"))

    def queryset(self, request, queryset):
        segment_id = _id_value(self.value())
        if segment_id is None:
            return queryset
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is None:
            raise IncorrectLookupParameters(segment_id)
        # Imported when a segment is chosen: the segments package evaluates
        # block kinds other apps register, so it must not load with the admin.
        from leads.segments import segment_leads_for

        try:
            matching = segment_leads_for(segment)
        except ValidationError as exc:
            messages.error(
                request,
                gettext("The segment “%(segment)s” cannot run: %(reason)s")
                % {"segment": segment.name, "reason": " ".join(exc.messages)},
            )
            return queryset.none()
        if matching.query.distinct or matching.query.is_sliced:
            return queryset.filter(pk__in=matching.values("pk"))
        # Both are Lead querysets: ANDing keeps one scan with the segment's
        # conditions instead of an IN (subquery) over the lead table.
        return queryset & matching


class StaticListFilter(admin.SimpleListFilter):
    title = _("list")
    parameter_name = "list"

    def lookups(self, request, model_admin):
        return list(StaticList.objects.order_by("name").values_list("pk", "name"))

    def queryset(self, request, queryset):
        list_id = _id_value(self.value())
        return queryset if list_id is None else selectors.leads_in_list(queryset, list_id)


# -- forms ------------------------------------------------------------------------------


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return selectors.user_display_name(obj)


class LeadActionOptions(forms.Form):
    """What the bulk actions need besides the selection: a tag, a list or an owner."""

    tag = forms.CharField(
        label=_("Tag"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"list": "kizuki-tag-names", "size": 14}),
    )
    static_list = forms.ModelChoiceField(
        queryset=StaticList.objects.order_by("name"), label=_("List"), required=False
    )
    owner = OwnerChoiceField(queryset=None, label=_("Owner"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = selectors.owner_candidates()


class LeadActionForm(helpers.ActionForm, LeadActionOptions):
    pass


def custom_form_field(definition: CustomField) -> forms.Field:
    """The form field for one custom-field definition; ``clean_custom`` still
    validates the value on save, so the form and the API accept the same data."""
    common = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help_text,
    }
    kind = CustomField.Type
    choices = [(str(choice), str(choice)) for choice in definition.choices]
    if definition.type == kind.NUMBER:
        return forms.DecimalField(**common)
    if definition.type == kind.DATE:
        return forms.DateField(widget=AdminDateWidget, **common)
    if definition.type == kind.CHOICE:
        return forms.ChoiceField(choices=[("", "---------"), *choices], **common)
    if definition.type == kind.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    return forms.CharField(max_length=1000, **common)


class LeadAdminForm(forms.ModelForm):
    """The lead's attributes; validated by ``services.check_lead_data`` like every
    other write, with each error shown on its field."""

    custom_definitions: list[CustomField] = []

    class Meta:
        model = Lead
        # The admin narrows these to the fieldsets; custom values have their own fields.
        fields = ("email", "company_name", "owner", *services.LEAD_FIELDS)
        field_classes = {"owner": OwnerChoiceField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = selectors.owner_candidates(
                including=self.instance.owner_id
            )
        stored = self.instance.custom or {}
        for definition in self.custom_definitions:
            name = CUSTOM_PREFIX + definition.key
            if name in self.fields and definition.key in stored:
                self.initial[name] = stored[definition.key]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        duplicate = selectors.lead_by_email(email)
        if duplicate is not None and duplicate.pk == self.instance.pk:
            duplicate = None
        if duplicate is not None:
            raise ValidationError(
                gettext("Another lead already has this email: %(lead)s") % {"lead": duplicate.pk}
            )
        return email

    def lead_payload(self) -> dict:
        """The form's values in the shape ``lead_upsert`` takes."""
        data = {
            name: self.cleaned_data[name]
            for name in services.LEAD_FIELDS
            if name in self.cleaned_data
        }
        if "email" in self.cleaned_data:
            data["email"] = self.cleaned_data["email"]
        if "company_name" in self.cleaned_data:
            data["company"] = self.cleaned_data["company_name"]
        if "owner" in self.cleaned_data:
            data["owner"] = self.cleaned_data["owner"]
        custom = {}
        for definition in self.custom_definitions:
            name = CUSTOM_PREFIX + definition.key
            if name in self.cleaned_data:
                value = self.cleaned_data[name]
                custom[definition.key] = str(value) if isinstance(value, Decimal) else value
        if custom:
            data["custom"] = custom
        return data

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.checked = services.check_lead_data(self.lead_payload())
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                name = key.replace("custom.", CUSTOM_PREFIX, 1)
                name = {"company": "company_name"}.get(name, name)
                self.add_error(name if name in self.fields else None, errors)
        return cleaned


def lead_form_class(definitions: list[CustomField]) -> type[LeadAdminForm]:
    """LeadAdminForm with one declared field per active custom-field definition."""
    attrs = {CUSTOM_PREFIX + d.key: custom_form_field(d) for d in definitions}
    return type("LeadAdminForm", (LeadAdminForm,), {**attrs, "custom_definitions": definitions})


class ActivityLogForm(forms.Form):
    """Log an activity (活動履歴) from the lead page; choices come from the editable lists."""

    occurred_at = forms.SplitDateTimeField(label=_("Date"), widget=AdminSplitDateTime)
    type = forms.ChoiceField(label=_("Type"))
    result = forms.ChoiceField(label=_("Result"))
    source = forms.ChoiceField(label=_("Source"), required=False)
    content = forms.CharField(label=_("Content"), required=False, max_length=1000)
    note = forms.CharField(
        label=_("Free text"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        kinds = ActivityChoice.Kind
        self.fields["type"].choices = selectors.activity_choices(kinds.TYPE)
        self.fields["result"].choices = selectors.activity_choices(kinds.RESULT)
        self.fields["source"].choices = [
            ("", "---------"),
            *selectors.activity_choices(kinds.SOURCE),
        ]
        if not self.is_bound:
            self.initial.setdefault("occurred_at", timezone.localtime().replace(microsecond=0))

    def add_service_errors(self, exc: ValidationError) -> None:
        for name, errors in exc.message_dict.items():
            self.add_error(name if name in self.fields else None, errors)


class ActivityCorrectionForm(ActivityLogForm):
    reason = forms.CharField(label=_("Reason for the correction"), max_length=300)

    def __init__(self, *args, activity: Activity, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "occurred_at": timezone.localtime(activity.occurred_at),
                **{name: getattr(activity, name) for name in ("type", "result", "source")},
                "content": activity.content,
                "note": activity.note,
            },
        )
        super().__init__(*args, **kwargs)
        # A correction may keep a choice that has since been switched off.
        for name in ("type", "result", "source"):
            codes = {code for code, _label in self.fields[name].choices}
            current = getattr(activity, name)
            if current and current not in codes:
                self.fields[name].choices = [*self.fields[name].choices, (current, current)]

    def changes(self, activity: Activity) -> dict:
        """Only the fields the user changed, as ``activity_correct`` expects."""
        return {
            name: self.cleaned_data[name]
            for name in services.CORRECTABLE_ACTIVITY_FIELDS
            if self.cleaned_data[name] != getattr(activity, name)
        }


# -- leads -------------------------------------------------------------------------------


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "display_company",
        "email",
        "stage",
        "rank",
        "score",
        "display_owner",
        "last_activity_at",
    )
    list_display_links = ("display_name", "email")
    list_filter = (TagFilter, "stage", OwnerFilter, "rank", SegmentFilter, StaticListFilter)
    list_select_related = ("owner", "company")
    list_per_page = 50
    # At a million leads neither the full count nor the filter facets may run per page.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    ordering = ("-id",)
    # The search box appears when search_fields is set; get_search_results does the work.
    search_fields = ("email",)
    search_help_text = _("Email (from the start), name (姓 名) or company.")
    action_form = LeadActionForm
    actions = (
        "add_tag",
        "remove_tag",
        "add_to_list",
        "remove_from_list",
        "set_owner",
        "merge_leads",
        export_selected_leads,
    )
    readonly_fields = (
        "company_link",
        "rank",
        "score",
        "last_activity_at",
        "created_at",
        "updated_at",
        "custom_values",
    )

    class Media:
        css = {"all": ("kizuki/leads/leads.css",)}
        js = ("kizuki/leads/leads.js",)

    # -- list --------------------------------------------------------------------------

    def get_queryset(self, request):
        return selectors.leads_visible_to(request.user, selectors.lead_list())

    @admin.display(description=_("name"))
    def display_name(self, lead: Lead) -> str:
        return lead.full_name or "—"

    @admin.display(description=_("company"))
    def display_company(self, lead: Lead) -> str:
        return lead.company_name or (lead.company.name if lead.company else "")

    @admin.display(description=_("owner"))
    def display_owner(self, lead: Lead) -> str:
        return user_name(lead.owner)

    def get_sortable_by(self, request: HttpRequest):
        # Only orders an index serves: newest first always (by id), and score
        # within one rank through the (rank, -score) index. Sorting a million
        # leads by an unindexed column would read the whole table per page.
        return ("score",) if request.GET.get("rank__exact") else ()

    def get_search_results(self, request, queryset, search_term):
        return selectors.lead_search(queryset, search_term), False

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Deleting many leads at once would wipe their audit history (consents,
        # activities) and the confirmation page would list all of it; merge instead.
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "tag_names": selectors.tag_names()}
        return super().changelist_view(request, extra_context)

    # -- bulk actions ------------------------------------------------------------------

    def _action_options(self, request) -> dict:
        options = LeadActionOptions(request.POST)
        options.is_valid()
        return options.cleaned_data

    @admin.action(description=_("Add a tag to the selected leads"), permissions=["change"])
    def add_tag(self, request, queryset):
        name = (self._action_options(request).get("tag") or "").strip()
        if not name:
            self.message_user(request, gettext("Type the tag to add."), messages.WARNING)
            return
        added = 0
        for lead_ids in lead_id_batches(queryset):
            with transaction.atomic():
                result = services.tags_add_bulk(
                    lead_ids=lead_ids, names=[name], actor_kind=ActorKind.USER, actor=request.user
                )
            added += len(result.get(name, []))
        self.message_user(
            request,
            ngettext(
                "Tag “%(tag)s” added to %(count)d lead.",
                "Tag “%(tag)s” added to %(count)d leads.",
                added,
            )
            % {"tag": name, "count": added},
            messages.SUCCESS,
        )

    @admin.action(description=_("Remove a tag from the selected leads"), permissions=["change"])
    def remove_tag(self, request, queryset):
        name = (self._action_options(request).get("tag") or "").strip()
        if not name:
            self.message_user(request, gettext("Type the tag to remove."), messages.WARNING)
            return
        removed = 0
        for lead_ids in lead_id_batches(queryset):
            with transaction.atomic():
                result = services.tags_remove_bulk(
                    lead_ids=lead_ids, names=[name], actor_kind=ActorKind.USER, actor=request.user
                )
            removed += len(result.get(name, []))
        self.message_user(
            request,
            ngettext(
                "Tag “%(tag)s” removed from %(count)d lead.",
                "Tag “%(tag)s” removed from %(count)d leads.",
                removed,
            )
            % {"tag": name, "count": removed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Add the selected leads to a list"), permissions=["change"])
    def add_to_list(self, request, queryset):
        static_list = self._action_options(request).get("static_list")
        if static_list is None:
            self.message_user(request, gettext("Choose the list."), messages.WARNING)
            return
        added = 0
        for lead_ids in lead_id_batches(queryset):
            added += services.list_add(
                static_list=static_list,
                lead_ids=lead_ids,
                actor_kind=ActorKind.USER,
                by=request.user,
            )
        self.message_user(
            request,
            ngettext(
                "%(count)d lead added to “%(list)s”.",
                "%(count)d leads added to “%(list)s”.",
                added,
            )
            % {"count": added, "list": static_list.name},
            messages.SUCCESS,
        )

    @admin.action(description=_("Remove the selected leads from a list"), permissions=["change"])
    def remove_from_list(self, request, queryset):
        static_list = self._action_options(request).get("static_list")
        if static_list is None:
            self.message_user(request, gettext("Choose the list."), messages.WARNING)
            return
        removed = 0
        for lead_ids in lead_id_batches(queryset):
            removed += services.list_remove(
                static_list=static_list, lead_ids=lead_ids, by=request.user
            )
        self.message_user(
            request,
            ngettext(
                "%(count)d lead removed from “%(list)s”.",
                "%(count)d leads removed from “%(list)s”.",
                removed,
            )
            % {"count": removed, "list": static_list.name},
            messages.SUCCESS,
        )

    @admin.action(description=_("Set the owner of the selected leads"), permissions=["change"])
    def set_owner(self, request, queryset):
        owner = self._action_options(request).get("owner")
        if owner is None:
            self.message_user(request, gettext("Choose the owner."), messages.WARNING)
            return
        count = 0
        for batch in lead_id_batches(queryset):
            with transaction.atomic():
                services.leads_set_owner(lead_ids=batch, owner=owner)
            count += len(batch)
        self.message_user(
            request,
            ngettext(
                "%(owner)s now owns %(count)d lead.",
                "%(owner)s now owns %(count)d leads.",
                count,
            )
            % {"owner": user_name(owner), "count": count},
            messages.SUCCESS,
        )

    def has_merge_permission(self, request) -> bool:
        # A merge changes one lead and deletes the other. (The admin offers an
        # action when *any* of its permissions holds, hence one that needs both.)
        return self.has_change_permission(request) and self.has_delete_permission(request)

    @admin.action(description=_("Merge two leads…"), permissions=["merge"])
    def merge_leads(self, request, queryset):
        lead_ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:3])
        if len(lead_ids) != 2:
            self.message_user(
                request, gettext("Select exactly two leads to merge."), messages.WARNING
            )
            return None
        leads = selectors.lead_merge_summaries(lead_ids)
        survivor_id = request.POST.get("survivor", "")
        if request.POST.get("post") == "yes" and survivor_id.isdigit():
            by_id = {lead.pk: lead for lead in leads}
            survivor = by_id.get(int(survivor_id))
            if survivor is not None:
                merged = next(lead for lead in leads if lead.pk != survivor.pk)
                try:
                    services.lead_merge(survivor=survivor, merged=merged, by=request.user)
                except ValidationError as exc:
                    self.message_user(request, " ".join(exc.messages), messages.ERROR)
                    return None
                self.message_user(
                    request,
                    gettext("%(merged)s was merged into %(survivor)s.")
                    % {"merged": merged.email, "survivor": survivor.email},
                    messages.SUCCESS,
                )
                return redirect("admin:leads_lead_change", survivor.pk)
        for lead in leads:
            lead.tag_names = [lead_tag.tag.name for lead_tag in selectors.lead_tags(lead)]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Merge two leads"),
            "subtitle": None,
            "opts": self.opts,
            "leads": leads,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "merge_leads",
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/leads/lead/merge_confirmation.html", context)

    # -- the lead page: attributes ------------------------------------------------------

    def _can_edit(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj else self.has_add_permission(request)

    def get_fieldsets(self, request, obj=None):
        if self._can_edit(request, obj):
            custom = [CUSTOM_PREFIX + d.key for d in selectors.custom_field_definitions()]
        else:
            custom = ["custom_values"]
        company = [
            "company_name",
            ("department", "title"),
            "industry",
            ("employee_count", "capital"),
        ]
        status = ["stage", "owner", ("is_competitor", "is_nurture_target")]
        source = ["first_touch_source", "last_touch_source"]
        if obj is not None:
            company.insert(1, "company_link")
            status += [("rank", "score"), "last_activity_at"]
            source += [("created_at", "updated_at")]
        person = [
            ("last_name", "first_name"),
            ("last_name_kana", "first_name_kana"),
            "email",
            "phone",
        ]
        return [
            (None, {"fields": person}),
            (_("Company"), {"fields": [*company, "prefecture", "address"]}),
            (_("Status"), {"fields": status}),
            (_("Custom fields"), {"fields": custom}),
            (_("Source"), {"fields": source, "classes": ["collapse"]}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = lead_form_class(selectors.custom_field_definitions())
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description=_("company record"))
    def company_link(self, lead: Lead) -> str:
        if lead.company is None:
            return "—"
        url = reverse("admin:leads_company_change", args=[lead.company_id])
        return format_html('<a href="{}">{}</a>', url, lead.company.name)

    @admin.display(description=_("custom fields"))
    def custom_values(self, lead: Lead) -> str:
        stored = lead.custom or {}
        rows = [
            (d.label, _custom_value_text(stored.get(d.key)))
            for d in selectors.custom_field_definitions()
        ]
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", rows) or "—"

    @transaction.atomic
    def save_model(self, request, obj: Lead, form: LeadAdminForm, change: bool) -> None:
        """Save through ``lead_upsert`` (company matching, the ``lead_saved`` signal).

        ``lead_upsert`` is keyed by email and never blanks a stored value, while
        an edit form must be able to rename the email and clear a field; those
        two are written around it, in the same transaction.
        """
        payload = form.lead_payload()
        if not change:
            lead, _outcome = services.lead_upsert(
                data=payload, actor_kind=ActorKind.USER, actor=request.user
            )
            obj.pk = lead.pk
            obj.refresh_from_db()
            obj._state.adding = False
            return
        stored = Lead.objects.select_for_update().get(pk=obj.pk)
        new_email = form.checked["email"]
        if new_email != stored.email:
            Lead.objects.filter(pk=obj.pk).update(email=new_email)
        lead, _outcome = services.lead_upsert(
            data=payload, actor_kind=ActorKind.USER, actor=request.user
        )
        cleared = {
            name: Lead._meta.get_field(name).get_default()
            for name, value in form.checked.items()
            if name in (*services.LEAD_FIELDS, "company_name")
            and value in (None, "")
            and getattr(lead, name) not in (None, "")
        }
        if "owner" in form.checked and form.checked["owner"] is None and lead.owner_id:
            cleared["owner"] = None
        blank_keys = {k for k, v in (form.checked.get("custom") or {}).items() if v is None}
        if blank_keys & set(lead.custom or {}):
            cleared["custom"] = {k: v for k, v in lead.custom.items() if k not in blank_keys}
        if cleared:
            Lead.objects.filter(pk=lead.pk).update(**cleared, updated_at=timezone.now())
        obj.refresh_from_db()

    # -- the lead page: panels and their endpoints ---------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        activity_form = context.get("activity_form")
        if activity_form is not None:
            # The activity form's date widgets need the admin calendar scripts.
            context["media"] = context["media"] + activity_form.media
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        def view(function, *, post_only=True):
            wrapped = require_POST(function) if post_only else function
            return self.admin_site.admin_view(wrapped)

        return [
            path("<path:object_id>/tags/", view(self.lead_tags_view), name="leads_lead_tags"),
            path(
                "<path:object_id>/activities/",
                view(self.activity_log_view),
                name="leads_lead_activity_log",
            ),
            path(
                "<path:object_id>/activities/<int:activity_id>/correct/",
                view(self.activity_correct_view, post_only=False),
                name="leads_lead_activity_correct",
            ),
            path(
                "<path:object_id>/suppressions/<int:suppression_id>/lift/",
                view(self.suppression_lift_view),
                name="leads_lead_suppression_lift",
            ),
            *super().get_urls(),
        ]

    def _lead_or_404(self, request, object_id: str) -> Lead:
        lead = self.get_object(request, unquote(object_id))
        if lead is None or not self.has_view_permission(request, lead):
            raise Http404
        return lead

    def _lead_page(self, lead: Lead, anchor: str) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:leads_lead_change", args=[lead.pk]) + f"#{anchor}"
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, unquote(object_id))
        if lead is not None and self.has_view_permission(request, lead):
            extra_context = {
                **self._panels_context(request, lead),
                **(extra_context or {}),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _panels_context(self, request, lead: Lead) -> dict:
        user = request.user
        before = _timeline_cursor(request.GET.get("before"))
        page = timeline.lead_timeline(lead.pk, before=before)
        labels = selectors.activity_choice_labels()
        activities = selectors.lead_recent_activities(lead, limit=RECENT_ACTIVITIES_SHOWN)
        for activity in activities:
            activity.type_label = labels.get(("type", activity.type), activity.type)
            activity.result_label = labels.get(("result", activity.result), activity.result)
            activity.source_label = labels.get(("source", activity.source), activity.source)
            activity.actor_name = user_name(activity.actor) if activity.actor else ""
            for correction in activity.corrections.all():
                correction.lines = timeline.correction_lines(correction, labels)
                correction.by_name = user_name(correction.corrected_by)
        return {
            "extra_panels": lead_panels(request, lead),
            "lead_tags": selectors.lead_tags(lead),
            "tag_names": selectors.tag_names(),
            "activity_form": ActivityLogForm(),
            "recent_activities": activities,
            "consents": selectors.lead_consents(lead),
            "suppressions": selectors.lead_suppressions(lead),
            "memberships": selectors.lead_list_memberships(lead),
            "timeline": page,
            "timeline_before": before,
            "timeline_older_url": (
                "?" + urlencode({"before": page.older_than.isoformat()}) + "#timeline"
                if page.older_than
                else None
            ),
            "can_change_tags": self.has_change_permission(request, lead),
            "can_log_activity": user.has_perm("leads.add_activity"),
            "can_correct_activity": user.has_perm("leads.change_activity"),
            "can_lift_suppression": user.has_perm("leads.change_suppression"),
        }

    def lead_tags_view(self, request, object_id: str) -> HttpResponse:
        lead = self._lead_or_404(request, object_id)
        if not self.has_change_permission(request, lead):
            raise PermissionDenied
        add = _split_tags(request.POST.get("add", ""))
        remove = request.POST.getlist("remove")
        try:
            result = services.tags_change(
                lead=lead, add=add, remove=remove, actor_kind=ActorKind.USER, actor=request.user
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._lead_page(lead, "tags")
        if result["added"]:
            self.message_user(
                request,
                gettext("Tags added: %(tags)s") % {"tags": "、".join(result["added"])},
                messages.SUCCESS,
            )
        if result["removed"]:
            self.message_user(
                request,
                gettext("Tags removed: %(tags)s") % {"tags": "、".join(result["removed"])},
                messages.SUCCESS,
            )
        return self._lead_page(lead, "tags")

    def activity_log_view(self, request, object_id: str) -> HttpResponse:
        lead = self._lead_or_404(request, object_id)
        if not request.user.has_perm("leads.add_activity"):
            raise PermissionDenied
        form = ActivityLogForm(request.POST)
        if form.is_valid():
            try:
                services.activity_create(
                    lead=lead,
                    occurred_at=form.cleaned_data["occurred_at"],
                    type=form.cleaned_data["type"],
                    result=form.cleaned_data["result"],
                    source=form.cleaned_data["source"],
                    content=form.cleaned_data["content"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                    actor_kind=ActorKind.USER,
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                self.message_user(request, gettext("The activity was logged."), messages.SUCCESS)
                return self._lead_page(lead, "timeline")
        # Show the lead page again with the form and its errors, keeping what was typed.
        page_request = copy.copy(request)
        page_request.method = "GET"
        return self.change_view(
            page_request, object_id, extra_context={"activity_form": form, "activity_errors": True}
        )

    def activity_correct_view(self, request, object_id: str, activity_id: int) -> HttpResponse:
        lead = self._lead_or_404(request, object_id)
        activity = selectors.activity_get(lead_id=lead.pk, activity_id=activity_id)
        if activity is None:
            raise Http404
        can_correct = request.user.has_perm("leads.change_activity")
        if request.method == "POST":
            if not can_correct:
                raise PermissionDenied
            form = ActivityCorrectionForm(request.POST, activity=activity)
            if form.is_valid():
                changes = form.changes(activity)
                if not changes:
                    self.message_user(request, gettext("Nothing was changed."), messages.INFO)
                    return self._lead_page(lead, "activities")
                try:
                    services.activity_correct(
                        activity=activity,
                        changes=changes,
                        by=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                except ValidationError as exc:
                    form.add_service_errors(exc)
                else:
                    self.message_user(
                        request, gettext("The activity was corrected."), messages.SUCCESS
                    )
                    return self._lead_page(lead, "activities")
        else:
            form = ActivityCorrectionForm(activity=activity)
        labels = selectors.activity_choice_labels()
        corrections = list(
            activity.corrections.select_related("corrected_by").order_by("corrected_at")
        )
        for correction in corrections:
            correction.lines = timeline.correction_lines(correction, labels)
            correction.by_name = user_name(correction.corrected_by)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Correct an activity"),
            "subtitle": None,
            "opts": self.opts,
            "original": lead,
            "activity": activity,
            "form": form,
            "can_correct": can_correct,
            "corrections": corrections,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/leads/lead/activity_correct.html", context)

    def suppression_lift_view(self, request, object_id: str, suppression_id: int) -> HttpResponse:
        lead = self._lead_or_404(request, object_id)
        if not request.user.has_perm("leads.change_suppression"):
            raise PermissionDenied
        suppression = Suppression.objects.filter(pk=suppression_id, lead=lead).first()
        if suppression is None:
            raise Http404
        services.suppression_lift(suppression=suppression, by=request.user)
        self.message_user(
            request,
            gettext("The suppression of %(channel)s was lifted.")
            % {"channel": suppression.get_channel_display()},
            messages.SUCCESS,
        )
        return self._lead_page(lead, "suppressions")


def _split_tags(text: str) -> list[str]:
    """Tags typed in one box: separated by commas (, or 、)."""
    return [part.strip() for part in text.replace("、", ",").split(",") if part.strip()]


def _timeline_cursor(raw: str | None) -> datetime.datetime | None:
    if not raw:
        return None
    moment = parse_datetime(raw.replace(" ", "+"))  # a "+" in a URL may arrive as a space
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _custom_value_text(value) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


# -- companies, tags, custom fields, activity choices ------------------------------------


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "employee_count", "capital")
    search_fields = ("name", "domain")
    list_filter = ("industry",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    readonly_fields = ("lead_count", "created_at")
    fields = ("name", "domain", "industry", "employee_count", "capital", "lead_count", "created_at")

    def get_object(self, request, object_id, from_field=None):
        # The count is annotated here, for the one company shown, never on the list.
        company = super().get_object(request, object_id, from_field)
        if company is None:
            return None
        return selectors.company_with_lead_count(company.pk)

    @admin.display(description=_("leads"))
    def lead_count(self, company: Company) -> str:
        count = getattr(company, "lead_count", None)
        if count is None:
            return "—"
        url = (
            reverse("admin:leads_lead_changelist")
            + "?"
            + urlencode({"company__id__exact": company.pk})
        )
        return format_html('<a href="{}">{}</a>', url, localize(count))


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "created_at")
    search_fields = ("name",)
    readonly_fields = ("lead_count", "created_at")
    fields = ("name", "description", "lead_count", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # Rules elsewhere (scoring's tag adjustments, scenario branches) name
        # tags; renaming one in use would quietly detach them.
        if obj is not None and selectors.tag_in_use(obj):
            return ("name", *self.readonly_fields)
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a tag in use would erase its TagChange history without any
        # "removed" event; remove it from leads with the bulk action instead.
        if obj is not None and selectors.tag_in_use(obj):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("leads"))
    def lead_count(self, tag: Tag) -> str:
        if tag.pk is None:
            return "—"
        count = tag.lead_tags.count()
        url = reverse("admin:leads_lead_changelist") + "?" + urlencode({"tag": tag.pk})
        return format_html('<a href="{}">{}</a>', url, localize(count))


class CustomFieldForm(forms.ModelForm):
    choices = forms.CharField(
        label=_("choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("For choice types: one choice per line."),
    )

    class Meta:
        model = CustomField
        fields = (
            "key",
            "label",
            "type",
            "choices",
            "required",
            "position",
            "help_text",
            "is_active",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["choices"] = "\n".join(str(c) for c in self.instance.choices or [])

    def clean_choices(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data.get("choices", "").splitlines()]
        choices = []
        for line in lines:
            if line and line not in choices:
                choices.append(line)
        return choices

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("type")
        choice_types = (CustomField.Type.CHOICE, CustomField.Type.MULTI_CHOICE)
        if kind in choice_types and not cleaned.get("choices"):
            self.add_error("choices", gettext("List the choices, one per line."))
        if kind not in choice_types:
            cleaned["choices"] = []
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    """Definitions of the custom fields (カスタマー項目).

    Only roles that may change definitions (Marketer, Admin) open their pages;
    others see the list, since a definition page would otherwise show them a
    form they cannot use.
    """

    form = CustomFieldForm
    list_display = ("label", "key", "type", "required", "is_active", "position")
    list_filter = ("type", "is_active")
    ordering = ("position", "id")

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is not None:
            return self.has_change_permission(request, obj)
        return super().has_view_permission(request, obj)

    def get_list_display_links(self, request, list_display):
        if not self.has_change_permission(request):
            return None
        return super().get_list_display_links(request, list_display)

    def get_readonly_fields(self, request, obj=None):
        # Values are stored under the key (and used in CSV headers, the API and
        # merge tags), so a key cannot change once it exists.
        return ("key", "created_at") if obj is not None else ("created_at",)


@admin.register(ActivityChoice)
class ActivityChoiceAdmin(admin.ModelAdmin):
    """The editable choice lists of activities (活動履歴の項目設定)."""

    list_display = ("label", "kind", "code", "position", "is_active")
    list_display_links = ("code",)
    list_editable = ("label", "position", "is_active")
    list_filter = ("kind", "is_active")
    ordering = ("kind", "position", "id")

    def get_readonly_fields(self, request, obj=None):
        # Activities store the code; renaming it would orphan them. The label may change.
        return ("kind", "code") if obj is not None else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        # Old activities keep their code; a choice is switched off, never deleted.
        return False


# -- lists ------------------------------------------------------------------------------


class LatestMembersFormSet(forms.BaseInlineFormSet):
    """The list's latest members only: a list may hold a million leads."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset().order_by("-added_at", "-id")[:LIST_MEMBERS_SHOWN]
        return self._latest


class ListMembershipInline(admin.TabularInline):
    model = ListMembership
    formset = LatestMembersFormSet
    fk_name = "static_list"
    verbose_name_plural = _("members (the latest 200; open the lead list for all)")
    fields = ("member", "added_at", "added_by_kind", "added_by", "removed_at", "removed_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("lead", "added_by", "removed_by")

    @admin.display(description=_("lead"))
    def member(self, membership: ListMembership) -> str:
        return lead_link(membership.lead)


class StaticListForm(forms.ModelForm):
    add_emails = forms.CharField(
        label=_("Add leads"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Email addresses, one per line."),
    )
    remove_emails = forms.CharField(
        label=_("Remove leads"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Email addresses, one per line."),
    )

    class Meta:
        model = StaticList
        fields = ("name", "description")


@admin.register(StaticList)
class StaticListAdmin(admin.ModelAdmin):
    form = StaticListForm

    @admin.display(description=_("CSV"))
    def export_link(self, static_list: StaticList) -> str:
        if not static_list.pk:
            return "—"
        url = reverse("admin:leads_importjob_export_list", args=[static_list.pk])
        return format_html('<a href="{}">{}</a>', url, _("Export the members to CSV"))

    list_display = ("name", "source_segment", "snapshot_at", "created_by", "created_at")
    list_select_related = ("source_segment", "created_by")
    search_fields = ("name",)
    inlines = (ListMembershipInline,)
    readonly_fields = (
        "member_count",
        "export_link",
        "source_segment",
        "snapshot_at",
        "created_by",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "description", "member_count", "export_link")}),
        (_("Members"), {"fields": ("add_emails", "remove_emails")}),
        (_("Origin"), {"fields": ("source_segment", "snapshot_at", "created_by", "created_at")}),
    )

    @admin.display(description=_("members"))
    def member_count(self, static_list: StaticList) -> str:
        if static_list.pk is None:
            return "—"
        count = selectors.static_list_member_count(static_list)
        url = reverse("admin:leads_lead_changelist") + "?" + urlencode({"list": static_list.pk})
        return format_html('<a href="{}">{}</a>', url, localize(count))

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        static_list = form.instance
        add_ids = self._lead_ids(request, form.cleaned_data.get("add_emails", ""))
        if add_ids:
            added = services.list_add(
                static_list=static_list,
                lead_ids=add_ids,
                actor_kind=ActorKind.USER,
                by=request.user,
            )
            self.message_user(
                request,
                ngettext("%(count)d lead added.", "%(count)d leads added.", added)
                % {"count": added},
                messages.SUCCESS,
            )
        remove_ids = self._lead_ids(request, form.cleaned_data.get("remove_emails", ""))
        if remove_ids:
            removed = services.list_remove(
                static_list=static_list, lead_ids=remove_ids, by=request.user
            )
            self.message_user(
                request,
                ngettext("%(count)d lead removed.", "%(count)d leads removed.", removed)
                % {"count": removed},
                messages.SUCCESS,
            )

    def _lead_ids(self, request, emails_text: str) -> list[int]:
        """Ids of the leads typed as emails; the emails no lead has are reported."""
        emails = emails_text.split()
        if not emails:
            return []
        lead_ids, unknown = selectors.leads_by_emails(emails)
        if unknown:
            self.message_user(
                request,
                gettext("No lead has these emails: %(emails)s") % {"emails": ", ".join(unknown)},
                messages.WARNING,
            )
        return lead_ids


# -- consents, suppressions, merges: read-only records ------------------------------------


class ReadOnlyRecordAdmin(admin.ModelAdmin):
    """Records kept for audit (特定電子メール法, merges): shown, never edited or deleted here."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    search_help_text = _("Email of the lead (from the start), name or company.")
    search_fields = ("lead__email",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        leads = selectors.lead_search(Lead.objects.all(), search_term).values("pk")
        return queryset.filter(**{f"{self.lead_field}__in": leads}), False

    lead_field = "lead"

    @admin.display(description=_("lead"))
    def lead_display(self, record) -> str:
        return lead_link(getattr(record, self.lead_field))


@admin.register(Consent)
class ConsentAdmin(ReadOnlyRecordAdmin):
    list_display = ("lead_display", "channel", "basis", "source_ref", "obtained_at", "recorded_by")
    list_filter = ("basis", "channel")
    list_select_related = ("lead", "recorded_by")
    ordering = ("-obtained_at",)


class SuppressionActiveFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", _("In force")), ("no", _("Lifted"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "lead_display",
        "channel",
        "reason",
        "detail",
        "created_at",
        "lifted_at",
        "lifted_by",
    )
    list_filter = (SuppressionActiveFilter, "channel", "reason")
    list_select_related = ("lead", "lifted_by")
    ordering = ("-created_at",)
    actions = ("lift",)

    def has_lift_permission(self, request) -> bool:
        return request.user.has_perm("leads.change_suppression")

    @admin.action(description=_("Lift the selected suppressions"), permissions=["lift"])
    def lift(self, request, queryset):
        lifted = 0
        for suppression in queryset.filter(lifted_at__isnull=True).select_related(None):
            services.suppression_lift(suppression=suppression, by=request.user)
            lifted += 1
        self.message_user(
            request,
            ngettext("%(count)d suppression lifted.", "%(count)d suppressions lifted.", lifted)
            % {"count": lifted},
            messages.SUCCESS,
        )


@admin.register(LeadMerge)
class LeadMergeAdmin(ReadOnlyRecordAdmin):
    lead_field = "survivor"
    search_fields = ("merged_email",)
    list_display = ("lead_display", "merged_email", "merged_lead_id", "merged_at", "merged_by")
    list_select_related = ("survivor", "merged_by")
    ordering = ("-merged_at",)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        by_survivor, _unused = super().get_search_results(request, queryset, term)
        return by_survivor | queryset.filter(merged_email__startswith=term), False
