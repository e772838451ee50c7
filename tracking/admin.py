from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from tracking.lead_forms import field_choices
from tracking.models import (
    DoubleOptIn,
    DoubleOptInMail,
    Form,
    FormField,
    FormSubmission,
    Identification,
    Popup,
    Site,
    Slot,
    SlotVariant,
    Visitor,
)
from tracking.snippet import snippet_tag


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "domain_list", "is_active")
    readonly_fields = ("key", "snippet")
    fields = ("name", "domains", "respect_do_not_track", "is_active", "key", "snippet",
              "sender_name", "sender_email", "mail_footer_ja", "mail_footer_en")  # fmt: skip

    @admin.display(description=_("domains"))
    def domain_list(self, site: Site) -> str:
        return ", ".join(site.domains)

    @admin.display(description=_("snippet to paste before </head>"))
    def snippet(self, site: Site) -> str:
        if not site.pk:
            return "-"
        return format_html("<code>{}</code>", snippet_tag(site))


class FormFieldForm(forms.ModelForm):
    field = forms.ChoiceField(label=_("lead field"), choices=())

    class Meta:
        model = FormField
        fields = ("field", "label_ja", "label_en", "required", "position")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = field_choices()


class FormFieldInline(admin.TabularInline):
    model = FormField
    form = FormFieldForm
    extra = 0


@admin.register(Form)
class FormAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "site", "version", "is_active", "hosted_link")
    inlines = [FormFieldInline]
    readonly_fields = ("version", "embed_code")
    fieldsets = (
        (None, {"fields": ("name", "key", "site", "is_active", "version", "embed_code")}),
        (_("Texts"), {"fields": ("title_ja", "title_en", "intro_ja", "intro_en",
                                 "submit_label_ja", "submit_label_en")}),
        (_("Consent (特定電子メール法)"), {"fields": ("consent_text_ja", "consent_text_en",
                                               "consent_required")}),
        (_("After submitting"), {"fields": ("thanks_ja", "thanks_en", "redirect_url", "tags",
                                            "consent_tags", "asset", "asset_hours")}),
        (_("Double opt-in"), {"fields": ("double_opt_in", "double_opt_in_hours")}),
        (_("Spam"), {"fields": ("min_fill_seconds",)}),
    )  # fmt: skip

    @admin.display(description=_("hosted page"))
    def hosted_link(self, form: Form) -> str:
        return format_html('<a href="/f/{}/" target="_blank">/f/{}/</a>', form.key, form.key)

    @admin.display(description=_("embed code"))
    def embed_code(self, form: Form) -> str:
        if not form.pk:
            return "-"
        return format_html('<code>&lt;div data-kizuki-form="{}"&gt;&lt;/div&gt;</code>', form.key)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # Consents name the version of the form a person saw: any change makes a new one.
        if change and (form.has_changed() or any(fs.has_changed() for fs in formsets)):
            Form.objects.filter(pk=form.instance.pk).update(version=form.instance.version + 1)


@admin.register(FormSubmission)
class FormSubmissionAdmin(admin.ModelAdmin):
    list_display = ("submitted_at", "form", "form_version", "lead", "consented")
    list_select_related = ("form", "lead")
    raw_id_fields = ("lead", "visitor")
    readonly_fields = [f.name for f in FormSubmission._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ("anon_id", "site", "lead", "visit_count", "page_view_count", "last_seen_at")
    list_select_related = ("site", "lead")
    raw_id_fields = ("lead",)
    show_full_result_count = False
    readonly_fields = [f.name for f in Visitor._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Identification)
class IdentificationAdmin(admin.ModelAdmin):
    list_display = ("identified_at", "lead", "method", "events_attributed")
    raw_id_fields = ("lead", "visitor")
    readonly_fields = [f.name for f in Identification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


class DoubleOptInMailInline(admin.TabularInline):
    model = DoubleOptInMail
    extra = 0
    can_delete = False
    fields = ("number", "state", "created_at", "sent_at", "attempts")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DoubleOptIn)
class DoubleOptInAdmin(admin.ModelAdmin):
    list_display = ("created_at", "form", "email", "state", "confirmed_at")
    list_filter = ("state", "form")
    list_select_related = ("form",)
    search_fields = ("email",)
    raw_id_fields = ("lead", "visitor", "submission")
    readonly_fields = [f.name for f in DoubleOptIn._meta.fields]
    inlines = [DoubleOptInMailInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Popup)
class PopupAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "audience", "priority", "is_active")
    list_filter = ("is_active", "audience")
    fieldsets = (
        (None, {"fields": ("name", "site", "is_active", "priority")}),
        (_("Who sees it"), {"fields": ("audience", "min_visits", "page_patterns",
                                       "page_views_each", "within_days", "segment",
                                       "snooze_days")}),
        (_("Content"), {"fields": ("form", "title_ja", "title_en", "body_ja", "body_en",
                                   "cta_label_ja", "cta_label_en", "cta_url")}),
    )  # fmt: skip


class SlotVariantInline(admin.StackedInline):
    model = SlotVariant
    extra = 0
    fields = ("rule", "segment", "html_ja", "html_en", "position")


@admin.register(Slot)
class SlotAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    inlines = [SlotVariantInline]
