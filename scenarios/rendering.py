"""Rendering a template for one lead: sandboxed merge tags, the legal footer,
tracked links, the open pixel, inlined CSS and the plain-text part.

Templates are Jinja2 in a ``SandboxedEnvironment``: no attribute access
beyond the dicts we hand in, no code execution. The context holds only the
lead's data (plain dicts and strings, never model instances). A tag naming
a field that does not exist fails (``StrictUndefined``), so a typo is caught
when the template is saved; a known field that is empty renders as "" and
``default("…")`` replaces it.
"""

from __future__ import annotations

import functools
import html
import re
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser

import css_inline
import jinja2
import markupsafe
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import SandboxedEnvironment

from leads.models import Lead

LEAD_FIELDS = (
    "email",
    "last_name",
    "first_name",
    "last_name_kana",
    "first_name_kana",
    "department",
    "title",
    "phone",
    "industry",
    "prefecture",
)


class Blank(jinja2.Undefined):
    """A known field without a value: renders as "" and ``default()`` replaces it."""

    __slots__ = ()


#: The plain-text part shows each link's (tracked) address after its text.
_TEXT_CONFIG = ParserConfig(display_links=True)

_html_env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
_text_env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> jinja2.Template:
    """Compiling is the costly part of rendering; a newsletter renders one
    template for every recipient, so each source is compiled once per process."""
    return (_html_env if html else _text_env).from_string(source)


def _value(value: object) -> object:
    if value is None or value == "" or value == []:
        return Blank()
    return value


def lead_context(lead: Lead, custom_keys: list[str] | None = None) -> dict:
    """The only data a template sees: the lead's own fields as a plain dict."""
    from leads.custom_fields import active_fields

    keys = custom_keys if custom_keys is not None else list(active_fields())
    company = lead.company.name if lead.company_id else lead.company_name
    data = {name: _value(getattr(lead, name)) for name in LEAD_FIELDS}
    data["company"] = _value(company)
    data["custom"] = {key: _value((lead.custom or {}).get(key)) for key in keys}
    return {"lead": data}


def sample_context() -> dict:
    """A lead with every field filled, to check a template's tags on save."""
    from leads.custom_fields import active_fields

    sample = Lead(
        email="sample@example.co.jp",
        last_name="山田",
        first_name="太郎",
        company_name="株式会社サンプル",
        custom=dict.fromkeys(active_fields(), "x"),
    )
    return lead_context(sample)


def _error_message(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return _("Template syntax error on line %(line)d: %(error)s") % {
            "line": exc.lineno,
            "error": exc.message,
        }
    if isinstance(exc, jinja2.UndefinedError):
        return _("Unknown merge tag: %(error)s") % {"error": exc.message}
    return _("The template cannot be rendered: %(error)s") % {"error": exc}


def check_template(*, subject: str, preheader: str, html_body: str) -> None:
    """Raise ``ValidationError`` (per field) when a part does not parse or names
    a field a lead does not have."""
    errors: dict[str, list[str]] = {}
    context = sample_context()
    for name, source, env in (
        ("subject", subject, _text_env),
        ("preheader", preheader, _text_env),
        ("html_body", html_body, _html_env),
    ):
        try:
            env.from_string(source).render(context)
        except (jinja2.TemplateError, jinja2.exceptions.SecurityError) as exc:
            errors[name] = [_error_message(exc)]
    if errors:
        raise ValidationError(errors)


@dataclass
class Footer:
    """特定電子メール法: sender, postal address, contact, how to unsubscribe."""

    from_name: str
    postal_address: str
    contact: str
    unsubscribe_url: str

    def text(self) -> str:
        return "\n".join(
            [
                f"{_('Sender')}: {self.from_name}",
                self.postal_address.strip(),
                f"{_('Contact')}: {self.contact}",
                f"{_('Unsubscribe or change which mail you receive')}: {self.unsubscribe_url}",
            ]
        )

    def html(self) -> str:
        address = "<br>".join(html.escape(line) for line in self.postal_address.splitlines())
        return (
            '<div class="kz-footer" style="margin-top:32px;padding-top:16px;'
            'border-top:1px solid #ddd;font-size:12px;color:#666">'
            f"<p>{html.escape(_('Sender'))}: {html.escape(self.from_name)}<br>"
            f"{address}<br>"
            f"{html.escape(_('Contact'))}: {html.escape(self.contact)}</p>"
            f'<p><a href="{html.escape(self.unsubscribe_url)}" data-kz-untracked>'
            f"{html.escape(_('Unsubscribe or change which mail you receive'))}</a></p>"
            "</div>"
        )


@dataclass
class RenderedMail:
    subject: str
    html: str
    text: str
    links: list[str] = field(default_factory=list)


_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2([^>]*>)""", re.IGNORECASE | re.DOTALL)


def rewrite_links(body: str, tracked_url) -> tuple[str, list[str]]:
    """Replace each http(s) link with ``tracked_url(index)``; return the new
    HTML and the original links in order (the only places a click may go)."""
    links: list[str] = []

    def replace(match: re.Match) -> str:
        before, quote, raw, after = match.groups()
        url = html.unescape(raw).strip()
        if "data-kz-untracked" in match.group(0) or not re.match(r"https?://", url, re.I):
            return match.group(0)
        links.append(url)
        return f"{before}{quote}{html.escape(tracked_url(len(links) - 1))}{quote}{after}"

    return _HREF.sub(replace, body), links


def render_mail(
    *,
    subject: str,
    preheader: str,
    html_body: str,
    context: dict,
    footer: Footer,
    tracked_url=None,
    open_pixel_url: str | None = None,
) -> RenderedMail:
    """Render every part for one recipient. Raises ``ValidationError`` on a bad template."""
    parts = _render_sources(subject, preheader, html_body, context)
    return _finish(*parts, footer=footer, tracked_url=tracked_url, open_pixel_url=open_pixel_url)


def _render_sources(subject: str, preheader: str, html_body: str, context: dict):
    """The three merge-tag templates rendered for one lead (subject, preheader, body)."""
    try:
        return (
            _compiled(subject, False).render(context),
            _compiled(preheader, False).render(context),
            _compiled(html_body, True).render(context),
        )
    except (jinja2.TemplateError, jinja2.exceptions.SecurityError) as exc:
        raise ValidationError(_error_message(exc)) from exc


def _finish(
    rendered_subject: str,
    rendered_preheader: str,
    body: str,
    *,
    footer: Footer,
    tracked_url=None,
    open_pixel_url: str | None = None,
) -> RenderedMail:
    """Links tracked, the document around the body, CSS inlined, the text part."""
    links: list[str] = []
    if tracked_url is not None:
        body, links = rewrite_links(body, tracked_url)
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden">'
        f"{html.escape(rendered_preheader)}</div>"
        if rendered_preheader
        else ""
    )
    pixel = (
        f'<img src="{html.escape(open_pixel_url)}" width="1" height="1" alt="" '
        'style="display:block;border:0">'
        if open_pixel_url
        else ""
    )
    document = (
        '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">'
        f"<title>{html.escape(rendered_subject)}</title></head><body>"
        f"{hidden}{body}{footer.html()}{pixel}</body></html>"
    )
    inlined = css_inline.inline(document)
    text = get_text(f"<html><body>{body}</body></html>", _TEXT_CONFIG).strip()
    text = f"{text}\n\n-- \n{footer.text()}\n"
    return RenderedMail(subject=" ".join(rendered_subject.split()), html=inlined, text=text,
                        links=links)  # fmt: skip


# -- one template for many recipients ----------------------------------------------------
#
# Inlining CSS and building the plain-text part cost far more than filling the
# merge tags, and for a newsletter they give the same result for every lead up
# to the lead's values and the send's own addresses. So a template is finished
# once as a *skeleton*: rendered with a marker string ("slot") in place of each
# of the lead's text values, with marker addresses for the tracked links, the
# open pixel and the unsubscribe link, and marker subject and preheader. Each
# recipient's mail is then the skeleton with the slots filled in.
#
# That gives the very mail ``render_mail`` would give (the tests compare them
# byte for byte) because:
# - every recipient's body is still rendered by Jinja2 with the real values, and
#   it is used only if it equals the skeleton body with the slots filled in (a
#   template whose output depends on a value otherwise than by printing it, an
#   ``{% if lead.industry == "…" %}``, a ``|length``, takes the full path);
# - a slot may stand only in the text between tags (not in a tag, an attribute,
#   a comment, a <style>, <script> or <pre>, nor after a stray "&"), where the
#   CSS inliner copies text as it is and the text part shows it as it is, and
#   only values that both show unchanged (printable, single spaces) are slotted;
# - each new skeleton is checked once against the full path with probe values
#   full of characters that need escaping; one that differs is never used.
# Escaping follows the inliner's HTML serializer: & < > and no-break space in
# text, & " and no-break space in attributes.

_MARK = f"kz{secrets.token_hex(6)}x"
_SLOT = re.compile(re.escape(_MARK) + r"([a-z]\d*)y")
_RAW_TEXT = {
    "style",
    "script",
    "pre",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
    "listing",
}
_CHAR_REF_TAIL = re.compile(r"&[#0-9A-Za-z]*$")


def _slot(name: str) -> str:
    return f"{_MARK}{name}y"


def _text_escape(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("\xa0", "&nbsp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def _attr_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace('"', "&quot;")


def _slottable(value: str) -> bool:
    """Shown unchanged in HTML text and in the text part: printable, no
    leading, trailing or repeated spaces (the text part collapses those)."""
    return value.isprintable() and "  " not in value and value.strip(" ") == value


def _fits_title(value: str) -> bool:
    """A subject or preheader the HTML parser keeps as it is (no CR, NUL or controls)."""
    return value.replace("\n", " ").replace("\t", " ").isprintable()


def _split(document: str) -> tuple:
    """``document`` cut at its slots: literal, slot name, literal, …, literal."""
    return tuple(_SLOT.split(document))


def _fill(parts: tuple, values: dict) -> str:
    out = list(parts)
    for index in range(1, len(out), 2):
        out[index] = values[out[index]]
    return "".join(out)


class _SlotPlaces(HTMLParser):
    """Refuses a skeleton body with a slot anywhere but plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.ok = True
        self.raw_depth = 0
        self.seen = 0

    def _refuse_if_slotted(self, text: str) -> None:
        if _MARK in text:
            self.ok = False

    def handle_starttag(self, tag, attrs):
        self._refuse_if_slotted(self.get_starttag_text() or tag)
        if tag in _RAW_TEXT:
            self.raw_depth += 1

    def handle_startendtag(self, tag, attrs):
        self._refuse_if_slotted(self.get_starttag_text() or tag)

    def handle_endtag(self, tag):
        self._refuse_if_slotted(tag)
        if tag in _RAW_TEXT and self.raw_depth:
            self.raw_depth -= 1

    def handle_data(self, data):
        if _MARK in data:
            if self.raw_depth:
                self.ok = False
            self.seen += data.count(_MARK)

    def handle_entityref(self, name):
        self._refuse_if_slotted(name)

    def handle_charref(self, name):
        self._refuse_if_slotted(name)

    def handle_comment(self, data):
        self._refuse_if_slotted(data)

    def handle_decl(self, decl):
        self._refuse_if_slotted(decl)

    def handle_pi(self, data):
        self._refuse_if_slotted(data)

    def unknown_decl(self, data):
        self._refuse_if_slotted(data)


def _slots_only_in_text(body: str) -> bool:
    if any(_CHAR_REF_TAIL.search(body, 0, match.start()) for match in _SLOT.finditer(body)):
        return False
    checker = _SlotPlaces()
    checker.feed(body)
    checker.close()
    return checker.ok and checker.seen == body.count(_MARK)


@dataclass(frozen=True)
class _Skeleton:
    body: tuple  # the Jinja2 output, split at its slots (to compare with a lead's)
    html: tuple
    text: tuple
    links: tuple


def _probe_maps(body_slots: list[str], links: int, has_preheader: bool):
    """Values full of characters that need escaping, for every slot."""
    raw = {name: f"P{name}&<>\"' x\u4f50;" for name in body_slots}
    raw["s"] = "S&<>\"'\n\tz"
    raw["p"] = "H&<>\"' y" if has_preheader else ""
    raw["o"] = 'https://probe.example/o?a=1&b="2"'
    raw["u"] = "https://probe.example/u?a=1&b=2"
    for index in range(links):
        raw[f"c{index}"] = f"https://probe.example/c/{index}?a=1&b='2'"
    return raw


def _maps(raw: dict, value_slots) -> tuple[dict, dict, dict]:
    """(Jinja2-escaped, HTML, text) values of every slot."""
    jinja = {name: str(markupsafe.escape(raw[name])) for name in value_slots}
    html_values = {}
    for name, value in raw.items():
        html_values[name] = (_attr_escape if name[0] in "ocu" else _text_escape)(value)
    return jinja, html_values, raw


@functools.lru_cache(maxsize=64)
def _skeleton(
    body: str, has_preheader: bool, from_name: str, postal_address: str, contact: str, language: str
) -> _Skeleton | None:
    """The finished skeleton of a body, or None if it cannot be used (see above).
    ``language`` is part of the key: the footer's labels are translated."""
    if language and language != translation.get_language():
        with translation.override(language):
            return _skeleton.__wrapped__(
                body, has_preheader, from_name, postal_address, contact, language
            )
    if not _slots_only_in_text(body):
        return None
    footer = Footer(
        from_name=from_name,
        postal_address=postal_address,
        contact=contact,
        unsubscribe_url=_slot("u"),
    )
    done = _finish(
        _slot("s"),
        _slot("p") if has_preheader else "",
        body,
        footer=footer,
        tracked_url=lambda index: _slot(f"c{index}"),
        open_pixel_url=_slot("o"),
    )
    skeleton = _Skeleton(
        body=_split(body), html=_split(done.html), text=_split(done.text), links=tuple(done.links)
    )
    if any(_MARK in link for link in skeleton.links):
        return None
    # Checked once against the full path, with values that need escaping.
    body_slots = sorted(set(skeleton.body[1::2]))
    if any(not name.startswith("v") for name in body_slots):
        return None
    raw = _probe_maps(body_slots, len(skeleton.links), has_preheader)
    jinja, html_values, text_values = _maps(raw, body_slots)
    probe_footer = Footer(
        from_name=from_name,
        postal_address=postal_address,
        contact=contact,
        unsubscribe_url=raw["u"],
    )
    expected = _finish(
        raw["s"],
        raw["p"],
        _fill(skeleton.body, jinja),
        footer=probe_footer,
        tracked_url=lambda index: raw[f"c{index}"],
        open_pixel_url=raw["o"],
    )
    try:
        same = (
            _fill(skeleton.html, html_values) == expected.html
            and _fill(skeleton.text, text_values) == expected.text
            and list(skeleton.links) == expected.links
        )
    except KeyError:  # a slot the body does not have turned up in the output
        same = False
    return skeleton if same else None


class MailRenderer:
    """Renders one template for many recipients, each as ``render_mail`` would,
    finishing (CSS, text part, links) once per skeleton rather than per mail."""

    def __init__(
        self,
        *,
        subject: str,
        preheader: str,
        html_body: str,
        from_name: str,
        postal_address: str,
        contact: str,
    ) -> None:
        self.sources = (subject, preheader, html_body)
        self.profile = (from_name, postal_address, contact)
        self._shapes: dict[tuple, str | None] = {}
        self._linear_skeletons: dict[tuple, _Skeleton | None] = {}
        #: The footer's labels are translated: a renderer serves one language.
        self.language = translation.get_language() or ""
        linear = (
            _linear_parts(subject, _text_env),
            _linear_parts(preheader, _text_env),
            _linear_parts(html_body, _html_env),
        )
        self._linear_parts = None if None in linear else linear

    def footer(self, unsubscribe_url: str) -> Footer:
        from_name, postal_address, contact = self.profile
        return Footer(
            from_name=from_name,
            postal_address=postal_address,
            contact=contact,
            unsubscribe_url=unsubscribe_url,
        )

    def render(
        self, context: dict, *, unsubscribe_url: str, tracked_url, open_pixel_url: str
    ) -> RenderedMail:
        """Raises ``ValidationError`` on a bad template, as ``render_mail``."""
        linear = self._linear(context, unsubscribe_url, tracked_url, open_pixel_url)
        if linear is not None:
            return linear
        subject, preheader, body = _render_sources(*self.sources, context)
        fast = self._from_skeleton(
            context, subject, preheader, body, unsubscribe_url, tracked_url, open_pixel_url
        )
        if fast is not None:
            return fast
        return _finish(
            subject,
            preheader,
            body,
            footer=self.footer(unsubscribe_url),
            tracked_url=tracked_url,
            open_pixel_url=open_pixel_url,
        )

    def _from_skeleton(
        self, context, subject, preheader, body, unsubscribe_url, tracked_url, open_pixel_url
    ) -> RenderedMail | None:
        if not (_fits_title(subject) and _fits_title(preheader)):
            return None
        values: dict[str, str] = {}
        shape: list = []
        skeleton_context = _abstract(context, values, shape)
        key = tuple(shape)
        if key not in self._shapes:
            if len(self._shapes) > 256:
                self._shapes.clear()
            try:
                self._shapes[key] = _compiled(self.sources[2], True).render(skeleton_context)
            except Exception:  # a marker the template cannot use: full path
                self._shapes[key] = None
        skeleton_body = self._shapes[key]
        if skeleton_body is None or f"{_MARK}w" in skeleton_body:
            return None
        skeleton = _skeleton(skeleton_body, bool(preheader), *self.profile, self.language)
        if skeleton is None:
            return None
        body_slots = skeleton.body[1::2]
        if any(slot[0] != "v" or slot not in values for slot in body_slots):
            return None  # a value that cannot be slotted is printed
        # This lead's body must be the skeleton's with its values.
        jinja = {slot: str(markupsafe.escape(values[slot])) for slot in body_slots}
        if _fill(skeleton.body, jinja) != body:
            return None
        used = {slot: values[slot] for slot in body_slots}
        return _filled(skeleton, used, subject, preheader, unsubscribe_url, tracked_url,
                       open_pixel_url)  # fmt: skip

    def _linear(self, context, unsubscribe_url, tracked_url, open_pixel_url):
        """The mail of a template that only prints fields (see ``_linear_parts``),
        without Jinja2: its skeleton depends only on which fields are blank."""
        parts = self._linear_parts
        lead = context.get("lead")
        if parts is None or type(lead) is not dict:
            return None
        subject = _linear_text(parts[0], lead)
        preheader = _linear_text(parts[1], lead)
        if subject is None or preheader is None:
            return None
        if not (_fits_title(subject) and _fits_title(preheader)):
            return None
        shape: list[bool] = []
        values: dict[str, str] = {}
        for index, part in enumerate(parts[2]):
            if type(part) is str:
                continue
            value = _lookup(lead, part[0])
            if isinstance(value, jinja2.Undefined):
                if value is _MISSING:
                    return None
                shape.append(False)
            elif type(value) is str and _slottable(value):
                shape.append(True)
                values[f"v{index}"] = value
            else:
                return None  # a number, a list or a value that cannot be slotted
        language = self.language
        key = (tuple(shape), bool(preheader))
        if key not in self._linear_skeletons:
            if len(self._linear_skeletons) > 256:
                self._linear_skeletons.clear()
            body = []
            for index, part in enumerate(parts[2]):
                if type(part) is str:
                    body.append(part)
                elif f"v{index}" in values:
                    body.append(_slot(f"v{index}"))
                else:
                    body.append(str(markupsafe.escape(part[1] or "")))
            self._linear_skeletons[key] = _skeleton(
                "".join(body), bool(preheader), *self.profile, language
            )
        skeleton = self._linear_skeletons[key]
        if skeleton is None:
            return None
        return _filled(skeleton, values, subject, preheader, unsubscribe_url, tracked_url,
                       open_pixel_url)  # fmt: skip


def _filled(skeleton: _Skeleton, values: dict, subject: str, preheader: str,
            unsubscribe_url: str, tracked_url, open_pixel_url: str) -> RenderedMail:  # fmt: skip
    """The skeleton with this mail's values, subject, preheader and addresses."""
    raw = dict(values)
    raw["s"], raw["p"], raw["o"], raw["u"] = subject, preheader, open_pixel_url, unsubscribe_url
    for index in range(len(skeleton.links)):
        raw[f"c{index}"] = tracked_url(index)
    html_values = {
        name: (_attr_escape if name[0] in "ocu" else _text_escape)(value)
        for name, value in raw.items()
    }
    return RenderedMail(
        subject=" ".join(subject.split()),
        html=_fill(skeleton.html, html_values),
        text=_fill(skeleton.text, raw),
        links=list(skeleton.links),
    )


# A template that is nothing but text and fields of the lead (``{{ lead.x }}``,
# ``{{ lead.custom.x }}``, ``{{ lead["x"] }}``, each perhaps with
# ``|default("…")``) prints each field's value where it stands, escaped in
# HTML, or the default when the field is blank, or nothing. Such a template
# (the usual newsletter) is filled without Jinja2. Anything else (a tag, a
# filter, a test, an unknown field) goes through Jinja2, which also raises
# the errors.

_MISSING = jinja2.Undefined(name="missing")
#: Names that Jinja2 would resolve as methods of the dict, not as its keys.
_DICT_ATTRIBUTES = frozenset(dir(dict))


def _linear_parts(source: str, env: SandboxedEnvironment) -> tuple | None:
    """``source`` as literal text and (path, default) pairs, or None."""
    try:
        template = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    parts: list = []
    for node in template.body:
        if not isinstance(node, jinja_nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, jinja_nodes.TemplateData):
                parts.append(child.data)
                continue
            default = None
            if isinstance(child, jinja_nodes.Filter):
                if not (
                    child.name in ("default", "d")
                    and len(child.args) == 1
                    and isinstance(child.args[0], jinja_nodes.Const)
                    and type(child.args[0].value) is str
                    and not child.kwargs
                    and child.dyn_args is None
                    and child.dyn_kwargs is None
                ):
                    return None
                default, child = child.args[0].value, child.node
            path = _field_path(child)
            if path is None:
                return None
            parts.append((path, default))
    return tuple(parts)


def _field_path(node) -> tuple[str, ...] | None:
    """("last_name",) for ``lead.last_name``, ("custom", "x") for ``lead.custom.x``."""
    path: list[str] = []
    while not isinstance(node, jinja_nodes.Name):
        if isinstance(node, jinja_nodes.Getattr):
            if node.attr in _DICT_ATTRIBUTES:
                return None
            path.append(node.attr)
        elif (
            isinstance(node, jinja_nodes.Getitem)
            and isinstance(node.arg, jinja_nodes.Const)
            and type(node.arg.value) is str
        ):
            path.append(node.arg.value)
        else:
            return None
        node = node.node
    if node.name != "lead" or not path:
        return None
    return tuple(reversed(path))


def _lookup(lead: dict, path: tuple[str, ...]):
    value = lead
    for key in path:
        if type(value) is not dict or key not in value:
            return _MISSING
        value = value[key]
    return value


def _linear_text(parts: tuple, lead: dict) -> str | None:
    """A text template (subject, preheader) filled in, or None for Jinja2's way."""
    out = []
    for part in parts:
        if type(part) is str:
            out.append(part)
            continue
        value = _lookup(lead, part[0])
        if isinstance(value, jinja2.Undefined):
            if value is _MISSING:
                return None
            out.append(part[1] or "")
        elif type(value) is str:
            out.append(value)
        else:
            return None
    return "".join(out)


def _abstract(data: dict, values: dict[str, str], shape: list) -> dict:
    """``data`` with each slottable text value replaced by a slot (its value
    kept in ``values``); ``shape`` records everything else, which the
    skeleton depends on."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            shape.append((key, "{"))
            out[key] = _abstract(value, values, shape)
            shape.append("}")
        elif type(value) is str:
            # An unslottable value ("w") gets a slot too: the skeleton is used
            # only when that slot does not appear in the body.
            name = ("v" if _slottable(value) else "w") + str(len(values))
            values[name] = value
            out[key] = _slot(name)
            shape.append((key, name[0]))
        elif isinstance(value, jinja2.Undefined):
            out[key] = value
            shape.append((key, "-"))
        else:
            out[key] = value
            shape.append((key, "=", repr(value)))
    return out
