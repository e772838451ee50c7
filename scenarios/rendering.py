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
from dataclasses import dataclass, field

import css_inline
import jinja2
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
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
    try:
        rendered_subject = _compiled(subject, False).render(context)
        rendered_preheader = _compiled(preheader, False).render(context)
        body = _compiled(html_body, True).render(context)
    except (jinja2.TemplateError, jinja2.exceptions.SecurityError) as exc:
        raise ValidationError(_error_message(exc)) from exc
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
