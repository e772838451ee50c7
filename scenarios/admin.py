"""Admin of mail: sender profile, send windows, templates (live preview as a
lead, test send), newsletters (schedule, status counts), sends and bounces."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import Lead
from scenarios import services
from scenarios.models import (
    Bounce,
    EmailTemplate,
    Enrollment,
    Newsletter,
    Scenario,
    ScenarioAction,
    ScenarioEnrollment,
    ScenarioStep,
    Send,
    SenderProfile,
    SendWindow,
    SequenceStep,
    StepSequence,
)
from scenarios.selectors import (
    mail_link_clicks,
    mail_stats,
    mail_stats_one,
    newsletter_counts,
    newsletter_link_clicks,
    newsletter_skip_reasons,
)


@admin.register(SenderProfile)
class SenderProfileAdmin(admin.ModelAdmin):
    list_display = ("from_name", "from_email", "weekly_cap", "updated_at")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not SenderProfile.objects.exists()


class SendWindowForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        label=gettext_lazy("weekdays"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        choices=[
            (0, gettext_lazy("Monday")),
            (1, gettext_lazy("Tuesday")),
            (2, gettext_lazy("Wednesday")),
            (3, gettext_lazy("Thursday")),
            (4, gettext_lazy("Friday")),
            (5, gettext_lazy("Saturday")),
            (6, gettext_lazy("Sunday")),
        ],
    )

    class Meta:
        model = SendWindow
        fields = ("name", "weekdays", "start_time", "end_time", "time_zone")


@admin.register(SendWindow)
class SendWindowAdmin(admin.ModelAdmin):
    form = SendWindowForm
    list_display = ("name", "start_time", "end_time", "time_zone")


class TestSendForm(forms.Form):
    to = forms.EmailField(label=gettext_lazy("send a test to"))


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "subject", "updated_at", "preview_link")
    search_fields = ("name", "subject")
    readonly_fields = ("stats",)

    @admin.display(description=gettext_lazy("stats"))
    def stats(self, template: EmailTemplate) -> str:
        if not template.pk:
            return "-"
        return stats_table(
            mail_stats_one(by="template", id=template.pk),
            mail_link_clicks(by="template", id=template.pk),
        )

    @admin.display(description=gettext_lazy("preview"))
    def preview_link(self, template: EmailTemplate) -> str:
        url = reverse("admin:scenarios_emailtemplate_preview", args=[template.pk])
        return format_html('<a href="{}">{}</a>', url, _("Preview and test send"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="scenarios_emailtemplate_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, pk: int):
        """Preview as a chosen lead (``?lead=`` id or email), and send a test."""
        template = get_object_or_404(EmailTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            return redirect("admin:index")
        lead = None
        choice = (request.GET.get("lead") or "").strip()
        if choice:
            lookup = {"pk": choice} if choice.isdigit() else {"email__iexact": choice}
            lead = Lead.objects.filter(**lookup).first()
            if lead is None:
                messages.warning(request, _("No lead “%(lead)s”; showing a sample lead.") % {
                    "lead": choice})  # fmt: skip
        test_form = TestSendForm(request.POST or None)
        if request.method == "POST" and test_form.is_valid():
            try:
                services.template_test_send(
                    template=template, to=test_form.cleaned_data["to"], lead=lead
                )
            except (ValidationError, OSError) as exc:
                text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                messages.error(request, _("The test was not sent: %(e)s") % {"e": text})
            else:
                messages.success(request, _("Test sent to %(to)s.") % {
                    "to": test_form.cleaned_data["to"]})  # fmt: skip
                return redirect(request.get_full_path())
        preview, error = None, None
        try:
            preview = services.template_preview(template=template, lead=lead)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview of “%(name)s”") % {"name": template.name},
            "opts": self.model._meta,
            "original": template,
            "template_obj": template,
            "lead": lead,
            "lead_choice": choice,
            "preview": preview,
            "error": error,
            "test_form": test_form,
        }
        return TemplateResponse(request, "admin/scenarios/emailtemplate/preview.html", context)


@admin.register(Newsletter)
class NewsletterAdmin(admin.ModelAdmin):
    list_display = ("name", "template", "audience", "scheduled_at", "state", "progress")
    list_filter = ("state",)
    readonly_fields = ("state", "recipients", "status_counts", "mail_stats", "link_clicks")
    fields = (
        "name",
        "template",
        "segment",
        "static_list",
        "send_window",
        "scheduled_at",
        "rate_per_minute",
        "state",
        "recipients",
        "status_counts",
        "mail_stats",
        "link_clicks",
    )
    actions = ["schedule"]

    @admin.display(description=gettext_lazy("audience"))
    def audience(self, newsletter: Newsletter) -> str:
        return str(newsletter.segment or newsletter.static_list or "-")

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, newsletter: Newsletter) -> str:
        if newsletter.state in (Newsletter.State.DRAFT, Newsletter.State.SCHEDULED):
            return "-"
        counts = newsletter_counts(newsletter)
        return format_html(
            '<progress max="100" value="{}"></progress> {}% ({} / {})',
            counts["percent"],
            counts["percent"],
            counts["sent"],
            counts["total"],
        )

    @admin.display(description=gettext_lazy("status"))
    def status_counts(self, newsletter: Newsletter) -> str:
        if not newsletter.pk:
            return "-"
        counts = newsletter_counts(newsletter)
        labels = [
            ("total", _("recipients")),
            ("sent", _("sent")),
            ("pending", _("waiting")),
            ("deferred", _("deferred (cap or window)")),
            ("sending", _("sending")),
            ("skipped", _("not sent")),
            ("failed", _("failed")),
            ("unique_opens", _("unique opens")),
            ("unique_clicks", _("unique clicks")),
        ]
        rows = format_html(
            "<table>{}</table>",
            format_html(
                "".join(["<tr><th>{}</th><td>{}</td></tr>"] * len(labels)),
                *[part for key, label in labels for part in (label, counts[key])],
            ),
        )
        reasons = newsletter_skip_reasons(newsletter)
        if not reasons:
            return rows
        return format_html(
            "{}<p>{}</p><ul>{}</ul>",
            rows,
            _("Reasons"),
            format_html(
                "".join(["<li>{}: {}</li>"] * len(reasons)),
                *[part for reason, n in reasons for part in (reason, n)],
            ),
        )

    @admin.display(description=gettext_lazy("stats"))
    def mail_stats(self, newsletter: Newsletter) -> str:
        if not newsletter.pk:
            return "-"
        return stats_table(mail_stats_one(by="newsletter", id=newsletter.pk), [])

    @admin.display(description=gettext_lazy("clicks per link"))
    def link_clicks(self, newsletter: Newsletter) -> str:
        rows = newsletter_link_clicks(newsletter) if newsletter.pk else []
        if not rows:
            return "-"
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("link"),
            _("clicks"),
            _("leads"),
            format_html(
                "".join(["<tr><td>{}</td><td>{}</td><td>{}</td></tr>"] * len(rows)),
                *[part for row in rows for part in row],
            ),
        )

    @admin.action(description=gettext_lazy("Schedule the selected drafts"))
    def schedule(self, request, queryset) -> None:
        for newsletter in queryset:
            try:
                services.newsletter_schedule(newsletter=newsletter)
            except ValidationError as exc:
                self.message_user(
                    request,
                    _("“%(name)s” was not scheduled: %(e)s")
                    % {"name": newsletter.name, "e": "; ".join(exc.messages)},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, _("“%(name)s” is scheduled.") % {"name": newsletter.name}
                )


class SequenceStepInline(admin.TabularInline):
    model = SequenceStep
    extra = 0
    fields = ("position", "day_offset", "send_time", "template", "send_window")


@admin.register(StepSequence)
class StepSequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "trigger", "trigger_tag", "exit_tag", "is_active", "active_leads")
    list_filter = ("is_active", "trigger")
    inlines = [SequenceStepInline]

    @admin.display(description=gettext_lazy("leads in it now"))
    def active_leads(self, sequence: StepSequence) -> int:
        return sequence.enrollments.filter(state=Enrollment.State.ACTIVE).count()


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Send)
class SendAdmin(ReadOnlyAdmin):
    list_display = ("source_key", "lead", "state", "reason", "due_at", "sent_at", "attempts")
    list_filter = ("state", "kind")
    search_fields = ("source_key", "lead__email")
    raw_id_fields = ("lead",)
    list_select_related = ("lead",)


@admin.register(Bounce)
class BounceAdmin(ReadOnlyAdmin):
    list_display = ("email", "kind", "detail", "occurred_at")
    list_filter = ("kind",)
    search_fields = ("email",)


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "lead", "state", "started_at", "next_position", "next_due_at")
    list_filter = ("state", "sequence")
    search_fields = ("lead__email",)
    raw_id_fields = ("lead",)
    list_select_related = ("sequence", "lead")


# -- scenarios ----------------------------------------------------------------------------

STAT_LABELS = [
    ("sent", gettext_lazy("sent")),
    ("delivered", gettext_lazy("delivered")),
    ("unique_opens", gettext_lazy("unique opens")),
    ("unique_clicks", gettext_lazy("unique clicks")),
    ("click_rate", gettext_lazy("click rate")),
    ("unsubscribes", gettext_lazy("unsubscribes")),
    ("bounces", gettext_lazy("bounces")),
]


def stats_table(stats: dict, links: list[dict]) -> str:
    values = [
        f"{stats[key] * 100:.1f}%" if key == "click_rate" else stats[key]
        for key, _label in STAT_LABELS
    ]
    table = format_html(
        '<table class="mail-stats"><tr>{}</tr><tr>{}</tr></table>',
        format_html(
            "".join(["<th>{}</th>"] * len(STAT_LABELS)), *[label for _k, label in STAT_LABELS]
        ),
        format_html("".join(["<td>{}</td>"] * len(values)), *values),
    )
    if not links:
        return table
    return format_html(
        "{}<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
        table,
        _("link"),
        _("clicks"),
        _("unique clicks"),
        format_html(
            "".join(["<tr><td>{}</td><td>{}</td><td>{}</td></tr>"] * len(links)),
            *[part for row in links for part in (row["url"], row["clicks"], row["unique"])],
        ),
    )


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = (
            "name", "description", "trigger", "trigger_config", "reentry", "exit_tags",
            "exit_on_unsubscribe", "exit_on_customer", "is_active",
        )  # fmt: skip

    def clean(self):
        from scenarios.graph import check_trigger

        cleaned = super().clean()
        if "trigger" in cleaned:
            try:
                cleaned["trigger_config"] = check_trigger(
                    cleaned["trigger"], cleaned.get("trigger_config") or {}
                )
            except ValidationError as exc:
                self.add_error("trigger_config", exc.message_dict["trigger_config"])
        tags = cleaned.get("exit_tags")
        if tags is not None and (
            not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags)
        ):
            self.add_error(
                "exit_tags", _("A list of tag names, e.g. %(example)s.") % {"example": '["失注"]'}
            )
        return cleaned


class ScenarioStepFormSet(forms.BaseInlineFormSet):
    """Checks the whole graph (dangling edges, unreachable steps, loops
    without a wait, each step's settings) before anything is saved."""

    def clean(self) -> None:
        super().clean()
        from scenarios.graph import check_graph

        forms_by_key = {}
        steps = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if form.cleaned_data.get("DELETE"):
                continue
            data = form.cleaned_data
            names = ("key", "kind", "config", "next_key", "else_key", "position")
            steps.append({name: data.get(name) for name in names})
            forms_by_key[data.get("key")] = form
        try:
            cleaned = check_graph(steps)
        except ValidationError as exc:
            raise ValidationError(
                [f"{field.removeprefix('steps.')}: {message}" if field != "steps" else message
                 for field, messages in exc.message_dict.items() for message in messages]
            ) from exc  # fmt: skip
        for step in cleaned:
            forms_by_key[step["key"]].instance.config = step["config"]
            forms_by_key[step["key"]].cleaned_data["config"] = step["config"]


class ScenarioStepInline(admin.TabularInline):
    model = ScenarioStep
    formset = ScenarioStepFormSet
    extra = 1
    fields = ("position", "key", "kind", "config", "next_key", "else_key")


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    form = ScenarioForm
    list_display = ("name", "trigger", "reentry", "is_active", "active_leads", "dry_run_link")
    list_filter = ("is_active", "trigger")
    inlines = [ScenarioStepInline]
    readonly_fields = ("diagram", "stats", "step_stats")

    def get_fields(self, request, obj=None):
        return [*ScenarioForm.Meta.fields, *self.readonly_fields]

    @admin.display(description=gettext_lazy("leads in it now"))
    def active_leads(self, scenario: Scenario) -> int:
        return scenario.enrollments.filter(state=ScenarioEnrollment.State.ACTIVE).count()

    @admin.display(description=gettext_lazy("dry run"))
    def dry_run_link(self, scenario: Scenario) -> str:
        url = reverse("admin:scenarios_scenario_dry_run", args=[scenario.pk])
        return format_html('<a href="{}">{}</a>', url, _("Dry run (14 days)"))

    @admin.display(description=gettext_lazy("diagram"))
    def diagram(self, scenario: Scenario) -> str:
        from django.utils.safestring import mark_safe

        from scenarios.engine import graph_of
        from scenarios.graph import graph_svg

        if not scenario.pk:
            return "-"
        labels = {value: str(label) for value, label in ScenarioStep.Kind.choices}
        return mark_safe(graph_svg(graph_of(scenario), labels))  # noqa: S308 - escaped inside

    @admin.display(description=gettext_lazy("stats"))
    def stats(self, scenario: Scenario) -> str:
        if not scenario.pk:
            return "-"
        return stats_table(
            mail_stats_one(by="scenario", id=scenario.pk),
            mail_link_clicks(by="scenario", id=scenario.pk),
        )

    @admin.display(description=gettext_lazy("stats per step"))
    def step_stats(self, scenario: Scenario) -> str:
        if not scenario.pk:
            return "-"
        steps = list(scenario.steps.filter(kind="send_email"))
        stats = mail_stats(by="step", ids=[s.pk for s in steps])
        if not steps:
            return "-"
        return format_html(
            "".join(["<h4>{}</h4>{}"] * len(steps)),
            *[part for step in steps for part in (
                step.key, stats_table(stats.get(step.pk) or mail_stats_one(by="step", id=step.pk),
                                      []))],
        )  # fmt: skip

    def get_urls(self):
        return [
            path(
                "<int:pk>/dry-run/",
                self.admin_site.admin_view(self.dry_run_view),
                name="scenarios_scenario_dry_run",
            ),
            *super().get_urls(),
        ]

    def dry_run_view(self, request, pk: int):
        from scenarios.dry_run import scenario_dry_run

        scenario = get_object_or_404(Scenario, pk=pk)
        if not self.has_view_permission(request, scenario):
            return redirect("admin:index")
        result, error = None, None
        try:
            result = scenario_dry_run(scenario=scenario)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Dry run of “%(name)s”") % {"name": scenario.name},
            "opts": self.model._meta,
            "original": scenario,
            "result": result,
            "error": error,
        }
        return TemplateResponse(request, "admin/scenarios/scenario/dry_run.html", context)


@admin.register(ScenarioEnrollment)
class ScenarioEnrollmentAdmin(ReadOnlyAdmin):
    list_display = ("scenario", "lead", "state", "step", "next_due_at", "started_at",
                    "exit_reason")  # fmt: skip
    list_filter = ("state", "scenario")
    search_fields = ("lead__email",)
    raw_id_fields = ("lead",)
    list_select_related = ("scenario", "lead", "step")


@admin.register(ScenarioAction)
class ScenarioActionAdmin(ReadOnlyAdmin):
    list_display = ("step", "lead", "kind", "state", "attempts", "done_at", "error")
    list_filter = ("state", "kind")
    raw_id_fields = ("lead",)
    list_select_related = ("step", "lead")
