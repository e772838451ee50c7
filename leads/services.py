"""Writes to the lead database. Every important write goes through here."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from leads import signals
from leads.custom_fields import active_fields, clean_custom
from leads.emails import email_domain, is_free_mail, normalize_email
from leads.models import (
    Activity,
    ActivityChoice,
    ActivityCorrection,
    ActorKind,
    Company,
    Consent,
    Lead,
    LeadMerge,
    ListMembership,
    Stage,
    StaticList,
    Suppression,
    Tag,
    TagChange,
)
from leads.prefectures import PREFECTURE_BY_NAME, PREFECTURE_CHOICES

#: Built-in fields a lead upsert may set (besides email, company, owner, custom).
LEAD_FIELDS = (
    "last_name", "first_name", "last_name_kana", "first_name_kana", "department", "title",
    "phone", "industry", "employee_count", "capital", "prefecture", "address", "stage",
    "is_competitor", "is_nurture_target", "first_touch_source", "last_touch_source",
)  # fmt: skip


def _on_commit_send(signal, **kwargs) -> None:
    transaction.on_commit(lambda: signal.send(sender=Lead, **kwargs))


# -- companies ----------------------------------------------------------------


def company_match(*, email: str, company_name: str = "") -> Company | None:
    """The lead's company: by email domain unless it is free mail, else by name."""
    company_name = company_name.strip()
    if not is_free_mail(email):
        domain = email_domain(email)
        company = Company.objects.filter(domain=domain).first()
        if company is not None:
            return company
        if company_name:
            by_name = Company.objects.filter(name__iexact=company_name, domain="").first()
            if by_name is not None:
                by_name.domain = domain
                by_name.save(update_fields=["domain"])
                return by_name
            return Company.objects.create(name=company_name, domain=domain)
        return None
    if company_name:
        company = Company.objects.filter(name__iexact=company_name).order_by("id").first()
        return company or Company.objects.create(name=company_name)
    return None


# -- leads --------------------------------------------------------------------


def _stage_by_label() -> dict[str, str]:
    """Stage codes by their labels in every shipped language (CSV files and
    API clients write either), and by the label inside the parentheses (興味)."""
    from django.conf import settings
    from django.utils import translation

    labels: dict[str, str] = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            for value, label in Stage.choices:
                labels[str(label)] = value
    for value, label in Stage.choices:
        text = str(label)
        if "(" in text:
            labels[text.split("(", 1)[1].rstrip(")").strip()] = value
    return labels


def _clean_builtin(data: dict) -> dict:
    cleaned, errors = {}, {}
    for name in LEAD_FIELDS:
        if name not in data:
            continue
        field = Lead._meta.get_field(name)
        raw = data[name]
        if isinstance(raw, str):
            raw = raw.strip()
        if name == "prefecture" and raw:
            raw = PREFECTURE_BY_NAME.get(raw, raw)
            if raw not in dict(PREFECTURE_CHOICES):
                errors[name] = [_("“%(value)s” is not a prefecture.") % {"value": data[name]}]
                continue
        if name == "stage" and raw:
            raw = _stage_by_label().get(raw, raw)
        if raw is None and not field.null:
            raw = field.get_default()
        try:
            cleaned[name] = field.clean(raw, None)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    return cleaned


def _resolve_owner(owner) -> object | None:
    if owner in (None, ""):
        return None
    User = get_user_model()
    if isinstance(owner, User):
        return owner
    query = Q(username=str(owner)) | Q(email__iexact=str(owner))
    if str(owner).isdigit():
        query |= Q(pk=int(owner))
    user = User.objects.filter(query, is_active=True).first()
    if user is None:
        raise ValidationError({"owner": [_("There is no active user “%(v)s”.") % {"v": owner}]})
    return user


def check_lead_data(data: dict) -> dict:
    """Validate an upsert payload; return cleaned values or raise ValidationError
    with messages per field."""
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    try:
        cleaned["email"] = normalize_email(data.get("email", ""))
    except ValidationError as exc:
        errors["email"] = exc.messages
    for step in (
        lambda: cleaned.update(_clean_builtin(data)),
        lambda: (
            cleaned.__setitem__("custom", clean_custom(data.get("custom") or {}))
            if data.get("custom")
            else None
        ),
        lambda: (
            cleaned.__setitem__("owner", _resolve_owner(data["owner"])) if "owner" in data else None
        ),
    ):
        try:
            step()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "company" in data:
        cleaned["company_name"] = str(data.get("company") or "").strip()[:200]
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def lead_upsert(
    *,
    data: dict,
    actor_kind: str,
    actor=None,
    on_existing: str = "update",
    tags: Iterable[str] = (),
) -> tuple[Lead, str]:
    """Create or update the lead with this email (case-insensitive).

    Returns (lead, outcome) where outcome is "created", "updated" or "skipped".
    Empty values never blank out stored ones on update; custom values are merged.
    """
    cleaned = check_lead_data(data)
    email = cleaned.pop("email")
    custom = cleaned.pop("custom", None)
    lead = Lead.objects.select_for_update().filter(email__lower=email).first()
    if lead is not None and on_existing == "skip":
        return lead, "skipped"
    created = lead is None
    if created:
        lead = Lead(email=email)
    for name, value in cleaned.items():
        if created or value not in (None, ""):
            setattr(lead, name, value)
    if custom:
        lead.custom = {**(lead.custom or {}), **{k: v for k, v in custom.items() if v is not None}}
    if created or "company_name" in cleaned:
        company = company_match(email=email, company_name=lead.company_name)
        if company is not None:
            lead.company = company
            lead.company_name = lead.company_name or company.name
    if created:
        _check_required_custom(lead.custom)
    lead.save()
    if tags:
        tags_change(lead=lead, add=list(tags), actor_kind=actor_kind, actor=actor)
    _on_commit_send(signals.lead_saved, lead_id=lead.pk, created=created)
    return lead, "created" if created else "updated"


def _check_required_custom(custom: dict) -> None:
    missing = {
        f"custom.{key}": [_("%(label)s is required.") % {"label": field.label}]
        for key, field in active_fields().items()
        if field.required and custom.get(key) in (None, "", [])
    }
    if missing:
        raise ValidationError(missing)


def leads_set_owner(*, lead_ids: Iterable[int], owner) -> int:
    """Give these leads to ``owner`` (None: no owner) in one UPDATE; leads that
    already have that owner are left alone. Returns how many changed."""
    owner_id = getattr(owner, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead SET owner_id = %s, updated_at = %s "
            "WHERE id = ANY(%s::bigint[]) AND owner_id IS DISTINCT FROM %s RETURNING id",
            [owner_id, timezone.now(), list(lead_ids), owner_id],
        )
        changed = [row[0] for row in cursor.fetchall()]
    if changed:
        _on_commit_send(signals.owner_changed, lead_ids=changed, owner_id=owner_id)
    return len(changed)


#: Lead fields an automation (a scenario action) may set on many leads at once.
BULK_SETTABLE_FIELDS = ("stage", "title", "phone", "department")


def check_bulk_field(*, field: str, value) -> dict:
    """``{"field", "value"}`` cleaned for ``leads_set_field``: a stage from
    its choices, a short text for the other built-in fields, or an active
    custom field as ``custom.<key>``."""
    from leads.models import Stage

    field = str(field or "").strip()
    if field == "stage":
        if value not in Stage.values:
            raise ValidationError(_("A stage is one of: %(s)s.") % {"s": ", ".join(Stage.values)})
        return {"field": field, "value": value}
    if field in BULK_SETTABLE_FIELDS:
        return {"field": field, "value": str(value or "")[:200]}
    key = field.removeprefix("custom.")
    if key not in active_fields():
        raise ValidationError(_("Unknown field “%(f)s”.") % {"f": field})
    return {"field": f"custom.{key}", "value": value}


def leads_set_field(*, lead_ids: Iterable[int], field: str, value) -> int:
    """Set one field on these leads in one UPDATE (checked by
    ``check_bulk_field``). Returns how many rows were written."""
    cleaned = check_bulk_field(field=field, value=value)
    field, value, ids = cleaned["field"], cleaned["value"], list(lead_ids)
    with connection.cursor() as cursor:
        if field.startswith("custom."):
            cursor.execute(
                "UPDATE leads_lead SET custom = custom || jsonb_build_object(%s::text, %s::jsonb),"
                " updated_at = %s WHERE id = ANY(%s::bigint[])",
                [field.removeprefix("custom."), json.dumps(value), timezone.now(), ids],
            )
        else:  # one of BULK_SETTABLE_FIELDS, never user text
            cursor.execute(
                f"UPDATE leads_lead SET {field} = %s, updated_at = %s "  # noqa: S608
                "WHERE id = ANY(%s::bigint[])",
                [value, timezone.now(), ids],
            )
        return cursor.rowcount


# -- tags -----------------------------------------------------------------------


def _tag_names(names: Iterable[str]) -> list[str]:
    result = []
    for name in names:
        name = str(name).strip()
        if not name:
            continue
        if len(name) > 100:
            raise ValidationError({"tags": [_("A tag is at most 100 characters.")]})
        if name not in result:
            result.append(name)
    return result


def tags_ensure(names: Iterable[str]) -> dict[str, Tag]:
    names = _tag_names(names)
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    return existing


@transaction.atomic
def tags_change(
    *,
    lead: Lead,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    actor_kind: str,
    actor=None,
    source_ref: str = "",
) -> dict[str, list[str]]:
    """Add and remove tags on one lead; record each real change as a TagChange.

    Adding a tag the lead has, or removing one it lacks, changes nothing and
    records nothing. Returns {"added": [...], "removed": [...]}.
    """
    added = tags_add_bulk(
        lead_ids=[lead.pk], names=add, actor_kind=actor_kind, actor=actor, source_ref=source_ref
    )
    removed = tags_remove_bulk(
        lead_ids=[lead.pk], names=remove, actor_kind=actor_kind, actor=actor, source_ref=source_ref
    )
    return {"added": sorted(added), "removed": sorted(removed)}


def tags_add_bulk(
    *, lead_ids: list[int], names: Iterable[str], actor_kind: str, actor=None, source_ref=""
) -> dict[str, list[int]]:
    """Set-based: add each tag to every lead that lacks it. {tag: [lead ids added]}."""
    tags = tags_ensure(names)
    now = timezone.now()
    result: dict[str, list[int]] = {}
    for name, tag in tags.items():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO leads_leadtag (lead_id, tag_id, added_at, added_by_kind, added_by_id)
                SELECT l, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS l
                ON CONFLICT (lead_id, tag_id) DO NOTHING
                RETURNING lead_id
                """,
                [tag.pk, now, actor_kind, getattr(actor, "pk", None), list(lead_ids)],
            )
            added = [row[0] for row in cursor.fetchall()]
        if added:
            _record_tag_changes(added, tag, TagChange.Action.ADDED, actor_kind, actor, source_ref)
            result[name] = added
    return result


def tags_remove_bulk(
    *, lead_ids: list[int], names: Iterable[str], actor_kind: str, actor=None, source_ref=""
) -> dict[str, list[int]]:
    names = _tag_names(names)
    result: dict[str, list[int]] = {}
    for tag in Tag.objects.filter(name__in=names):
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM leads_leadtag WHERE tag_id = %s AND lead_id = ANY(%s::bigint[]) "
                "RETURNING lead_id",
                [tag.pk, list(lead_ids)],
            )
            removed = [row[0] for row in cursor.fetchall()]
        if removed:
            _record_tag_changes(
                removed, tag, TagChange.Action.REMOVED, actor_kind, actor, source_ref
            )
            result[tag.name] = removed
    return result


def _record_tag_changes(lead_ids, tag, action, actor_kind, actor, source_ref) -> None:
    now = timezone.now()
    TagChange.objects.bulk_create(
        [
            TagChange(
                lead_id=lead_id,
                tag=tag,
                action=action,
                actor_kind=actor_kind,
                actor=actor,
                source_ref=source_ref,
                occurred_at=now,
            )
            for lead_id in lead_ids
        ],
        batch_size=5000,
    )
    _on_commit_send(
        signals.tags_changed,
        lead_ids=list(lead_ids),
        tag=tag.name,
        action=str(action),
        actor_kind=actor_kind,
    )


# -- activities ----------------------------------------------------------------


def _check_choice(kind: str, code: str, *, required: bool) -> str:
    code = (code or "").strip()
    if not code:
        if required:
            raise ValidationError(_("This field is required."))
        return ""
    if not ActivityChoice.objects.filter(kind=kind, code=code, is_active=True).exists():
        valid = ", ".join(
            ActivityChoice.objects.filter(kind=kind, is_active=True).values_list("code", flat=True)
        )
        raise ValidationError(
            _("“%(code)s” is not a choice here. Choose one of: %(valid)s.")
            % {"code": code, "valid": valid}
        )
    return code


def check_activity(
    *, type: str, result: str, source: str = "", occurred_at=None
) -> dict[str, object]:
    errors, cleaned = {}, {}
    for name, kind, value, required in (
        ("type", ActivityChoice.Kind.TYPE, type, True),
        ("result", ActivityChoice.Kind.RESULT, result, True),
        ("source", ActivityChoice.Kind.SOURCE, source, False),
    ):
        try:
            cleaned[name] = _check_choice(kind, value, required=required)
        except ValidationError as exc:
            errors[name] = exc.messages
    if occurred_at is None:
        occurred_at = timezone.now()
    if isinstance(occurred_at, datetime.date) and not isinstance(occurred_at, datetime.datetime):
        occurred_at = timezone.make_aware(datetime.datetime.combine(occurred_at, datetime.time(9)))
    cleaned["occurred_at"] = occurred_at
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def activity_create(
    *,
    lead: Lead,
    type: str,
    result: str,
    source: str = "",
    content: str = "",
    note: str = "",
    occurred_at=None,
    actor=None,
    actor_kind: str = ActorKind.USER,
) -> Activity:
    cleaned = check_activity(type=type, result=result, source=source, occurred_at=occurred_at)
    activity = Activity.objects.create(
        lead=lead,
        content=content,
        note=note,
        actor=actor,
        created_by_kind=actor_kind,
        **cleaned,
    )
    Lead.objects.filter(pk=lead.pk).update(
        last_activity_at=Greatest("last_activity_at", activity.occurred_at)
        if lead.last_activity_at
        else activity.occurred_at
    )
    _on_commit_send(
        signals.activity_recorded,
        activity_id=activity.pk,
        lead_id=lead.pk,
        result=activity.result,
    )
    return activity


CORRECTABLE_ACTIVITY_FIELDS = ("occurred_at", "type", "result", "source", "content", "note")


@transaction.atomic
def activity_correct(*, activity: Activity, changes: dict, by, reason: str = "") -> Activity:
    """Correct an activity; the before and after of each field are kept."""
    unknown = set(changes) - set(CORRECTABLE_ACTIVITY_FIELDS)
    if unknown:
        raise ValidationError({k: [_("This field cannot be corrected.")] for k in unknown})
    activity = Activity.objects.select_for_update().get(pk=activity.pk)
    merged = {f: changes.get(f, getattr(activity, f)) for f in ("type", "result", "source")}
    cleaned = check_activity(occurred_at=changes.get("occurred_at", activity.occurred_at), **merged)
    cleaned.update({k: changes[k] for k in ("content", "note") if k in changes})
    diff = {}
    for name, value in cleaned.items():
        before = getattr(activity, name)
        if before != value:
            diff[name] = [_jsonable(before), _jsonable(value)]
            setattr(activity, name, value)
    if diff:
        activity.save(update_fields=list(diff))
        ActivityCorrection.objects.create(
            activity=activity, changes=diff, reason=reason, corrected_by=by
        )
    return activity


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime.datetime | datetime.date) else value


# -- lists ----------------------------------------------------------------------


def list_add(*, static_list: StaticList, lead_ids: Iterable[int], actor_kind: str, by=None) -> int:
    """Add leads that are not active members yet. Set-based; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_listmembership
                (static_list_id, lead_id, added_at, added_by_kind, added_by_id)
            SELECT %s, l.id, %s, %s, %s FROM leads_lead l
            WHERE l.id = ANY(%s::bigint[])
            ON CONFLICT (static_list_id, lead_id) WHERE removed_at IS NULL DO NOTHING
            """,
            [static_list.pk, timezone.now(), actor_kind, getattr(by, "pk", None), list(lead_ids)],
        )
        return cursor.rowcount


def list_remove(*, static_list: StaticList, lead_ids: Iterable[int], by=None) -> int:
    return ListMembership.objects.filter(
        static_list=static_list, lead_id__in=list(lead_ids), removed_at__isnull=True
    ).update(removed_at=timezone.now(), removed_by=by)


# -- consent and suppression ---------------------------------------------------------


def consent_record(
    *,
    lead: Lead,
    basis: str,
    source_ref: str = "",
    text_shown: str = "",
    obtained_at=None,
    by=None,
    channel: str = "email",
) -> Consent:
    return Consent.objects.create(
        lead=lead,
        basis=basis,
        source_ref=source_ref,
        text_shown=text_shown,
        obtained_at=obtained_at or timezone.now(),
        recorded_by=by,
        channel=channel,
    )


def suppression_add(*, lead: Lead, channel: str, reason: str, detail: str = "") -> Suppression:
    """Suppress a channel for a lead. Idempotent: an active suppression is kept."""
    existing = Suppression.objects.filter(lead=lead, channel=channel, lifted_at__isnull=True)
    current = existing.first()
    if current is not None:
        return current
    suppression = Suppression.objects.create(
        lead=lead, channel=channel, reason=reason, detail=detail
    )
    _on_commit_send(signals.lead_suppressed, lead_id=lead.pk, channel=channel, reason=reason)
    return suppression


def suppression_lift(*, suppression: Suppression, by) -> None:
    Suppression.objects.filter(pk=suppression.pk, lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lifted_by=by
    )


# -- merge ------------------------------------------------------------------------------

MERGE_FILL_FIELDS = (*LEAD_FIELDS, "company_name", "company_id", "owner_id")


@transaction.atomic
def lead_merge(*, survivor: Lead, merged: Lead, by=None) -> LeadMerge:
    """Merge ``merged`` into ``survivor`` and delete ``merged``.

    The survivor keeps tags, activities, list memberships, consents and
    suppressions of both; other apps move their rows (events, scores …) in
    receivers of ``lead_merging``. Blank fields of the survivor are filled
    from the merged lead; custom values of the survivor win.
    Locks both leads in id order so two merges cannot deadlock.
    """
    if survivor.pk == merged.pk:
        raise ValidationError(_("A lead cannot be merged into itself."))
    locked = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update()
        .filter(pk__in=[survivor.pk, merged.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError(_("One of the leads no longer exists."))
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    snapshot = {
        f.attname: _jsonable(getattr(merged, f.attname)) for f in Lead._meta.concrete_fields
    }
    s, m = survivor.pk, merged.pk
    moved: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_leadtag (lead_id, tag_id, added_at, added_by_kind, added_by_id)
            SELECT %s, tag_id, added_at, added_by_kind, added_by_id
            FROM leads_leadtag WHERE lead_id = %s
            ON CONFLICT (lead_id, tag_id) DO NOTHING
            """,
            [s, m],
        )
        moved["tags"] = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO leads_listmembership
                (static_list_id, lead_id, added_at, added_by_kind, added_by_id,
                 removed_at, removed_by_id)
            SELECT static_list_id, %s, added_at, added_by_kind, added_by_id,
                   removed_at, removed_by_id
            FROM leads_listmembership WHERE lead_id = %s
            ON CONFLICT (static_list_id, lead_id) WHERE removed_at IS NULL DO NOTHING
            """,
            [s, m],
        )
        moved["list_memberships"] = cursor.rowcount
    moved["activities"] = Activity.objects.filter(lead_id=m).update(lead_id=s)
    moved["tag_changes"] = TagChange.objects.filter(lead_id=m).update(lead_id=s)
    moved["consents"] = Consent.objects.filter(lead_id=m).update(lead_id=s)
    active_channels = set(
        Suppression.objects.filter(lead_id=s, lifted_at__isnull=True).values_list(
            "channel", flat=True
        )
    )
    moved["suppressions"] = (
        Suppression.objects.filter(lead_id=m)
        .exclude(channel__in=active_channels, lifted_at__isnull=True)
        .update(lead_id=s)
    )
    LeadMerge.objects.filter(survivor_id=m).update(survivor_id=s)
    signals.lead_merging.send(sender=Lead, survivor_id=s, merged_id=m, moved=moved)

    for name in MERGE_FILL_FIELDS:
        if getattr(survivor, name) in (None, "") and getattr(merged, name) not in (None, ""):
            setattr(survivor, name, getattr(merged, name))
    survivor.custom = {**(merged.custom or {}), **(survivor.custom or {})}
    survivor.is_competitor = survivor.is_competitor or merged.is_competitor
    survivor.created_at = min(survivor.created_at, merged.created_at)
    if merged.last_activity_at and (
        not survivor.last_activity_at or merged.last_activity_at > survivor.last_activity_at
    ):
        survivor.last_activity_at = merged.last_activity_at
    audit = LeadMerge.objects.create(
        survivor=survivor,
        merged_lead_id=m,
        merged_email=merged.email,
        merged_snapshot=snapshot,
        moved=moved,
        merged_by=by,
    )
    merged.delete()
    survivor.save()
    return audit
