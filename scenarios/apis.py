"""REST API of mail: sender profile, send windows, templates (preview, test
send), newsletters (schedule, counts) and sends (read only)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.models import Lead, Tag
from leads.selectors import leads_visible_to
from ma_core.api_pagination import IdCursorPagination
from ma_core.api_permissions import ChangePermissions, RolePermissions
from scenarios import services
from scenarios.models import (
    EmailTemplate,
    Enrollment,
    Newsletter,
    Scenario,
    ScenarioEnrollment,
    ScenarioStep,
    Send,
    SenderProfile,
    SendWindow,
    SequenceStep,
    StepSequence,
)
from scenarios.rendering import check_template
from scenarios.selectors import newsletter_counts


def _raise(exc: DjangoValidationError):
    raise serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    ) from exc


class SenderProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = SenderProfile
        fields = [
            "from_name",
            "from_email",
            "reply_to",
            "postal_address",
            "contact",
            "weekly_cap",
            "require_consent",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


class SenderProfileView(APIView):
    """GET / PUT the one sender profile (特定電子メール法 footer, weekly cap)."""

    permission_classes = [RolePermissions]
    queryset = SenderProfile.objects.all()

    @extend_schema(responses=SenderProfileSerializer)
    def get(self, request: Request) -> Response:
        profile = get_object_or_404(SenderProfile)
        return Response(SenderProfileSerializer(profile).data)

    @extend_schema(request=SenderProfileSerializer, responses=SenderProfileSerializer)
    def put(self, request: Request) -> Response:
        profile = SenderProfile.objects.first()
        data = SenderProfileSerializer(profile, data=request.data, partial=profile is not None)
        data.is_valid(raise_exception=True)
        data.save()
        return Response(data.data, status=status.HTTP_200_OK if profile else 201)


class SendWindowSerializer(serializers.ModelSerializer):
    class Meta:
        model = SendWindow
        fields = ["id", "name", "weekdays", "start_time", "end_time", "time_zone"]

    def validate(self, attrs):
        merged = {
            name: attrs.get(name, getattr(self.instance, name, None))
            for name in ("weekdays", "start_time", "end_time", "time_zone")
        }
        merged["time_zone"] = merged["time_zone"] or "Asia/Tokyo"
        try:
            attrs["weekdays"] = services.check_send_window(**merged)
        except DjangoValidationError as exc:
            _raise(exc)
        return attrs


class SendWindowViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = SendWindowSerializer
    queryset = SendWindow.objects.all()
    pagination_class = None


class EmailTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = ["id", "name", "subject", "preheader", "html_body", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        merged = {
            name: attrs.get(name, getattr(self.instance, name, ""))
            for name in ("subject", "preheader", "html_body")
        }
        try:
            check_template(**merged)
        except DjangoValidationError as exc:
            _raise(exc)
        return attrs


class PreviewInput(serializers.Serializer):
    lead = serializers.IntegerField(required=False)


class TestSendInput(PreviewInput):
    to = serializers.EmailField()


class EmailTemplateViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermissions]
    serializer_class = EmailTemplateSerializer
    queryset = EmailTemplate.objects.all()
    pagination_class = IdCursorPagination

    def _lead(self, request: Request, lead_id: int | None) -> Lead | None:
        if lead_id is None:
            return None
        lead = leads_visible_to(request.user).filter(pk=lead_id).first()
        if lead is None:
            raise serializers.ValidationError({"lead": [_("There is no such lead.")]})
        return lead

    @extend_schema(request=PreviewInput, responses={200: None})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def preview(self, request: Request, pk=None) -> Response:
        """The mail as a lead (or a sample lead) would get it: subject, HTML, text."""
        data = PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        lead = self._lead(request, data.validated_data.get("lead"))
        try:
            return Response(services.template_preview(template=self.get_object(), lead=lead))
        except DjangoValidationError as exc:
            _raise(exc)

    @extend_schema(request=TestSendInput, responses={202: None})
    @action(
        detail=True, methods=["post"], url_path="test-send", permission_classes=[ChangePermissions]
    )
    def test_send(self, request: Request, pk=None) -> Response:
        data = TestSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        lead = self._lead(request, data.validated_data.get("lead"))
        try:
            services.template_test_send(
                template=self.get_object(), to=data.validated_data["to"], lead=lead
            )
        except DjangoValidationError as exc:
            _raise(exc)
        return Response({"sent_to": data.validated_data["to"]}, status=status.HTTP_202_ACCEPTED)


class NewsletterSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Newsletter
        fields = [
            "id",
            "name",
            "template",
            "segment",
            "static_list",
            "send_window",
            "scheduled_at",
            "rate_per_minute",
            "state",
            "recipients",
            "counts",
            "created_at",
        ]
        read_only_fields = ["state", "recipients", "created_at"]

    def get_counts(self, newsletter: Newsletter) -> dict:
        return newsletter_counts(newsletter)

    def validate(self, attrs):
        if self.instance is not None and self.instance.state != Newsletter.State.DRAFT:
            raise serializers.ValidationError(_("Only a draft can be changed."))
        probe = Newsletter(
            segment=attrs.get("segment", getattr(self.instance, "segment", None)),
            static_list=attrs.get("static_list", getattr(self.instance, "static_list", None)),
        )
        try:
            services.check_newsletter(probe)
        except DjangoValidationError as exc:
            _raise(exc)
        return attrs


class ScheduleInput(serializers.Serializer):
    at = serializers.DateTimeField(required=False)


class NewsletterViewSet(viewsets.ModelViewSet):
    """Newsletters: create a draft, then POST .../schedule/ to send it."""

    permission_classes = [RolePermissions]
    serializer_class = NewsletterSerializer
    queryset = Newsletter.objects.all()
    pagination_class = IdCursorPagination

    @extend_schema(request=ScheduleInput, responses=NewsletterSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def schedule(self, request: Request, pk=None) -> Response:
        data = ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        newsletter = self.get_object()
        try:
            with transaction.atomic():
                services.newsletter_schedule(
                    newsletter=newsletter, at=data.validated_data.get("at")
                )
        except DjangoValidationError as exc:
            _raise(exc)
        newsletter.refresh_from_db()
        return Response(NewsletterSerializer(newsletter).data)

    def perform_destroy(self, instance: Newsletter) -> None:
        if instance.state != Newsletter.State.DRAFT:
            raise serializers.ValidationError(_("Only a draft can be deleted."))
        instance.delete()


class SendSerializer(serializers.ModelSerializer):
    class Meta:
        model = Send
        fields = [
            "id",
            "lead",
            "source_key",
            "kind",
            "newsletter",
            "state",
            "reason",
            "due_at",
            "sent_at",
            "attempts",
            "subject",
        ]


class SendViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The send ledger (read only); ``?newsletter=ID`` and ``?state=`` filter it."""

    permission_classes = [RolePermissions]
    serializer_class = SendSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        rows = Send.objects.all()
        for name in ("newsletter", "lead"):
            value = self.request.query_params.get(name)
            if value:
                if not value.isdigit():
                    raise serializers.ValidationError({name: [_("Give a numeric id.")]})
                rows = rows.filter(**{name: int(value)})
        state = self.request.query_params.get("state")
        if state:
            if state not in Send.State.values:
                raise serializers.ValidationError(
                    {"state": [_("One of: %(states)s.") % {"states": ", ".join(Send.State.values)}]}
                )
            rows = rows.filter(state=state)
        return rows

    queryset = Send.objects.all()


class SequenceStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = SequenceStep
        fields = ["id", "position", "day_offset", "send_time", "template", "send_window"]


class StepSequenceSerializer(serializers.ModelSerializer):
    """A sequence with its steps; writing ``steps`` replaces them all."""

    steps = SequenceStepSerializer(many=True, required=False)
    trigger_tag = serializers.SlugRelatedField(
        slug_field="name", queryset=Tag.objects.all(), required=False, allow_null=True
    )
    exit_tag = serializers.SlugRelatedField(
        slug_field="name", queryset=Tag.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = StepSequence
        fields = [
            "id",
            "name",
            "trigger",
            "trigger_tag",
            "exit_tag",
            "reentry",
            "is_active",
            "steps",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate_steps(self, steps: list[dict]) -> list[dict]:
        positions = [step["position"] for step in steps]
        if len(set(positions)) != len(positions):
            raise serializers.ValidationError(_("Two steps have the same order."))
        return steps

    def validate(self, attrs):
        trigger = attrs.get("trigger", getattr(self.instance, "trigger", None))
        tag = attrs.get("trigger_tag", getattr(self.instance, "trigger_tag", None))
        if trigger == StepSequence.Trigger.TAG_ADDED and tag is None:
            raise serializers.ValidationError(
                {"trigger_tag": [_("Choose the tag that starts it.")]}
            )
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        steps = validated_data.pop("steps", [])
        sequence = StepSequence.objects.create(**validated_data)
        SequenceStep.objects.bulk_create(SequenceStep(sequence=sequence, **s) for s in steps)
        return sequence

    @transaction.atomic
    def update(self, instance, validated_data):
        steps = validated_data.pop("steps", None)
        instance = super().update(instance, validated_data)
        if steps is not None:
            instance.steps.all().delete()
            SequenceStep.objects.bulk_create(SequenceStep(sequence=instance, **s) for s in steps)
        return instance


class EnrollInput(serializers.Serializer):
    leads = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=10000)


class StepSequenceViewSet(viewsets.ModelViewSet):
    """Step mail sequences; POST .../enroll/ {"leads": [ids]} starts leads on one."""

    permission_classes = [RolePermissions]
    serializer_class = StepSequenceSerializer
    queryset = StepSequence.objects.prefetch_related("steps")
    pagination_class = IdCursorPagination

    @extend_schema(request=EnrollInput, responses={200: None})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def enroll(self, request: Request, pk=None) -> Response:
        from scenarios.step_mail import sequence_enroll

        data = EnrollInput(data=request.data)
        data.is_valid(raise_exception=True)
        sequence = self.get_object()
        if not sequence.steps.exists():
            raise serializers.ValidationError(_("Add at least one step first."))
        wanted = set(data.validated_data["leads"])
        known = set(
            leads_visible_to(request.user).filter(pk__in=wanted).values_list("pk", flat=True)
        )
        unknown = sorted(wanted - known)
        enrolled = sequence_enroll(sequence=sequence, lead_ids=sorted(known))
        return Response({"enrolled": enrolled, "unknown_leads": unknown})


class EnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = ["id", "sequence", "lead", "state", "started_at", "next_position",
                  "next_due_at", "ended_at", "exit_reason"]  # fmt: skip


class EnrollmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [RolePermissions]
    serializer_class = EnrollmentSerializer
    queryset = Enrollment.objects.all()
    pagination_class = IdCursorPagination


# -- scenarios ------------------------------------------------------------------------------


class ScenarioStepSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=ScenarioStep.Kind.choices)
    config = serializers.JSONField(required=False, default=dict)
    next_key = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    else_key = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class ScenarioSerializer(serializers.ModelSerializer):
    """A scenario with its graph; writing ``steps`` replaces the graph (steps
    are matched by key, so leads on a kept step stay there). The first step
    in the list is the entry."""

    steps = ScenarioStepSerializer(many=True, required=False)

    class Meta:
        model = Scenario
        fields = [
            "id", "name", "description", "trigger", "trigger_config", "reentry", "exit_tags",
            "exit_on_unsubscribe", "exit_on_customer", "is_active", "steps", "created_at",
        ]  # fmt: skip
        read_only_fields = ["created_at"]

    def to_representation(self, instance):
        from scenarios.engine import graph_of

        data = super().to_representation(instance)
        data["steps"] = [
            {k: v for k, v in step.items() if k != "position"} for step in graph_of(instance)
        ]
        return data

    def validate_exit_tags(self, tags):
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise serializers.ValidationError(
                _("A list of tag names, e.g. %(example)s.") % {"example": '["失注"]'}
            )
        return [t.strip() for t in tags]

    def validate(self, attrs):
        from scenarios.graph import check_graph, check_trigger

        trigger = attrs.get("trigger", getattr(self.instance, "trigger", Scenario.Trigger.MANUAL))
        config = attrs.get("trigger_config", getattr(self.instance, "trigger_config", {}))
        try:
            attrs["trigger_config"] = check_trigger(trigger, config)
        except DjangoValidationError as exc:
            _raise(exc)
        if "steps" in attrs:
            steps = [{**step, "position": index} for index, step in enumerate(attrs["steps"])]
            try:
                check_graph(steps)
            except DjangoValidationError as exc:
                _raise(exc)
            attrs["steps"] = steps
        elif self.instance is None:
            raise serializers.ValidationError({"steps": [_("Add at least one step.")]})
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        from scenarios.engine import scenario_save_graph

        steps = validated_data.pop("steps")
        scenario = Scenario.objects.create(**validated_data)
        scenario_save_graph(scenario=scenario, steps=steps)
        return scenario

    @transaction.atomic
    def update(self, instance, validated_data):
        from scenarios.engine import scenario_save_graph

        steps = validated_data.pop("steps", None)
        instance = super().update(instance, validated_data)
        if steps is not None:
            scenario_save_graph(scenario=instance, steps=steps)
        return instance


class ReadPermissions(RolePermissions):
    """For POST actions that only read (a dry run): the ``view`` permission."""

    perms_map = {**RolePermissions.perms_map, "POST": ["%(app_label)s.view_%(model_name)s"]}


class DryRunInput(serializers.Serializer):
    leads = serializers.ListField(
        child=serializers.IntegerField(), required=False, max_length=200,
        help_text="Walk these leads instead of the trigger's audience (for manual scenarios).",
    )  # fmt: skip


class ScenarioViewSet(viewsets.ModelViewSet):
    """Scenarios (trigger → wait / branch / action graph).
    POST .../enroll/ {"leads": [ids]} starts leads on it (manual or API trigger);
    POST .../dry-run/ shows who would enter now and what each would receive
    over the next 14 days, without sending; GET .../stats/ its mail stats."""

    permission_classes = [RolePermissions]
    serializer_class = ScenarioSerializer
    queryset = Scenario.objects.all()
    pagination_class = IdCursorPagination

    @extend_schema(request=EnrollInput, responses={200: None})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def enroll(self, request: Request, pk=None) -> Response:
        from scenarios.engine import scenario_enroll

        data = EnrollInput(data=request.data)
        data.is_valid(raise_exception=True)
        scenario = self.get_object()
        if not scenario.is_active:
            raise serializers.ValidationError(_("The scenario is paused; activate it first."))
        wanted = set(data.validated_data["leads"])
        known = set(
            leads_visible_to(request.user).filter(pk__in=wanted).values_list("pk", flat=True)
        )
        enrolled = scenario_enroll(scenario=scenario, lead_ids=sorted(known))
        return Response({"enrolled": enrolled, "unknown_leads": sorted(wanted - known)})

    @extend_schema(request=DryRunInput, responses={200: None})
    @action(detail=True, methods=["post"], url_path="dry-run", permission_classes=[ReadPermissions])
    def dry_run(self, request: Request, pk=None) -> Response:
        from scenarios.dry_run import scenario_dry_run

        data = DryRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        scenario = self.get_object()
        lead_ids = data.validated_data.get("leads")
        if lead_ids is not None:
            lead_ids = list(
                leads_visible_to(request.user).filter(pk__in=lead_ids).values_list("pk", flat=True)
            )
        try:
            return Response(scenario_dry_run(scenario=scenario, lead_ids=lead_ids))
        except DjangoValidationError as exc:
            _raise(exc)

    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk=None) -> Response:
        from scenarios.selectors import mail_link_clicks, mail_stats, mail_stats_one

        scenario = self.get_object()
        steps = list(scenario.steps.filter(kind="send_email"))
        per_step = mail_stats(by="step", ids=[s.pk for s in steps])
        return Response(
            {
                **mail_stats_one(by="scenario", id=scenario.pk),
                "links": mail_link_clicks(by="scenario", id=scenario.pk),
                "steps": {
                    s.key: per_step.get(s.pk) or mail_stats_one(by="step", id=s.pk) for s in steps
                },
            }
        )


class ScenarioEnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScenarioEnrollment
        fields = ["id", "scenario", "lead", "state", "step", "next_due_at", "started_at",
                  "ended_at", "exit_reason", "path"]  # fmt: skip


class ScenarioEnrollmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [RolePermissions]
    serializer_class = ScenarioEnrollmentSerializer
    queryset = ScenarioEnrollment.objects.all()
    pagination_class = IdCursorPagination


class MailStatsView(APIView):
    """GET /api/v1/mail-stats/?by=template|step|scenario|newsletter&id=N: sent,
    delivered, unique opens, unique clicks, click rate, unsubscribes, bounces
    and clicks per link of one template, scenario step, scenario or newsletter."""

    permission_classes = [RolePermissions]
    queryset = Send.objects.all()

    def get(self, request: Request) -> Response:
        from scenarios.selectors import mail_link_clicks, mail_stats_one

        by = request.query_params.get("by", "")
        if by not in ("template", "step", "scenario", "newsletter"):
            raise serializers.ValidationError(
                {"by": [_("One of: template, step, scenario, newsletter.")]}
            )
        ident = request.query_params.get("id", "")
        if not ident.isdigit():
            raise serializers.ValidationError({"id": [_("Give a numeric id.")]})
        return Response(
            {
                **mail_stats_one(by=by, id=int(ident)),
                "links": mail_link_clicks(by=by, id=int(ident)),
            }
        )
