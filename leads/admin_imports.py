"""Admin for CSV import (名刺 from exhibitions, Excel lists) and CSV export of
lead lists and segments.

Import: upload → mapping (pre-filled, with a preview) → start → status page
with a progress bar → result with the rejected rows. The pages are views of
ImportJobAdmin; import needs leads.add_importjob and leads.add_lead.
Export: ``admin/leads/importjob/export/list/<id>/`` and ``…/segment/<id>/``.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.custom_fields import active_fields
from leads.exports import export_filename, export_leads_csv
from leads.imports.files import MAX_UPLOAD_BYTES
from leads.imports.mapping import import_targets, mapping_initial
from leads.imports.selectors import (
    PREVIEW_ROWS,
    column_examples,
    import_job_is_stalled,
    import_job_is_waiting,
    import_job_progress,
    import_preview,
    rejected_rows_csv,
)
from leads.imports.services import (
    import_job_create,
    import_job_resume,
    import_job_start,
    split_tag_names,
)
from leads.models import Consent, ImportJob, Lead, ListMembership, Segment, StaticList

#: Rejected rows listed on the result page; all of them are in the download.
REJECTED_SHOWN = 500

TEMPLATES = "admin/leads/importjob/"


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "Excel's CSV (Shift_JIS) or CSV UTF-8, comma or tab separated, with a header row."
        ),
    )
    on_existing = forms.ChoiceField(
        label=gettext_lazy("When the email already exists"),
        choices=ImportJob.OnExisting.choices,
        initial=ImportJob.OnExisting.UPDATE,
        widget=forms.RadioSelect,
    )
    tags = forms.CharField(
        label=gettext_lazy("Tags to add"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy(
            "Added to every imported lead, e.g. the exhibition's name. Separate tags with ; or 、."
        ),
    )
    consent_basis = forms.ChoiceField(
        label=gettext_lazy("Consent basis"),
        choices=[("", gettext_lazy("Do not record consent")), *Consent.Basis.choices],
        required=False,
        help_text=gettext_lazy(
            "For business cards choose “Business card”: every imported lead gets a "
            "consent record naming this import."
        ),
    )
    consent_text = forms.CharField(
        label=gettext_lazy("What the person was told"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept with each consent record, e.g. the notice at the booth."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                _("The file is larger than %(size)s MB. Split it into smaller files.")
                % {"size": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        return upload


class ImportMappingForm(forms.Form):
    """One select per CSV column; fields are named by position because a
    header can be any text."""

    def __init__(
        self,
        *args: Any,
        headers: list[str],
        targets: list[tuple[str, str]],
        initial_mapping: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header,
                choices=targets,
                required=False,
                initial=initial_mapping.get(header, ""),
            )

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(f"column_{index}") or ""
            for index, header in enumerate(self.headers)
        }


def _file_stem(text: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "_", text).strip("_")[:80] or "leads"


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "filename",
        "state",
        "progress",
        "created_count",
        "updated_count",
        "skipped_count",
        "rejected_count",
        "uploaded_by",
        "created_at",
    )
    list_filter = ("state",)
    search_fields = ("filename",)
    date_hierarchy = "created_at"

    # -- list and permissions ----------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportJob]:
        # The file itself can be megabytes; the list never needs it.
        return super().get_queryset(request).defer("content").select_related("uploaded_by")

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, job: ImportJob) -> str:
        return f"{import_job_progress(job)['percent']}%"

    @admin.display(description=gettext_lazy("rejected"))
    def rejected_count(self, job: ImportJob) -> int:
        return len(job.rejected)

    def may_import(self, request: HttpRequest) -> bool:
        user = request.user
        return user.has_perm("leads.add_importjob") and user.has_perm("leads.add_lead")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.may_import(request)

    def has_change_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        # An import is a record of what happened; it is never edited.
        return False

    def _job(self, request: HttpRequest, job_id: int, *, with_file: bool = False) -> ImportJob:
        if not (self.has_view_permission(request) or self.may_import(request)):
            raise PermissionDenied
        jobs = ImportJob.objects.select_related("uploaded_by")
        # The progress bar polls every second; it must not fetch the file each time.
        return get_object_or_404(jobs if with_file else jobs.defer("content"), pk=job_id)

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "has_view_permission": self.has_view_permission(request),
            **extra,
        }

    # -- urls ----------------------------------------------------------------------------

    def get_urls(self):
        patterns = [
            ("<int:job_id>/mapping/", self.mapping_view, "leads_importjob_mapping"),
            ("<int:job_id>/status/", self.status_view, "leads_importjob_status"),
            ("<int:job_id>/status.json", self.status_json_view, "leads_importjob_status_json"),
            ("<int:job_id>/rejected.csv", self.rejected_csv_view, "leads_importjob_rejected"),
            ("<int:job_id>/resume/", self.resume_view, "leads_importjob_resume"),
            ("export/list/<int:list_id>/", self.export_list_view, "leads_importjob_export_list"),
            (
                "export/segment/<int:segment_id>/",
                self.export_segment_view,
                "leads_importjob_export_segment",
            ),
        ]
        custom = [
            path(route, self.admin_site.admin_view(function), name=name)
            for route, function, name in patterns
        ]
        return custom + super().get_urls()

    # -- import pages ------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """Step 1: upload the file and choose the import's options."""
        if not self.may_import(request):
            raise PermissionDenied
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    job = import_job_create(
                        filename=upload.name,
                        content=upload.read(),
                        uploaded_by=request.user,
                        on_existing=form.cleaned_data["on_existing"],
                        tags=split_tag_names(form.cleaned_data["tags"]),
                        consent_basis=form.cleaned_data["consent_basis"],
                        consent_text=form.cleaned_data["consent_text"],
                    )
                except ValidationError as exc:
                    for name, errors in exc.message_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    return redirect("admin:leads_importjob_mapping", job_id=job.pk)
        else:
            form = ImportUploadForm()
        context = self._context(request, _("Import leads from CSV"), form=form)
        return TemplateResponse(request, TEMPLATES + "upload.html", context)

    def mapping_view(self, request: HttpRequest, job_id: int):
        """Step 2: choose the field of each column, check the preview, start."""
        if not self.may_import(request):
            raise PermissionDenied
        job = self._job(request, job_id, with_file=True)
        if job.state != ImportJob.State.PENDING or job.mapping:
            return redirect("admin:leads_importjob_status", job_id=job.pk)
        fields = active_fields()
        targets = import_targets(fields)
        initial, remembered = mapping_initial(job.headers, fields)
        form_kwargs = {"headers": job.headers, "targets": targets, "initial_mapping": initial}
        mapping = initial
        if request.method == "POST":
            form = ImportMappingForm(request.POST, **form_kwargs)
            if form.is_valid():
                mapping = form.mapping()
                if "start" in request.POST:
                    try:
                        job = import_job_start(job=job, mapping=mapping)
                    except ValidationError as exc:
                        form.add_error(None, exc)
                    else:
                        return redirect("admin:leads_importjob_status", job_id=job.pk)
        else:
            form = ImportMappingForm(**form_kwargs)
        preview = import_preview(job=job, mapping=mapping)
        examples = column_examples(job)
        outcome_labels = {
            "create": _("New lead"),
            "update": _("Updates the existing lead"),
            "skip": _("Skipped: the lead exists"),
            "reject": _("Rejected"),
        }
        context = self._context(
            request,
            _("Map the columns of “%(file)s”") % {"file": job.filename},
            job=job,
            form=form,
            remembered=remembered,
            columns=[
                {"field": form[f"column_{index}"], "example": examples.get(header, "")}
                for index, header in enumerate(job.headers)
            ],
            preview=preview,
            preview_rows=[
                {"row": row, "outcome_label": outcome_labels[row.outcome]} for row in preview.rows
            ],
            preview_limit=PREVIEW_ROWS,
        )
        return TemplateResponse(request, TEMPLATES + "mapping.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        if not str(object_id).isdigit():
            return redirect("admin:leads_importjob_changelist")
        job = self._job(request, int(object_id))
        if job.state == ImportJob.State.PENDING and not job.mapping and self.may_import(request):
            return redirect("admin:leads_importjob_mapping", job_id=job.pk)
        return redirect("admin:leads_importjob_status", job_id=job.pk)

    def status_view(self, request: HttpRequest, job_id: int):
        """Steps 3 and 4: the progress bar while it runs, then the result."""
        job = self._job(request, job_id)
        stalled = import_job_is_stalled(job)
        waiting = import_job_is_waiting(job)
        context = self._context(
            request,
            _("Import of “%(file)s”") % {"file": job.filename},
            job=job,
            progress=import_job_progress(job),
            stalled=stalled,
            waiting=waiting,
            may_resume=(stalled or waiting) and self.may_import(request),
            awaiting_mapping=job.state == ImportJob.State.PENDING and not job.mapping,
            rejected=job.rejected[:REJECTED_SHOWN],
            rejected_more=max(0, len(job.rejected) - REJECTED_SHOWN),
        )
        return TemplateResponse(request, TEMPLATES + "status.html", context)

    def status_json_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        job = self._job(request, job_id)
        return JsonResponse(import_job_progress(job))

    def rejected_csv_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id, with_file=True)
        response = HttpResponse(
            rejected_rows_csv(job).encode("utf-8"), content_type="text/csv; charset=utf-8"
        )
        stem = _file_stem(job.filename.rsplit(".", 1)[0])
        response["Content-Disposition"] = content_disposition_header(
            True, f"rejected-{job.pk}-{stem}.csv"
        )
        return response

    def resume_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.may_import(request):
            raise PermissionDenied
        job = self._job(request, job_id)
        if import_job_resume(job=job):
            row = job.processed_rows + 1
            messages.success(
                request, _("The import will carry on from row %(row)s.") % {"row": row}
            )
        else:
            messages.info(request, _("The import is not stalled; nothing to resume."))
        return redirect("admin:leads_importjob_status", job_id=job.pk)

    # -- export --------------------------------------------------------------------------

    def export_list_view(self, request: HttpRequest, list_id: int):
        user = request.user
        if not (user.has_perm("leads.view_lead") and user.has_perm("leads.view_staticlist")):
            raise PermissionDenied
        static_list = get_object_or_404(StaticList, pk=list_id)
        members = Lead.objects.filter(
            pk__in=ListMembership.objects.filter(
                static_list=static_list, removed_at__isnull=True
            ).values("lead_id")
        )
        stem = _file_stem(f"list-{static_list.pk}-{static_list.name}")
        return export_leads_csv(members, export_filename(stem))

    def export_segment_view(self, request: HttpRequest, segment_id: int):
        user = request.user
        if not (user.has_perm("leads.view_lead") and user.has_perm("leads.view_segment")):
            raise PermissionDenied
        segment = get_object_or_404(Segment, pk=segment_id)
        # leads.segments evaluates saved searches; imported here so this module
        # loads even where segments are not set up yet.
        from leads.segments import segment_leads_for

        try:
            members = segment_leads_for(segment)
        except ValidationError as exc:
            messages.error(
                request,
                _("The segment cannot be evaluated: %(error)s") % {"error": " ".join(exc.messages)},
            )
            return redirect(reverse("admin:index"))
        stem = _file_stem(f"segment-{segment.pk}-{segment.name}")
        return export_leads_csv(members, export_filename(stem))
