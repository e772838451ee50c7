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
    Send,
    SenderProfile,
    SendWindow,
    SequenceStep,
    StepSequence,
)
from scenarios.selectors import (
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
    readonly_fields = ("state", "recipients", "status_counts", "link_clicks")
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
