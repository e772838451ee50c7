"""Rendering and validating a marketer's form for a visitor (hosted or embedded)."""

from __future__ import annotations

import time

from django import forms
from django.core import signing
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from leads.custom_fields import active_fields, clean_value
from leads.models import CustomField, Lead, Stage
from leads.prefectures import PREFECTURE_CHOICES
from tracking.models import Form

HONEYPOT = "website"
STARTED = "started"

#: Lead fields a form may ask for, with their form field and default labels.
STANDARD_FIELDS = {
    "email": (forms.EmailField, gettext_lazy("Email")),
    "last_name": (forms.CharField, gettext_lazy("Last name")),
    "first_name": (forms.CharField, gettext_lazy("First name")),
    "last_name_kana": (forms.CharField, gettext_lazy("Last name (kana)")),
    "first_name_kana": (forms.CharField, gettext_lazy("First name (kana)")),
    "company": (forms.CharField, gettext_lazy("Company")),
    "department": (forms.CharField, gettext_lazy("Department")),
    "title": (forms.CharField, gettext_lazy("Job title")),
    "phone": (forms.CharField, gettext_lazy("Phone")),
    "industry": (forms.CharField, gettext_lazy("Industry")),
    "employee_count": (forms.IntegerField, gettext_lazy("Employees")),
    "prefecture": (forms.ChoiceField, gettext_lazy("Prefecture")),
    "address": (forms.CharField, gettext_lazy("Address")),
    "stage": (forms.ChoiceField, gettext_lazy("Stage")),
}


def field_choices() -> list[tuple[str, str]]:
    """What the form builder offers: standard fields then custom ones."""
    custom = [(f"custom.{k}", f.label) for k, f in active_fields().items()]
    return [(k, str(label)) for k, (_cls, label) in STANDARD_FIELDS.items()] + custom


def _localized(obj, name: str) -> str:
    english = (get_language() or "ja").startswith("en")
    value = getattr(obj, f"{name}_en" if english else f"{name}_ja", "")
    return value or getattr(obj, f"{name}_ja", "") or getattr(obj, f"{name}_en", "")


class LeadCaptureForm(forms.Form):
    """Built from a Form's fields; validation errors speak the visitor's language."""

    def __init__(self, *args, lead_form: Form, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lead_form = lead_form
        self.custom_defs: dict[str, CustomField] = active_fields()
        for definition in lead_form.fields.all():
            label = _localized(definition, "label")
            self.fields[definition.field] = self._field_for(
                definition.field, label, definition.required
            )
        if "email" not in self.fields:
            self.fields["email"] = forms.EmailField(label=STANDARD_FIELDS["email"][1])
        self.fields["email"].required = True
        self.fields["consent"] = forms.BooleanField(
            label=_localized(lead_form, "consent_text"), required=lead_form.consent_required
        )
        self.fields[HONEYPOT] = forms.CharField(required=False, label="", widget=forms.TextInput(
            attrs={"tabindex": "-1", "autocomplete": "off", "class": "kz-hp"}
        ))  # fmt: skip
        self.fields[STARTED] = forms.CharField(
            required=False, widget=forms.HiddenInput, initial=signing.dumps(time.time())
        )

    def _field_for(self, name: str, label: str, required: bool) -> forms.Field:
        if name.startswith("custom."):
            definition = self.custom_defs.get(name.removeprefix("custom."))
            if definition is None:
                return forms.CharField(label=label, required=required)
            label = label or definition.label
            T = CustomField.Type
            if definition.type == T.CHOICE:
                choices = [("", "---")] + [(c, c) for c in definition.choices]
                return forms.ChoiceField(label=label, required=required, choices=choices)
            if definition.type == T.MULTI_CHOICE:
                return forms.MultipleChoiceField(
                    label=label, required=required,
                    choices=[(c, c) for c in definition.choices],
                    widget=forms.CheckboxSelectMultiple,
                )  # fmt: skip
            if definition.type == T.DATE:
                return forms.DateField(
                    label=label, required=required, widget=forms.DateInput(attrs={"type": "date"})
                )
            if definition.type == T.NUMBER:
                return forms.DecimalField(label=label, required=required)
            return forms.CharField(label=label, required=required, max_length=500)
        field_class, default_label = STANDARD_FIELDS.get(name, (forms.CharField, name))
        kwargs = {"label": label or default_label, "required": required}
        if name == "prefecture":
            kwargs["choices"] = [("", "---"), *PREFECTURE_CHOICES]
        elif name == "stage":
            kwargs["choices"] = [("", "---"), *Stage.choices]
        elif field_class is forms.CharField:
            kwargs["max_length"] = Lead._meta.get_field(
                "company_name" if name == "company" else name
            ).max_length
        elif field_class is forms.IntegerField:
            kwargs["min_value"] = 0
        return field_class(**kwargs)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get(HONEYPOT):
            raise forms.ValidationError(_("The form could not be sent. Please try again."))
        try:
            started = float(signing.loads(cleaned.get(STARTED) or "", max_age=86400))
        except (signing.BadSignature, TypeError, ValueError):
            raise forms.ValidationError(
                _("The form has expired. Please reload the page and try again.")
            ) from None
        if time.time() - started < self.lead_form.min_fill_seconds:
            raise forms.ValidationError(
                _("That was very fast. Please check the form and send it again.")
            )
        for name, value in list(cleaned.items()):
            if name.startswith("custom.") and name.removeprefix("custom.") in self.custom_defs:
                try:
                    cleaned[name] = clean_value(
                        self.custom_defs[name.removeprefix("custom.")], value
                    )
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        return cleaned

    def lead_data(self) -> dict:
        data, custom = {}, {}
        for name, value in self.cleaned_data.items():
            if name in (HONEYPOT, STARTED, "consent") or value in (None, "", []):
                continue
            if name.startswith("custom."):
                custom[name.removeprefix("custom.")] = value
            else:
                data[name] = value
        if custom:
            data["custom"] = custom
        return data

    def consent_text(self) -> str:
        return _localized(self.lead_form, "consent_text")
