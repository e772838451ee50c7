"""Scenario graphs: checking a graph before it is saved, and drawing it.

``check_graph`` takes the steps as plain dicts (the admin's inline forms and
the API's JSON look the same to it) and reports, per step, what a marketer
must fix: an edge to a key that does not exist, a step no path reaches, a
loop that has no wait in it (a lead would spin through it in one dispatcher
run), and each kind's settings. ``graph_svg`` lays the graph out by depth
from the entry step and returns an SVG the admin shows as the diagram.
"""

from __future__ import annotations

import datetime
import re
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.html import escape
from django.utils.translation import gettext as _

KINDS = (
    "wait", "branch", "send_email", "add_tag", "remove_tag", "set_field", "add_to_list",
    "notify_user", "handoff_sfa", "webhook", "end",
)  # fmt: skip
#: Branch conditions that look at this scenario's own mails; everything else
#: is a compound-search block of ``leads.segments`` (tag, attribute, visited_url …).
SCENARIO_MAIL = "scenario_mail"
MAX_STEPS = 200
WEEKDAY_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass
class Node:
    key: str
    kind: str
    config: dict
    next_key: str = ""
    else_key: str = ""
    position: int = 0


def _node(data: dict) -> Node:
    return Node(
        key=str(data.get("key") or "").strip(),
        kind=str(data.get("kind") or "").strip(),
        config=data.get("config") if isinstance(data.get("config"), dict) else {},
        next_key=str(data.get("next_key") or "").strip(),
        else_key=str(data.get("else_key") or "").strip(),
        position=int(data.get("position") or 0),
    )


def check_graph(steps: list[dict]) -> list[dict]:
    """Validate a whole graph; return its steps with cleaned settings, in order.

    Raises ``ValidationError`` with a dict keyed ``steps.<key>`` (or
    ``steps``) whose messages name the step and say what to change.
    """
    nodes = sorted((_node(s) for s in steps), key=lambda n: n.position)
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(f"steps.{key}" if key else "steps", []).append(message)

    if not nodes:
        raise ValidationError({"steps": [_("Add at least one step.")]})
    if len(nodes) > MAX_STEPS:
        add("", _("A scenario has at most %(n)d steps.") % {"n": MAX_STEPS})
    by_key: dict[str, Node] = {}
    for node in nodes:
        if not node.key:
            add("", _("Every step needs a key (a short name such as “mail1”)."))
            continue
        if node.key in by_key:
            add(node.key, _("Two steps have the key “%(key)s”.") % {"key": node.key})
        by_key[node.key] = node
    for node in by_key.values():
        if node.kind not in KINDS:
            add(node.key, _("Unknown kind “%(kind)s”.") % {"kind": node.kind})
            continue
        for edge in (node.next_key, node.else_key):
            if edge and edge not in by_key:
                add(
                    node.key,
                    _("Step “%(key)s” leads to “%(to)s”, which is not a step of this scenario.")
                    % {"key": node.key, "to": edge},
                )
        if node.kind != "branch" and node.else_key:
            add(node.key, _("Only a branch has an “otherwise” step."))
        if node.kind == "end" and node.next_key:
            add(node.key, _("An end step leads nowhere; clear its next step."))
        try:
            node.config = check_step_config(node.kind, node.config)
        except ValidationError as exc:
            for message in exc.messages:
                add(node.key, message)
    if errors:
        raise ValidationError(errors)

    entry = nodes[0].key
    seen = _reachable(entry, by_key)
    for node in nodes:
        if node.key not in seen:
            add(
                node.key,
                _("Step “%(key)s” cannot be reached from the first step “%(entry)s”.")
                % {"key": node.key, "entry": entry},
            )
    loop = _loop_without_wait(by_key)
    if loop:
        add(
            loop[0],
            _("The loop %(loop)s has no wait step: a lead would go round it forever.")
            % {"loop": " → ".join([*loop, loop[0]])},
        )
    if errors:
        raise ValidationError(errors)
    return [
        {"key": n.key, "kind": n.kind, "config": n.config, "next_key": n.next_key,
         "else_key": n.else_key, "position": index}
        for index, n in enumerate(nodes)
    ]  # fmt: skip


def _edges(node: Node) -> list[str]:
    return [edge for edge in (node.next_key, node.else_key) if edge]


def _reachable(entry: str, by_key: dict[str, Node]) -> set[str]:
    seen, queue = {entry}, deque([entry])
    while queue:
        for edge in _edges(by_key[queue.popleft()]):
            if edge not in seen:
                seen.add(edge)
                queue.append(edge)
    return seen


def _loop_without_wait(by_key: dict[str, Node]) -> list[str] | None:
    """A cycle through non-wait steps only (depth-first, colouring), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(key: str) -> list[str] | None:
        state[key] = 1
        stack.append(key)
        for edge in _edges(by_key[key]):
            if by_key[edge].kind == "wait":
                continue
            if state.get(edge) == 1:
                return stack[stack.index(edge) :]
            if edge not in state:
                found = visit(edge)
                if found:
                    return found
        stack.pop()
        state[key] = 2
        return None

    for key, node in by_key.items():
        if node.kind != "wait" and key not in state:
            found = visit(key)
            if found:
                return found
    return None


# -- each kind's settings -------------------------------------------------------------------


def _fail(message: str) -> ValidationError:
    return ValidationError(message)


def _positive_int(value: object, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _fail(_("%(what)s must be a whole number.") % {"what": what}) from None
    if number < 0:
        raise _fail(_("%(what)s cannot be negative.") % {"what": what})
    return number


def check_step_config(kind: str, config: dict) -> dict:
    """The cleaned settings of one step; ``ValidationError`` with messages."""
    checker = {
        "wait": _check_wait,
        "branch": _check_branch,
        "send_email": _check_send_email,
        "add_tag": _check_tag,
        "remove_tag": _check_tag,
        "set_field": _check_set_field,
        "add_to_list": _check_list,
        "notify_user": _check_notify,
        "handoff_sfa": lambda c: {"reason": str(c.get("reason") or "")[:200]},
        "webhook": _check_webhook,
        "end": lambda c: {},
    }[kind]
    return checker(config)


def _check_wait(config: dict) -> dict:
    if "until" in config:
        try:
            moment = datetime.datetime.fromisoformat(str(config["until"]))
        except ValueError:
            raise _fail(_("“until” is a date and time such as 2026-04-01T10:00.")) from None
        return {"until": moment.isoformat()}
    if "weekday" in config:
        weekday = _positive_int(config["weekday"], _("The weekday"))
        if weekday > 6:
            raise _fail(_("The weekday is 0 (Monday) to 6 (Sunday)."))
        time = str(config.get("time") or "09:00")
        if not WEEKDAY_TIME.match(time):
            raise _fail(_("The time is HH:MM, e.g. 09:00."))
        hour, minute = time.split(":")
        return {"weekday": weekday, "time": f"{int(hour):02d}:{minute}"}
    cleaned = {
        unit: _positive_int(config[unit], unit) for unit in ("days", "hours", "minutes")
        if unit in config
    }  # fmt: skip
    if not cleaned:
        raise _fail(
            _("A wait needs one of: %(options)s.")
            % {"options": '{"days"/"hours"/"minutes"} | {"weekday", "time"} | {"until"}'}
        )
    return cleaned


def _check_branch(config: dict) -> dict:
    condition = config.get("condition")
    if not isinstance(condition, dict) or not condition.get("kind"):
        raise _fail(
            _("A branch needs a condition, e.g. %(example)s.")
            % {"example": '{"condition": {"kind": "tag", "op": "has", "value": "資料A"}}'}
        )
    kind = str(condition["kind"])
    params = {k: v for k, v in condition.items() if k != "kind"}
    assume = bool(config.get("dry_run_assume", False))
    if kind == SCENARIO_MAIL:
        action = str(params.get("action") or "")
        if action not in ("opened", "clicked"):
            raise _fail(_("A mail condition is “opened” or “clicked”."))
        cleaned = {"kind": kind, "action": action}
        if params.get("step"):
            cleaned["step"] = str(params["step"])
        return {"condition": cleaned, "dry_run_assume": assume}
    if kind == "score_at_least":  # a readable shorthand of the attribute block
        kind, params = "attribute", {"field": "score", "op": ">=", "value": params.get("value")}
    from leads.segments import get_block

    block = get_block(kind)
    if block is None:
        raise _fail(_("Unknown condition “%(kind)s”.") % {"kind": kind})
    try:
        cleaned = block.validate(params)
    except ValidationError as exc:
        raise _fail(_("Condition: %(errors)s") % {"errors": " ".join(exc.messages)}) from exc
    return {"condition": {"kind": kind, **cleaned}, "dry_run_assume": assume}


def _check_send_email(config: dict) -> dict:
    from scenarios.models import EmailTemplate, SendWindow

    template = config.get("template")
    if not EmailTemplate.objects.filter(pk=_id(template)).exists():
        raise _fail(_("Choose an existing email template (its id)."))
    cleaned = {"template": _id(template)}
    if config.get("send_window") not in (None, ""):
        if not SendWindow.objects.filter(pk=_id(config["send_window"])).exists():
            raise _fail(_("There is no such send window."))
        cleaned["send_window"] = _id(config["send_window"])
    return cleaned


def _id(value: object) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _check_tag(config: dict) -> dict:
    tag = str(config.get("tag") or "").strip()
    if not tag or len(tag) > 100:
        raise _fail(_("Give the tag's name (at most 100 characters)."))
    return {"tag": tag}


def _check_set_field(config: dict) -> dict:
    from leads.services import check_bulk_field

    try:
        return check_bulk_field(field=config.get("field"), value=config.get("value"))
    except ValidationError as exc:
        raise _fail(" ".join(exc.messages)) from exc


def _check_list(config: dict) -> dict:
    from leads.models import StaticList

    if not StaticList.objects.filter(pk=_id(config.get("list"))).exists():
        raise _fail(_("Choose an existing static list (its id)."))
    return {"list": _id(config.get("list"))}


def _check_notify(config: dict) -> dict:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=_id(config.get("user"))).first()
    if user is None or not user.email:
        raise _fail(_("Choose a user (their id) who has an email address."))
    return {
        "user": user.pk,
        "subject": str(config.get("subject") or _("A lead reached a scenario step"))[:200],
    }


def _check_webhook(config: dict) -> dict:
    url = str(config.get("url") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(_("The webhook needs an http(s) URL."))
    secret = str(config.get("secret") or "")
    if len(secret) < 16:
        raise _fail(_("The webhook needs a secret of at least 16 characters (it signs the body)."))
    return {"url": url, "secret": secret}


def check_trigger(trigger: str, config: dict) -> dict:
    """Cleaned trigger settings; ``ValidationError({"trigger_config": …})``."""
    config = config if isinstance(config, dict) else {}

    def need(name: str, message: str) -> object:
        if config.get(name) in (None, ""):
            raise ValidationError({"trigger_config": [message]})
        return config[name]

    if trigger in ("tag_added", "tag_removed"):
        return {
            "tag": str(
                need("tag", _("Give the tag, e.g. %(example)s.") % {"example": '{"tag": "資料A"}'})
            ).strip()
        }
    if trigger == "segment_entered":
        from leads.models import Segment

        segment = _id(
            need(
                "segment",
                _("Give the segment id, e.g. %(example)s.") % {"example": '{"segment": 3}'},
            )
        )
        if not Segment.objects.filter(pk=segment).exists():
            raise ValidationError({"trigger_config": [_("There is no such segment.")]})
        return {"segment": segment}
    if trigger == "rank_changed":
        rank = str(
            need("rank", _("Give the new rank, e.g. %(example)s.") % {"example": '{"rank": "HOT"}'})
        )
        if rank not in ("HOT", "WARM", "COLD"):
            raise ValidationError({"trigger_config": [_("A rank is HOT, WARM or COLD.")]})
        return {"rank": rank}
    if trigger == "page_visited":
        return {
            "url": str(
                need(
                    "url",
                    _("Give part of the address, e.g. %(example)s.")
                    % {"example": '{"url": "/pricing"}'},
                )
            )
        }
    if trigger in ("form_submitted", "email_clicked", "returned_after_absence"):
        cleaned = {}
        if config.get("form"):
            cleaned["form"] = str(config["form"])
        if config.get("template"):
            cleaned["template"] = _id(config["template"])
        return cleaned
    if trigger == "date_field":
        from leads.custom_fields import active_fields

        field = str(
            need(
                "field",
                _("Give the date field, e.g. %(example)s.")
                % {"example": '{"field": "seminar_at"}'},
            )
        )
        key = field.removeprefix("custom.")
        if key not in active_fields():
            raise ValidationError({"trigger_config": [_("Unknown field “%(f)s”.") % {"f": field}]})
        try:
            offset = int(config.get("offset_days") or 0)
        except (TypeError, ValueError):
            raise ValidationError(
                {"trigger_config": [_("offset_days is a whole number, e.g. -7.")]}
            ) from None
        return {"field": key, "offset_days": offset}
    return {}


# -- the diagram ------------------------------------------------------------------------------

NODE_W, NODE_H, GAP_X, GAP_Y = 190, 54, 30, 44
COLOURS = {
    "wait": "#fff4d6", "branch": "#e4ecff", "send_email": "#dff5e8", "end": "#eeeeee",
}  # fmt: skip


def _layers(nodes: list[Node]) -> dict[str, tuple[int, int]]:
    """(row, column) of each step: row = shortest distance from the entry."""
    by_key = {n.key: n for n in nodes}
    depth: dict[str, int] = {}
    if nodes:
        depth[nodes[0].key] = 0
        queue = deque([nodes[0].key])
        while queue:
            key = queue.popleft()
            for edge in _edges(by_key[key]):
                if edge in by_key and edge not in depth:
                    depth[edge] = depth[key] + 1
                    queue.append(edge)
    bottom = max(depth.values(), default=-1) + 1
    for node in nodes:  # unreachable steps go in a row of their own, below
        depth.setdefault(node.key, bottom)
    placed: dict[str, tuple[int, int]] = {}
    columns: dict[int, int] = {}
    for node in nodes:
        row = depth[node.key]
        placed[node.key] = (row, columns.get(row, 0))
        columns[row] = columns.get(row, 0) + 1
    return placed


def graph_svg(steps: list[dict], labels: dict[str, str] | None = None) -> str:
    """An SVG of the graph: boxes per step (kind and a one-line summary),
    arrows for "then" and dashed arrows for a branch's "otherwise"."""
    nodes = sorted((_node(s) for s in steps), key=lambda n: n.position)
    labels = labels or {}
    placed = _layers(nodes)
    width = (max((c for _r, c in placed.values()), default=0) + 1) * (NODE_W + GAP_X) + GAP_X
    height = (max((r for r, _c in placed.values()), default=0) + 1) * (NODE_H + GAP_Y) + GAP_Y

    def box(key: str) -> tuple[int, int]:
        row, column = placed[key]
        return GAP_X + column * (NODE_W + GAP_X), GAP_Y // 2 + row * (NODE_H + GAP_Y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="scenario-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        'font-size="12"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>'
    ]
    for node in nodes:
        for edge, dashed, label in ((node.next_key, False, ""), (node.else_key, True, _("no"))):
            if not edge or edge not in placed:
                continue
            if node.kind == "branch" and not dashed:
                label = _("yes")
            x1, y1 = box(node.key)
            x2, y2 = box(edge)
            sx, sy = x1 + NODE_W // 2, y1 + NODE_H
            ex, ey = x2 + NODE_W // 2, y2
            style = ' stroke-dasharray="5,4"' if dashed else ""
            if y2 <= y1:  # a loop back up: route it round the right side
                rx = max(x1, x2) + NODE_W + GAP_X // 2
                mid1, mid2 = y1 + NODE_H // 2, y2 + NODE_H // 2
                path = f"M {x1 + NODE_W} {mid1} L {rx} {mid1} L {rx} {mid2} L {x2 + NODE_W} {mid2}"
            else:
                path = f"M {sx} {sy} C {sx} {sy + 20}, {ex} {ey - 20}, {ex} {ey}"
            parts.append(
                f'<path class="edge" data-from="{escape(node.key)}" data-to="{escape(edge)}" '
                f'd="{path}" fill="none" stroke="#555"{style} marker-end="url(#arrow)"/>'
            )
            if label:
                parts.append(
                    f'<text x="{(sx + ex) // 2 + 4}" y="{(sy + ey) // 2}" fill="#333">'
                    f"{escape(label)}</text>"
                )
    for node in nodes:
        x, y = box(node.key)
        fill = COLOURS.get(node.kind, "#f4f0ff")
        parts.append(
            f'<g class="step" data-key="{escape(node.key)}">'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" '
            'stroke="#666"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{escape(node.key)} · '
            f"{escape(labels.get(node.kind, node.kind))}</text>"
            f'<text x="{x + 8}" y="{y + 38}">{escape(step_summary(node)[:30])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def step_summary(node: Node) -> str:
    config = node.config
    if node.kind == "wait":
        if "until" in config:
            return str(config["until"])
        if "weekday" in config:
            return f"weekday {config['weekday']} {config.get('time', '')}"
        return " ".join(f"{v} {k}" for k, v in config.items())
    if node.kind == "branch":
        condition = config.get("condition") or {}
        return " ".join(str(v) for v in condition.values())
    return " ".join(f"{v}" for k, v in config.items() if k != "secret")
