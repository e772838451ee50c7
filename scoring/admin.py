"""The marketer's scoring screens: behaviour rules, fit rules (a readable
condition editor), tag adjustments, the thresholds, and rescore jobs with
their progress. Saving any of them rescores every lead in the background;
the rules themselves live in ``scoring.services``."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring import services
from scoring.models import FitRule, RescoreJob, ScoreRule, ScoringSettings, TagAdjustment
from tracking.models import EventType


def _add_errors(form: forms.Form, exc: ValidationError, fields: dict[str, str]) -> None:
    """Put a service's {param: [message]} errors on the form fields they concern."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for param, errors in exc.message_dict.items():
        form.add_error(fields.get(param) if fields.get(param) in form.fields else None, errors)


# -- behaviour rules --------------------------------------------------------------------


class ScoreRuleForm(forms.ModelForm):
    event_type = forms.ChoiceField(label=_("event type"), choices=EventType.choices)

    class Meta:
        model = ScoreRule
        fields = (
            "name",
            "event_type",
            "url_pattern",
            "form_key",
            "points",
            "daily_cap",
            "is_active",
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.check_score_rule(
                event_type=cleaned.get("event_type", ""),
                url_pattern=cleaned.get("url_pattern", ""),
                points=cleaned.get("points"),
                daily_cap=cleaned.get("daily_cap"),
            )
        except ValidationError as exc:
            _add_errors(self, exc, {name: name for name in self.fields})
        return cleaned


@admin.register(ScoreRule)
class ScoreRuleAdmin(admin.ModelAdmin):
    form = ScoreRuleForm
    list_display = ("name", "event_type", "url_pattern", "points", "daily_cap", "is_active")
    list_filter = ("event_type", "is_active")
    search_fields = ("name", "url_pattern")

    @transaction.atomic
    def save_model(self, request, obj: ScoreRule, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.score_rule_saved(obj)
        self.message_user(request, gettext("Every lead is being rescored in the background."))

    @transaction.atomic
    def delete_model(self, request, obj: ScoreRule) -> None:
        pk = obj.pk
        super().delete_model(request, obj)
        services.rescore_in_background(reason=f"rule {pk} deleted")

    @transaction.atomic
    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        services.rescore_in_background(reason="rules deleted")


# -- fit rules --------------------------------------------------------------------------


def _field_choices() -> list[tuple[str, str]]:
    from leads.segments.attribute import search_fields

    return [(name, f"{field.label} ({name})") for name, field in search_fields().items()]


def _operator_choices() -> list[tuple[str, str]]:
    from leads.segments.attribute import OPERATORS

    seen: dict[str, str] = {}
    for ops in OPERATORS.values():
        for op in ops:
            seen.setdefault(op, op)
    return list(seen.items())


class FitRuleForm(forms.ModelForm):
    """The condition as three fields (field, operator, value) instead of JSON;
    checked by the same "attribute" search block the segments use."""

    condition_field = forms.ChoiceField(label=_("lead field"), choices=())
    condition_op = forms.ChoiceField(label=_("operator"), choices=())
    condition_value = forms.CharField(
        label=_("value"),
        required=False,
        help_text=_(
            "Several values (in) or a range (between): separate with commas, e.g. "
            "製造業, 建設 or 100, 999. Yes/no fields: true or false."
        ),
    )

    class Meta:
        model = FitRule
        fields = ("name", "points", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["condition_field"].choices = _field_choices()
        self.fields["condition_op"].choices = _operator_choices()
        condition = (self.instance.condition or {}) if self.instance.pk else {}
        if condition:
            value = condition.get("value", "")
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            self.initial.update(
                condition_field=condition.get("field"),
                condition_op=condition.get("op"),
                condition_value=value,
            )

    def clean(self):
        from leads.segments import get_block
        from leads.segments.attribute import BOOLEAN, search_field

        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("points") == 0:
            self.add_error("points", gettext("A rule worth 0 points changes nothing."))
            return cleaned
        params: dict = {"field": cleaned["condition_field"], "op": cleaned["condition_op"]}
        raw = (cleaned.get("condition_value") or "").strip()
        if raw:
            parts = [part.strip() for part in raw.replace("、", ",").split(",") if part.strip()]
            try:
                kind = search_field(params["field"]).type
            except ValidationError:
                kind = None
            if kind == BOOLEAN:
                params["value"] = raw.lower() in ("true", "yes", "1", "はい")
            elif params["op"] in ("in", "between") or len(parts) > 1:
                params["value"] = parts
            else:
                params["value"] = raw
        try:
            self.instance.condition = get_block("attribute").validate(params)
        except ValidationError as exc:
            _add_errors(
                self,
                exc,
                {"field": "condition_field", "op": "condition_op", "value": "condition_value"},
            )
        return cleaned


@admin.register(FitRule)
class FitRuleAdmin(admin.ModelAdmin):
    form = FitRuleForm
    list_display = ("name", "condition_text", "points", "is_active")
    fieldsets = (
        (None, {"fields": ("name", "points", "is_active")}),
        (_("Condition"), {"fields": ("condition_field", "condition_op", "condition_value")}),
    )

    @admin.display(description=_("condition"))
    def condition_text(self, rule: FitRule) -> str:
        from leads.segments import get_block

        return get_block("attribute").describe(dict(rule.condition or {}))

    @transaction.atomic
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.rescore_in_background(reason="fit rules changed")
        self.message_user(request, gettext("Every lead is being rescored in the background."))

    @transaction.atomic
    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        services.rescore_in_background(reason="fit rules changed")

    @transaction.atomic
    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        services.rescore_in_background(reason="fit rules changed")


# -- tag adjustments, thresholds ---------------------------------------------------------


class TagAdjustmentForm(forms.ModelForm):
    class Meta:
        model = TagAdjustment
        fields = ("tag", "points")

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise ValidationError(gettext("An adjustment of 0 points changes nothing."))
        return points


@admin.register(TagAdjustment)
class TagAdjustmentAdmin(admin.ModelAdmin):
    form = TagAdjustmentForm
    list_display = ("tag", "points")
    autocomplete_fields = ("tag",)
    list_select_related = ("tag",)

    @transaction.atomic
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.rescore_in_background(reason=f"tag {obj.tag.name} adjustment")
        self.message_user(request, gettext("Every lead is being rescored in the background."))

    @transaction.atomic
    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        services.rescore_in_background(reason="tag adjustment removed")

    @transaction.atomic
    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        services.rescore_in_background(reason="tag adjustments removed")


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    """One row: HOT/WARM thresholds and the window (``ScoringSettings.clean``
    refuses HOT ≤ WARM with a message on the field)."""

    list_display = ("__str__", "hot_min", "warm_min", "window_days")
    fields = ("hot_min", "warm_min", "window_days")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not ScoringSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @transaction.atomic
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.rescore_in_background(
            reason="thresholds or window changed",
            recount_all="window_days" in form.changed_data,
        )
        self.message_user(request, gettext("Every lead is being rescored in the background."))


# -- rescore jobs -----------------------------------------------------------------------


@admin.register(RescoreJob)
class RescoreJobAdmin(admin.ModelAdmin):
    """Read-only: what a background rescore is doing or did."""

    list_display = ("pk", "reason", "state", "progress", "leads_changed", "created_at", "error")
    list_filter = ("state",)
    fields = (
        "reason",
        "state",
        "progress",
        "leads_changed",
        "created_at",
        "finished_at",
        "error",
    )
    readonly_fields = fields

    @admin.display(description=_("progress"))
    def progress(self, job: RescoreJob) -> str:
        percent = round(100 * job.done_steps / job.total_steps) if job.total_steps else 0
        return format_html(
            '<progress max="{}" value="{}" aria-label="{}%"></progress> {}/{}',
            job.total_steps,
            job.done_steps,
            percent,
            job.done_steps,
            job.total_steps,
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
