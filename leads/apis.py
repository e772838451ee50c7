"""REST API for leads, tags, activities, companies, lists, segments, custom
fields and CSV import status (under /api/v1/). Views validate, call one
service, serialize; shapes follow DESIGN.md's public contract."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from leads import services
from leads.models import (
    Activity,
    ActivityChoice,
    ActorKind,
    Company,
    Consent,
    CustomField,
    ImportJob,
    Lead,
    ListMembership,
    Segment,
    StaticList,
    Suppression,
    Tag,
)
from leads.selectors import LeadListFilters, leads_filtered, leads_visible_to
from ma_core.api_pagination import CountedCursorPagination, IdCursorPagination
from ma_core.api_permissions import ChangePermissions, RolePermissions

# -- output shapes -----------------------------------------------------------------


class OwnerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return " ".join(p for p in (user.last_name, user.first_name) if p) or user.username


class LeadOutput(serializers.ModelSerializer):
    company = serializers.CharField(source="company_name")
    owner = OwnerOutput(allow_null=True)
    tags = serializers.SerializerMethodField()
    full_name = serializers.CharField()

    class Meta:
        model = Lead
        fields = [
            "id", "email", "last_name", "first_name", "full_name", "last_name_kana",
            "first_name_kana", "company", "company_id", "department", "title", "phone",
            "industry", "employee_count", "capital", "prefecture", "address", "stage", "owner",
            "is_competitor", "is_nurture_target", "first_touch_source", "last_touch_source",
            "custom", "score", "rank", "tags", "last_activity_at", "created_at", "updated_at",
        ]  # fmt: skip

    def get_tags(self, lead) -> list[str]:
        # Prefetched as lead_tags__tag by the views: no query per lead.
        return sorted(lt.tag.name for lt in lead.lead_tags.all())


def leads_queryset():
    return Lead.objects.select_related("owner").prefetch_related("lead_tags__tag")


class LeadInput(serializers.Serializer):
    """Validation happens in ``services.check_lead_data``; this documents the shape."""

    email = serializers.CharField()
    last_name = serializers.CharField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True)
    company = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    custom = serializers.DictField(required=False)
    owner = serializers.CharField(required=False, allow_null=True, allow_blank=True)


# -- leads ----------------------------------------------------------------------------


def _lead_filters(params) -> LeadListFilters:
    """?email= &tag= (repeatable) &stage= &owner= (username or id) &rank= &company=
    &list= &segment= &q= &updated_since= → the selector's filters."""
    owner = params.get("owner", "")
    since = None
    if raw_since := params.get("updated_since"):
        from django.utils.dateparse import parse_datetime

        since = parse_datetime(raw_since)
        if since is None:
            raise serializers.ValidationError(
                {"updated_since": [_("Use an ISO 8601 date and time.")]}
            )
    segment = None
    if segment_id := params.get("segment"):
        segment = get_object_or_404(Segment, pk=_int(segment_id, "segment"))
    list_id = params.get("list")
    return LeadListFilters(
        email=params.get("email", ""),
        tag_names=tuple(params.getlist("tag")),
        stage=params.get("stage") or None,
        rank=(params.get("rank") or "").upper() or None,
        owner_id=int(owner) if owner.isdigit() else None,
        owner_username="" if owner.isdigit() else owner,
        company_name=params.get("company", ""),
        static_list_id=_int(list_id, "list") if list_id else None,
        segment=segment,
        updated_since=since,
        search=params.get("q", ""),
    )


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise serializers.ValidationError({name: [_("A whole number is required.")]}) from None


def _as_validation_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError(exc.messages)


class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Leads. POST upserts by email (201 created, 200 updated)."""

    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = LeadOutput
    queryset = Lead.objects.all()

    def get_queryset(self):

        visible = leads_visible_to(self.request.user, leads_queryset())
        return leads_filtered(visible, _lead_filters(self.request.query_params))

    @extend_schema(request=LeadInput, responses={200: LeadOutput, 201: LeadOutput})
    def create(self, request: Request) -> Response:
        data = _payload(request)
        tags = data.pop("tags", []) or []
        if not isinstance(tags, list):
            raise serializers.ValidationError({"tags": [_("Give tags as a list of names.")]})
        try:
            lead, outcome = services.lead_upsert(
                data=data, actor_kind=ActorKind.API, actor=request.user, tags=tags
            )
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        lead = leads_queryset().get(pk=lead.pk)
        return Response(
            LeadOutput(lead).data,
            status=status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK,
        )

    @extend_schema(request=LeadInput, responses=LeadOutput)
    def partial_update(self, request: Request, pk=None) -> Response:
        lead = self.get_object()
        data = {**_payload(request), "email": _payload(request).get("email", lead.email)}
        data.pop("tags", None)
        try:
            with transaction.atomic():
                new_email = services.check_lead_data({"email": data["email"]})["email"]
                if new_email != lead.email:
                    if Lead.objects.filter(email__lower=new_email).exclude(pk=lead.pk).exists():
                        raise DjangoValidationError(
                            {"email": [_("Another lead already has this email address.")]}
                        )
                    Lead.objects.filter(pk=lead.pk).update(email=new_email)
                services.lead_upsert(data=data, actor_kind=ActorKind.API, actor=request.user)
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        return Response(LeadOutput(leads_queryset().get(pk=lead.pk)).data)

    @extend_schema(
        request=serializers.DictField(child=serializers.ListField()), responses=LeadOutput
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def tags(self, request: Request, pk=None) -> Response:
        """{"add": [...], "remove": [...]}"""
        lead = self.get_object()
        data = _payload(request)
        add, remove = data.get("add", []), data.get("remove", [])
        if not isinstance(add, list) or not isinstance(remove, list):
            raise serializers.ValidationError(
                {"add": [_("Give tags as a list of names.")]}
                if not isinstance(add, list)
                else {"remove": [_("Give tags as a list of names.")]}
            )
        try:
            changed = services.tags_change(
                lead=lead, add=add, remove=remove, actor_kind=ActorKind.API, actor=request.user
            )
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        body = LeadOutput(leads_queryset().get(pk=lead.pk)).data
        return Response({**body, "changed": changed})

    @extend_schema(request=None, responses=LeadOutput)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk=None) -> Response:
        """{"merged": <id of the lead merged into this one>}"""
        if not request.user.has_perm("leads.delete_lead"):
            self.permission_denied(request)
        survivor = self.get_object()
        merged = get_object_or_404(Lead, pk=_int(_payload(request).get("merged"), "merged"))
        try:
            services.lead_merge(survivor=survivor, merged=merged, by=request.user)
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        return Response(LeadOutput(leads_queryset().get(pk=survivor.pk)).data)


def _payload(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError(_("Send a JSON object."))
    return dict(request.data)


# -- activities --------------------------------------------------------------------------


class ActivityOutput(serializers.ModelSerializer):
    actor = OwnerOutput(allow_null=True)

    class Meta:
        model = Activity
        fields = [
            "id", "lead_id", "occurred_at", "type", "content", "result", "source", "note",
            "actor", "created_at",
        ]  # fmt: skip


class ActivityInput(serializers.Serializer):
    occurred_at = serializers.DateTimeField(required=False)
    type = serializers.CharField()
    content = serializers.CharField(required=False, allow_blank=True, default="")
    result = serializers.CharField()
    source = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    actor = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class LeadActivityViewSet(viewsets.GenericViewSet):
    """/leads/{id}/activities/: the lead's activity history, newest first."""

    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    queryset = Activity.objects.all()
    serializer_class = ActivityOutput

    def _lead(self) -> Lead:
        return get_object_or_404(leads_visible_to(self.request.user), pk=self.kwargs["lead_pk"])

    def list(self, request: Request, lead_pk=None) -> Response:
        queryset = Activity.objects.filter(lead=self._lead()).select_related("actor")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ActivityOutput(page, many=True).data)

    @extend_schema(request=ActivityInput, responses={201: ActivityOutput})
    def create(self, request: Request, lead_pk=None) -> Response:
        lead = self._lead()
        data = ActivityInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        actor = request.user
        if values.get("actor"):
            actor = (
                get_user_model()
                .objects.filter(Q(username=values["actor"]) | Q(email__iexact=values["actor"]))
                .first()
            )
            if actor is None:
                raise serializers.ValidationError({"actor": [_("There is no such user.")]})
        values.pop("actor", None)
        try:
            activity = services.activity_create(
                lead=lead, actor=actor, actor_kind=ActorKind.API, **values
            )
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        return Response(ActivityOutput(activity).data, status=status.HTTP_201_CREATED)


# -- configuration objects (plain CRUD with role permissions) -----------------------------


class CompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "domain", "industry", "employee_count", "capital", "created_at"]
        read_only_fields = ["created_at"]


class CompanyViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = CompanySerializer
    queryset = Company.objects.all()

    def get_queryset(self):
        queryset = Company.objects.all()
        if domain := self.request.query_params.get("domain"):
            queryset = queryset.filter(domain=domain.lower())
        if name := self.request.query_params.get("name"):
            queryset = queryset.filter(name__icontains=name)
        return queryset


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "description", "created_at"]
        read_only_fields = ["created_at"]


class TagViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = TagSerializer
    queryset = Tag.objects.all()


class CustomFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomField
        fields = [
            "id", "key", "label", "type", "choices", "required", "position", "help_text",
            "is_active",
        ]  # fmt: skip

    def validate(self, attrs):
        field_type = attrs.get("type", getattr(self.instance, "type", None))
        choices = attrs.get("choices", getattr(self.instance, "choices", []))
        if field_type in (CustomField.Type.CHOICE, CustomField.Type.MULTI_CHOICE):
            if not isinstance(choices, list) or not choices:
                raise serializers.ValidationError(
                    {"choices": [_("A choice field needs a list of choices.")]}
                )
            if len({str(c) for c in choices}) != len(choices):
                raise serializers.ValidationError({"choices": [_("Choices must be unique.")]})
        elif choices:
            raise serializers.ValidationError({"choices": [_("Only choice fields have choices.")]})
        return attrs


class CustomFieldViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = CustomFieldSerializer
    queryset = CustomField.objects.all()
    pagination_class = None


class ActivityChoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityChoice
        fields = ["id", "kind", "code", "label", "position", "is_active"]


class ActivityChoiceViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = ActivityChoiceSerializer
    queryset = ActivityChoice.objects.all()
    pagination_class = None


# -- lists ---------------------------------------------------------------------------------


class StaticListSerializer(serializers.ModelSerializer):
    member_count = serializers.SerializerMethodField()

    class Meta:
        model = StaticList
        fields = [
            "id", "name", "description", "source_segment", "snapshot_at", "created_at",
            "member_count",
        ]  # fmt: skip
        read_only_fields = ["source_segment", "snapshot_at", "created_at"]

    def get_member_count(self, static_list) -> int:
        return static_list.memberships.filter(removed_at__isnull=True).count()


class StaticListViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = StaticListSerializer
    queryset = StaticList.objects.all()

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @extend_schema(responses=LeadOutput(many=True))
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=CountedCursorPagination,
        permission_classes=[ChangePermissions],
    )
    def members(self, request: Request, pk=None) -> Response:
        """GET: the members (cursor pages with count). POST {"add": [ids], "remove": [ids]}."""
        static_list = self.get_object()
        if request.method == "POST":
            if not request.user.has_perm("leads.change_staticlist"):
                self.permission_denied(request)
            data = _payload(request)
            add, remove = _id_list(data, "add"), _id_list(data, "remove")
            missing = set(add) - set(Lead.objects.filter(pk__in=add).values_list("pk", flat=True))
            if missing:
                raise serializers.ValidationError(
                    {"add": [_("No lead has id %(ids)s.") % {"ids": sorted(missing)}]}
                )
            added = services.list_add(
                static_list=static_list, lead_ids=add, actor_kind=ActorKind.API, by=request.user
            )
            removed = services.list_remove(
                static_list=static_list, lead_ids=remove, by=request.user
            )
            return Response({"added": added, "removed": removed})
        members = leads_queryset().filter(
            pk__in=ListMembership.objects.filter(
                static_list=static_list, removed_at__isnull=True
            ).values("lead_id")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(LeadOutput(page, many=True).data)


def _id_list(data: dict, key: str) -> list[int]:
    values = data.get(key, [])
    if not isinstance(values, list) or not all(
        isinstance(v, int) or (isinstance(v, str) and v.isdigit()) for v in values
    ):
        raise serializers.ValidationError({key: [_("Give a list of lead ids.")]})
    return [int(v) for v in values]


# -- segments -----------------------------------------------------------------------------


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = [
            "id", "name", "description", "expression", "blocks", "is_preset", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = ["is_preset", "created_at", "updated_at"]

    def validate(self, attrs):
        from leads.segments import check_segment

        expression = attrs.get("expression", getattr(self.instance, "expression", ""))
        blocks = attrs.get("blocks", getattr(self.instance, "blocks", {}))
        if not isinstance(blocks, dict):
            raise serializers.ValidationError(
                {"blocks": [_('Give blocks as an object: {"1": {...}, "2": {...}}.')]}
            )
        try:
            attrs["blocks"] = check_segment(
                expression, blocks, segment_id=getattr(self.instance, "pk", None)
            )
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        return attrs


class SegmentViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = SegmentSerializer
    queryset = Segment.objects.all()

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @extend_schema(responses=LeadOutput(many=True))
    @action(detail=True, methods=["get"], pagination_class=CountedCursorPagination)
    def leads(self, request: Request, pk=None) -> Response:
        """The segment's members now: cursor pages plus "count"."""
        from leads.segments import segment_leads_for

        segment = self.get_object()
        members = leads_queryset().filter(pk__in=segment_leads_for(segment).values("pk"))
        page = self.paginate_queryset(members)
        return self.get_paginated_response(LeadOutput(page, many=True).data)

    @action(detail=True, methods=["get"])
    def count(self, request: Request, pk=None) -> Response:
        from leads.segments import segment_count

        return Response({"count": segment_count(self.get_object())})

    @extend_schema(request=None, responses={201: StaticListSerializer})
    @action(detail=True, methods=["post"])
    def materialize(self, request: Request, pk=None) -> Response:
        """Save today's members as a dated list."""
        from leads.segments import segment_materialize

        if not request.user.has_perm("leads.add_staticlist"):
            self.permission_denied(request)
        name = _payload(request).get("name") if request.data else None
        static_list = segment_materialize(segment=self.get_object(), by=request.user, name=name)
        return Response(StaticListSerializer(static_list).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SegmentSerializer, responses=None)
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """Count and first leads for an unsaved expression + blocks (for editors)."""
        from leads.segments import check_segment, segment_leads

        data = _payload(request)
        try:
            blocks = check_segment(data.get("expression", ""), data.get("blocks") or {})
            queryset = segment_leads(data.get("expression", ""), blocks)
        except DjangoValidationError as exc:
            raise _as_validation_error(exc) from exc
        first = leads_queryset().filter(pk__in=queryset.values("pk")).order_by("-id")[:20]
        return Response({"count": queryset.count(), "preview": LeadOutput(first, many=True).data})


# -- CSV import status ------------------------------------------------------------------------


class ImportJobOutput(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "filename", "encoding", "state", "on_existing", "total_rows", "processed_rows",
            "progress", "created_count", "updated_count", "skipped_count", "rejected", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_progress(self, job) -> float:
        if not job.total_rows:
            return 1.0 if job.state == ImportJob.State.DONE else 0.0
        return round(job.processed_rows / job.total_rows, 4)


class ImportJobViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [RolePermissions]
    pagination_class = IdCursorPagination
    serializer_class = ImportJobOutput
    queryset = ImportJob.objects.defer("content")


# -- consent and suppression ------------------------------------------------------------------


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "channel", "basis", "source_ref", "text_shown", "obtained_at"]


class SuppressionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suppression
        fields = ["id", "channel", "reason", "detail", "created_at", "lifted_at"]
        read_only_fields = ["created_at", "lifted_at"]


class LeadConsentViewSet(viewsets.GenericViewSet):
    """/leads/{id}/consents/: the consent ledger (特定電子メール法), append-only."""

    permission_classes = [RolePermissions]
    queryset = Consent.objects.all()
    serializer_class = ConsentSerializer
    pagination_class = None

    def list(self, request: Request, lead_pk=None) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        return Response(ConsentSerializer(lead.consents.order_by("-obtained_at"), many=True).data)

    def create(self, request: Request, lead_pk=None) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        data = ConsentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = services.consent_record(lead=lead, by=request.user, **data.validated_data)
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class LeadSuppressionViewSet(viewsets.GenericViewSet):
    """/leads/{id}/suppressions/: unsubscribes and suppressions per channel."""

    permission_classes = [RolePermissions]
    queryset = Suppression.objects.all()
    serializer_class = SuppressionSerializer
    pagination_class = None

    def list(self, request: Request, lead_pk=None) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        rows = lead.suppressions.order_by("-created_at")
        return Response(SuppressionSerializer(rows, many=True).data)

    def create(self, request: Request, lead_pk=None) -> Response:
        lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
        data = SuppressionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suppression = services.suppression_add(lead=lead, **data.validated_data)
        return Response(SuppressionSerializer(suppression).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def lift(self, request: Request, lead_pk=None, pk=None) -> Response:
        suppression = get_object_or_404(Suppression, pk=pk, lead_id=lead_pk)
        services.suppression_lift(suppression=suppression, by=request.user)
        suppression.refresh_from_db()
        return Response(SuppressionSerializer(suppression).data)
