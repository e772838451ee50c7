"""Admin: marketers configure HOT lists and can make this week's list now."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from scoring.hotlists import services
from scoring.hotlists.models import HotList, HotListMail, HotListMember, HotListRun


@admin.register(HotList)
class HotListAdmin(admin.ModelAdmin):
    list_display = ["name", "segment", "is_active", "schedule", "latest_week"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    filter_horizontal = ["team", "report_recipients"]
    actions = ["run_now"]
    fieldsets = [
        (None, {"fields": ["name", "segment", "activity_source", "is_active"]}),
        (
            _("Schedule (site time zone)"),
            {
                "fields": [
                    ("publish_weekday", "publish_time"),
                    ("remind_weekday", "remind_time"),
                    ("report_weekday", "report_time"),
                    "top_count",
                ]
            },
        ),
        (_("Recipients"), {"fields": ["team", "report_recipients"]}),
    ]

    @admin.display(description=_("schedule"))
    def schedule(self, obj: HotList) -> str:
        return (
            f"{obj.get_publish_weekday_display()} {obj.publish_time:%H:%M} / "
            f"{obj.get_remind_weekday_display()} {obj.remind_time:%H:%M} / "
            f"{obj.get_report_weekday_display()} {obj.report_time:%H:%M}"
        )

    @admin.display(description=_("latest week"))
    def latest_week(self, obj: HotList):
        run = obj.runs.order_by("-week_start").first()
        if run is None:
            return "—"
        return format_html(
            '<a href="{}?run={}">{} ({})</a>',
            reverse("workbench"),
            run.pk,
            f"{run.week_start:%Y-%m-%d}",
            run.member_count,
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Make this week's list now"), permissions=["change"])
    def run_now(self, request, queryset):
        made = 0
        for hot_list in queryset:
            try:
                run = services.hot_list_run_now(hot_list=hot_list, by=request.user)
            except ValidationError as exc:
                self.message_user(
                    request,
                    _("“%(name)s” was not made: its saved search has errors (%(errors)s).")
                    % {"name": hot_list.name, "errors": " ".join(exc.messages)},
                    messages.ERROR,
                )
                continue
            made += 1
            self.message_user(
                request,
                _("“%(name)s”, week of %(week)s: %(count)d leads.")
                % {"name": hot_list.name, "week": run.week_start, "count": run.member_count},
                messages.SUCCESS,
            )
        if made:
            self.message_user(
                request,
                ngettext("%(count)d list made.", "%(count)d lists made.", made) % {"count": made},
            )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HotListRun)
class HotListRunAdmin(ReadOnlyAdmin):
    list_display = ["hot_list", "week_start", "generated_at", "member_count", "carried_over_count"]
    list_filter = ["hot_list"]
    date_hierarchy = "week_start"


@admin.register(HotListMember)
class HotListMemberAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "position",
        "lead",
        "rank",
        "score",
        "carried_over",
        "removed_at",
        "handoff",
    ]
    list_filter = ["handoff", "rank", "carried_over", "run__hot_list"]
    list_select_related = ["run__hot_list", "lead"]
    raw_id_fields = ["lead", "run"]


@admin.register(HotListMail)
class HotListMailAdmin(ReadOnlyAdmin):
    list_display = ["run", "kind", "recipient", "state", "attempts", "sent_at"]
    list_filter = ["kind", "state"]
    list_select_related = ["run__hot_list"]
