"""REST API of tracking: record events for leads, identify browsers, sites."""

from __future__ import annotations

import datetime
import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.emails import normalize_email
from leads.models import Lead
from leads.selectors import leads_visible_to
from ma_core.api_pagination import IdCursorPagination
from ma_core.api_permissions import RolePermissions
from tracking import partitions, writer
from tracking.models import (
    Event,
    EventType,
    Form,
    FormField,
    Identification,
    Popup,
    Site,
    Slot,
    SlotVariant,
    Visitor,
)
from tracking.services import check_site_domains, visitor_identify

MAX_API_EVENTS = 1000


def _replace_children(manager, model, *, items: list[dict], **parent) -> None:
    """Nested rows (a form's fields, a slot's variants) are replaced as a whole."""
    manager.all().delete()
    model.objects.bulk_create(model(**parent, **item) for item in items)


class EventInput(serializers.Serializer):
    email = serializers.CharField(required=False)
    lead = serializers.IntegerField(required=False)
    type = serializers.CharField(max_length=40)
    occurred_at = serializers.DateTimeField(required=False)
    url = serializers.CharField(required=False, allow_blank=True, max_length=2048, default="")
    title = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    properties = serializers.DictField(required=False, default=dict)
    id = serializers.UUIDField(required=False)

    def validate_type(self, value: str) -> str:
        if value not in EventType.values:
            raise serializers.ValidationError(
                _("Unknown event type. Use one of: %(types)s.")
                % {"types": ", ".join(EventType.values)}
            )
        return value

    def validate_occurred_at(self, value: datetime.datetime) -> datetime.datetime:
        now = timezone.now()
        if value > now + datetime.timedelta(minutes=5):
            raise serializers.ValidationError(_("An event cannot happen in the future."))
        oldest = partitions.oldest_kept_month(now)
        if value.date() < oldest:
            raise serializers.ValidationError(
                _("Events older than %(day)s are past retention.") % {"day": oldest.isoformat()}
            )
        return value

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("lead"):
            raise serializers.ValidationError({"email": [_("Give the lead's email or id.")]})
        if attrs.get("email"):
            try:
                email = normalize_email(attrs["email"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"email": exc.messages}) from exc
            lead = Lead.objects.filter(email__lower=email).first()
        else:
            lead = Lead.objects.filter(pk=attrs["lead"]).first()
        if lead is None:
            raise serializers.ValidationError(
                {"email" if attrs.get("email") else "lead": [_("There is no such lead.")]}
            )
        attrs["lead_obj"] = lead
        return attrs


class EventOutput(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "event_uid", "type", "occurred_at", "lead_id", "url", "title", "properties"]


class EventsView(APIView):
    """POST one event or a list of events for known leads (past times allowed,
    within retention). Stored at once (not queued), so a search sees them."""

    permission_classes = [RolePermissions]
    queryset = Event.objects.none()

    @extend_schema(request=EventInput, responses={201: None})
    def post(self, request: Request) -> Response:
        many = isinstance(request.data, list)
        items = request.data if many else [request.data]
        if not items or len(items) > MAX_API_EVENTS:
            raise serializers.ValidationError(
                _("Send between 1 and %(n)d events.") % {"n": MAX_API_EVENTS}
            )
        accepted, rejected = [], {}
        for index, item in enumerate(items):
            data = EventInput(data=item)
            if data.is_valid():
                accepted.append(data.validated_data)
            else:
                for name, messages in data.errors.items():
                    key = f"{index}.{name}" if many else name
                    rejected[key] = [str(m) for m in messages]
        stored = [_normalized(v) for v in accepted]
        written = writer.write_batch([dict(e) for e in stored]) if stored else 0
        if rejected:
            from ma_core.api_errors import error_body

            body = error_body(
                "invalid",
                _("%(bad)d of %(all)d events were rejected; the others were kept.")
                % {"bad": len({k.split(".")[0] for k in rejected}) if many else 1,
                   "all": len(items)},
                rejected,
            )  # fmt: skip
            body["accepted"] = len(stored)
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        answer = {"accepted": len(stored), "written": written}
        if not many:
            answer.update({"id": stored[0]["uid"], "lead": stored[0]["lead_id"]})
        return Response(answer, status=status.HTTP_201_CREATED)


def _normalized(values: dict) -> dict:
    return {
        "uid": str(values.get("id") or uuid.uuid4()),
        "type": values["type"],
        "occurred_at": (values.get("occurred_at") or timezone.now()).isoformat(),
        "site_id": None,
        "anon_id": None,
        "lead_id": values["lead_obj"].pk,
        "url": values.get("url", ""),
        "title": values.get("title", ""),
        "referrer": "",
        "properties": values.get("properties") or {},
    }


class IdentifyInput(serializers.Serializer):
    site = serializers.CharField()
    visitor = serializers.CharField(max_length=64)
    email = serializers.CharField()


class IdentifyView(APIView):
    """Tie a browser (site key + visitor id from the snippet) to a lead by email."""

    permission_classes = [RolePermissions]
    queryset = Identification.objects.none()

    @extend_schema(request=IdentifyInput, responses={200: None})
    def post(self, request: Request) -> Response:
        data = IdentifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        site = Site.objects.filter(key=data.validated_data["site"]).first()
        if site is None:
            raise serializers.ValidationError({"site": [_("Unknown site key.")]})
        try:
            email = normalize_email(data.validated_data["email"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"email": exc.messages}) from exc
        lead = Lead.objects.filter(email__lower=email).first()
        if lead is None:
            raise serializers.ValidationError({"email": [_("There is no such lead.")]})
        visitor, _created = Visitor.objects.get_or_create(
            site=site, anon_id=data.validated_data["visitor"]
        )
        identification = visitor_identify(
            visitor=visitor, lead=lead, method=Identification.Method.API
        )
        return Response(
            {"lead": lead.pk, "visitor": visitor.pk,
             "events_attributed": identification.events_attributed}
        )  # fmt: skip


class SiteSerializer(serializers.ModelSerializer):
    snippet = serializers.SerializerMethodField()

    class Meta:
        model = Site
        fields = ["id", "name", "key", "domains", "respect_do_not_track", "is_active", "snippet",
                  "sender_name", "sender_email", "mail_footer_ja", "mail_footer_en"]  # fmt: skip
        read_only_fields = ["key"]

    def get_snippet(self, site) -> str:
        from tracking.snippet import snippet_tag

        return snippet_tag(site)

    def validate_domains(self, value: list[str]) -> list[str]:
        try:
            return check_site_domains(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["domains"]) from exc


class SiteViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = SiteSerializer
    queryset = Site.objects.all()
    pagination_class = IdCursorPagination


class LeadEventsView(APIView):
    """GET /leads/{id}/events/: the lead's web and mail events, newest first."""

    permission_classes = [RolePermissions]
    queryset = Event.objects.none()

    def get(self, request: Request, lead_pk: int) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        events = Event.objects.filter(lead_id=lead.pk).order_by("-occurred_at")[:200]
        return Response(EventOutput(events, many=True).data)


class FormFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = FormField
        fields = ["field", "label_ja", "label_en", "required", "position"]

    def validate_field(self, value: str) -> str:
        from tracking.lead_forms import field_choices

        if value not in {key for key, _label in field_choices()}:
            raise serializers.ValidationError(_("Unknown lead field “%(f)s”.") % {"f": value})
        return value


class FormSerializer(serializers.ModelSerializer):
    """A lead capture form with its fields. Any change makes a new version:
    consents name the version a person saw."""

    hosted_url = serializers.SerializerMethodField()

    class Meta:
        model = Form
        fields = [
            "id", "name", "key", "site", "is_active", "version", "hosted_url",
            "title_ja", "title_en", "intro_ja", "intro_en", "submit_label_ja", "submit_label_en",
            "consent_text_ja", "consent_text_en", "consent_required",
            "thanks_ja", "thanks_en", "redirect_url", "tags", "consent_tags",
            "asset_hours", "min_fill_seconds", "double_opt_in", "double_opt_in_hours",
        ]  # fmt: skip
        read_only_fields = ["version"]

    def get_fields(self) -> dict:
        # "fields" is the Serializer's own attribute, so the nested list is added here.
        return {**super().get_fields(), "fields": FormFieldSerializer(many=True, required=False)}

    def get_hosted_url(self, form: Form) -> str:
        from django.conf import settings

        return f"{settings.PUBLIC_URL}/f/{form.key}/"

    def validate_fields(self, value: list[dict]) -> list[dict]:
        names = [item["field"] for item in value]
        if len(names) != len(set(names)):
            raise serializers.ValidationError(_("Each lead field may appear once."))
        return value

    def validate(self, attrs: dict) -> dict:
        from tracking.double_opt_in import check_double_opt_in_sender

        probe = Form(**{k: v for k, v in attrs.items() if k != "fields"})
        if self.instance is not None:
            for name in ("double_opt_in", "site"):
                if name not in attrs:
                    setattr(probe, name, getattr(self.instance, name))
        try:
            check_double_opt_in_sender(probe)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs

    @transaction.atomic
    def create(self, validated_data: dict) -> Form:
        fields = validated_data.pop("fields", [])
        form = Form.objects.create(**validated_data)
        _replace_children(form.fields, FormField, form=form, items=fields)
        return form

    @transaction.atomic
    def update(self, form: Form, validated_data: dict) -> Form:
        fields = validated_data.pop("fields", None)
        for name, value in validated_data.items():
            setattr(form, name, value)
        form.save()
        if fields is not None:
            _replace_children(form.fields, FormField, form=form, items=fields)
        Form.objects.filter(pk=form.pk).update(version=F("version") + 1)
        form.refresh_from_db()
        return form


class FormViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = FormSerializer
    queryset = Form.objects.prefetch_related("fields").order_by("id")
    pagination_class = IdCursorPagination


class PopupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Popup
        fields = [
            "id", "name", "site", "is_active", "priority", "audience", "min_visits",
            "page_patterns", "page_views_each", "within_days", "segment", "form",
            "title_ja", "title_en", "body_ja", "body_en", "cta_label_ja", "cta_label_en",
            "cta_url", "snooze_days",
        ]  # fmt: skip


class PopupViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = PopupSerializer
    queryset = Popup.objects.order_by("id")
    pagination_class = IdCursorPagination


class SlotVariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = SlotVariant
        fields = ["rule", "segment", "html_ja", "html_en", "position"]

    def validate(self, attrs: dict) -> dict:
        if attrs.get("rule") == SlotVariant.Rule.SEGMENT and not attrs.get("segment"):
            raise serializers.ValidationError(
                {"segment": [_("Choose the segment this content is for.")]}
            )
        return attrs


class SlotSerializer(serializers.ModelSerializer):
    """A personalized element with its variants (replaced as a whole on update)."""

    variants = SlotVariantSerializer(many=True, required=False)

    class Meta:
        model = Slot
        fields = ["id", "name", "description", "variants"]

    @transaction.atomic
    def create(self, validated_data: dict) -> Slot:
        variants = validated_data.pop("variants", [])
        slot = Slot.objects.create(**validated_data)
        _replace_children(slot.variants, SlotVariant, slot=slot, items=variants)
        return slot

    @transaction.atomic
    def update(self, slot: Slot, validated_data: dict) -> Slot:
        variants = validated_data.pop("variants", None)
        for name, value in validated_data.items():
            setattr(slot, name, value)
        slot.save()
        if variants is not None:
            _replace_children(slot.variants, SlotVariant, slot=slot, items=variants)
        return slot


class SlotViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = SlotSerializer
    queryset = Slot.objects.prefetch_related("variants").order_by("id")
    pagination_class = IdCursorPagination
