"""Checking and running compound searches (複合検索).

A search is numbered blocks plus an expression over their numbers. It is
compiled into one ``Q`` over ``Lead``: one SQL statement whatever the
number of blocks, evaluated by PostgreSQL and never lead by lead in Python.
Building it may read definitions (custom fields, nested segments); running
it is one query.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from leads.models import Lead, Segment
from leads.segments.expression import (
    ExpressionError,
    block_number,
    block_refs,
    parse_expression,
)
from leads.segments.registry import CompileContext, block_kinds, get_block

#: More blocks than this is no longer a search a person can read.
MAX_BLOCKS = 50
#: Segments using segments using segments …: deeper than this is refused, so
#: one search cannot grow into a statement PostgreSQL takes long to plan.
MAX_NESTING = 8


def _prefixed(exc: ValidationError, prefix: str) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {f"{prefix}.{key}": messages for key, messages in exc.message_dict.items()}
    return {prefix: exc.messages}


def _clean_blocks(blocks: object, errors: dict) -> tuple[dict[str, dict], set[str]]:
    """Validate every block; returns (cleaned blocks, numbers defined)."""
    cleaned: dict[str, dict] = {}
    defined: set[str] = set()
    if not isinstance(blocks, dict):
        errors["blocks"] = [_('Give blocks as an object: {"1": {...}, "2": {...}}.')]
        return cleaned, defined
    if len(blocks) > MAX_BLOCKS:
        errors["blocks"] = [
            _("A search has at most %(max)d blocks; split it into segments.") % {"max": MAX_BLOCKS}
        ]
        return cleaned, defined
    kind_names = ", ".join(kind.name for kind in block_kinds())
    for key, block in blocks.items():
        try:
            number = block_number(key)
        except ValueError:
            errors[f"blocks.{key}"] = [
                _("“%(key)s” is not a block number: number blocks 1, 2, 3 …") % {"key": key}
            ]
            continue
        if number in defined:
            errors[f"blocks.{key}"] = [_("Block %(number)s is defined twice.") % {"number": number}]
            continue
        defined.add(number)
        if not isinstance(block, dict):
            errors[f"blocks.{number}"] = [
                _('Each block is an object such as {"kind": "tag", "op": "has", "value": "失注"}.')
            ]
            continue
        kind = get_block(str(block.get("kind") or ""))
        if kind is None:
            errors[f"blocks.{number}.kind"] = [
                _("“%(kind)s” is not a kind of block. Choose one of: %(kinds)s.")
                % {"kind": block.get("kind") or "", "kinds": kind_names}
            ]
            continue
        params = {name: value for name, value in block.items() if name != "kind"}
        try:
            cleaned[number] = {"kind": kind.name, **kind.validate(params)}
        except ValidationError as exc:
            errors.update(_prefixed(exc, f"blocks.{number}"))
    return cleaned, defined


def _segment_refs(blocks: object) -> list[int]:
    """Ids of the segments a (possibly never validated) blocks dict uses."""
    if not isinstance(blocks, dict):
        return []
    refs = []
    for block in blocks.values():
        if isinstance(block, dict) and block.get("kind") == "segment":
            try:
                refs.append(int(block.get("value")))
            except (TypeError, ValueError):
                continue
    return refs


def _loop_from(start: int, editing: int | None) -> tuple[list[int] | None, bool]:
    """Follow segment references from ``start``; returns (a loop, too deep).

    The loop is a list of ids whose last is its first. ``editing`` is the
    segment being saved: its stored blocks are about to be replaced, so it
    is a node of the walk without being read.
    """
    explored: set[int] = set()

    def visit(segment_id: int, path: list[int]) -> tuple[list[int] | None, bool]:
        if segment_id in path:
            return [*path[path.index(segment_id) :], segment_id], False
        if segment_id in explored:
            return None, False
        if len(path) >= MAX_NESTING:
            return None, True
        stored = Segment.objects.filter(pk=segment_id).values_list("blocks", flat=True).first()
        for ref in _segment_refs(stored):
            found = visit(ref, [*path, segment_id])
            if found != (None, False):
                return found
        explored.add(segment_id)
        return None, False

    return visit(start, [editing] if editing is not None else [])


def _check_loops(cleaned: dict[str, dict], segment_id: int | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for number, block in cleaned.items():
        if block["kind"] != "segment":
            continue
        key = f"blocks.{number}.value"
        if segment_id is not None and block["value"] == segment_id:
            errors[key] = [_("A segment cannot use itself.")]
            continue
        loop, too_deep = _loop_from(block["value"], segment_id)
        if loop:
            names = dict(Segment.objects.filter(pk__in=loop).values_list("pk", "name"))
            errors[key] = [
                _(
                    "This makes a loop (%(path)s): a segment cannot use itself, "
                    "directly or through other segments."
                )
                % {"path": " → ".join(names.get(pk, _("this segment")) for pk in loop)}
            ]
        elif too_deep:
            errors[key] = [
                _("Segments here use each other more than %(max)d levels deep.")
                % {"max": MAX_NESTING}
            ]
    return errors


def _check(
    expression: str, blocks: dict, *, segment_id: int | None, check_loops: bool
) -> dict[str, dict]:
    errors: dict[str, list] = {}
    tree = None
    if not isinstance(expression, str):
        errors["expression"] = [_("Enter the expression as text, such as 1 AND 2.")]
    else:
        try:
            tree = parse_expression(expression)
        except ExpressionError as exc:
            errors["expression"] = [exc.message]
    cleaned, defined = _clean_blocks(blocks, errors)
    if tree is not None and isinstance(blocks, dict):
        seen: set[str] = set()
        for ref in block_refs(tree):
            if ref.number in defined or ref.number in seen:
                continue
            seen.add(ref.number)
            errors.setdefault("expression", []).append(
                _(
                    "At %(position)d, block %(number)s is not defined: add block %(number)s "
                    "or remove it from the expression."
                )
                % {"position": ref.position, "number": ref.number}
            )
    if check_loops and not errors:
        errors.update(_check_loops(cleaned, segment_id))
    if errors:
        raise ValidationError(errors)
    return cleaned


def check_segment(expression: str, blocks: dict, *, segment_id: int | None = None) -> dict:
    """Validate an expression and every block; return the cleaned blocks.

    Raises ``ValidationError`` whose ``message_dict`` is keyed ``"expression"``
    and ``"blocks.<n>.<param>"`` (or ``"blocks.<n>"``). ``segment_id`` is the
    segment being edited, so that using it from one of its own blocks, even
    through other segments, is refused. Blocks defined but not used are fine.
    """
    return _check(expression, blocks, segment_id=segment_id, check_loops=True)


def compile_blocks(expression: str, cleaned: dict[str, dict], context: CompileContext) -> Q:
    """The ``Q`` of already cleaned blocks (only the blocks the expression uses)."""
    tree = parse_expression(expression)
    conditions: dict[str, Q] = {}
    for ref in block_refs(tree):
        if ref.number in conditions:
            continue
        block = cleaned[ref.number]
        params = {name: value for name, value in block.items() if name != "kind"}
        try:
            conditions[ref.number] = get_block(block["kind"]).compile(params, context)
        except ValidationError as exc:
            raise ValidationError(_prefixed(exc, f"blocks.{ref.number}")) from exc
    return tree.to_q(conditions)


def saved_segment_condition(segment_id: int, context: CompileContext) -> Q:
    """The conditions of a saved segment, to inline into another search."""
    if segment_id in context.path:
        raise ValidationError(
            {
                "value": [
                    _(
                        "This makes a loop: a segment cannot use itself, "
                        "directly or through other segments."
                    )
                ]
            }
        )
    if len(context.path) >= MAX_NESTING:
        raise ValidationError(
            {
                "value": [
                    _("Segments here use each other more than %(max)d levels deep.")
                    % {"max": MAX_NESTING}
                ]
            }
        )
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise ValidationError(
            {"value": [_("There is no segment with id %(id)s.") % {"id": segment_id}]}
        )
    try:
        cleaned = _check(
            segment.expression, segment.blocks, segment_id=segment.pk, check_loops=False
        )
    except ValidationError as exc:
        raise ValidationError(
            {
                "value": [
                    _("Segment “%(name)s” used here has errors; fix it first: %(errors)s")
                    % {"name": segment.name, "errors": " ".join(exc.messages)}
                ]
            }
        ) from exc
    return compile_blocks(segment.expression, cleaned, context.nested(segment.pk))


def segment_leads(
    expression: str, blocks: dict, *, context: CompileContext | None = None
) -> QuerySet[Lead]:
    """The leads matching an (unsaved) search; validates first."""
    cleaned = check_segment(expression, blocks)
    return Lead.objects.filter(compile_blocks(expression, cleaned, context or CompileContext()))


def segment_leads_for(segment: Segment, *, context: CompileContext | None = None) -> QuerySet[Lead]:
    """The leads a saved segment matches now. Raises ``ValidationError`` when
    the saved search is no longer valid (a custom field or list was removed)."""
    cleaned = check_segment(segment.expression, segment.blocks, segment_id=segment.pk)
    context = context or CompileContext()
    if segment.pk is not None:
        context = context.nested(segment.pk)
    return Lead.objects.filter(compile_blocks(segment.expression, cleaned, context))


def segment_count(segment: Segment) -> int:
    return segment_leads_for(segment).count()


def segment_preview(segment: Segment, limit: int = 20) -> list[Lead]:
    """The newest matching leads (the ``-created_at`` index serves the order)."""
    return list(
        segment_leads_for(segment).select_related("company").order_by("-created_at", "-id")[:limit]
    )


def describe_blocks(blocks: object) -> list[tuple[str, str]]:
    """``[("1", "has tag “失注”"), …]`` in block order, for people to read."""
    if not isinstance(blocks, dict):
        return []
    lines = []
    for key, block in blocks.items():
        kind = get_block(str(block.get("kind") or "")) if isinstance(block, dict) else None
        if kind is None:
            text = _("unknown kind of block “%(kind)s”") % {
                "kind": block.get("kind") if isinstance(block, dict) else block
            }
        else:
            params = {name: value for name, value in block.items() if name != "kind"}
            try:
                text = kind.describe(params)
            except (KeyError, TypeError, ValueError, IndexError):
                # A block saved before its kind changed shape: still show it.
                text = f"{kind.label}: {params}"
        lines.append((str(key), text))

    def order(line: tuple[str, str]) -> tuple[int, str]:
        try:
            return int(block_number(line[0])), line[0]
        except ValueError:
            return 10**9, line[0]

    return sorted(lines, key=order)
