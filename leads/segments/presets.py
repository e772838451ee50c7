"""Preset segments: searches an app ships (tracking registers the HOT-list
search of seed 004 once its page-view and form blocks exist)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.functional import Promise

from leads.models import Segment
from leads.segments.registry import get_block
from leads.segments.search import check_segment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    key: str
    name: str | Promise
    expression: str
    blocks: dict
    description: str | Promise = ""


_PRESETS: dict[str, Preset] = {}


def register_preset(
    key: str, name: str | Promise, expression: str, blocks: dict, description: str | Promise = ""
) -> None:
    """Offer a preset; registering a key again replaces it (modules reload)."""
    _PRESETS[key] = Preset(key, name, expression, blocks, description)


def unregister_preset(key: str) -> None:
    _PRESETS.pop(key, None)


def registered_presets() -> list[Preset]:
    return list(_PRESETS.values())


@transaction.atomic
def install_presets() -> list[Segment]:
    """Create or update a ``Segment(is_preset=True)`` per registered preset.

    Idempotent. Presets are matched by name in the site language, so they
    are stored once whatever language the caller speaks. A preset whose
    block kinds are not all registered yet is left for a later run; a
    marketer's own segment with the same name is never overwritten.
    """
    installed = []
    with translation.override(settings.LANGUAGE_CODE):
        for preset in _PRESETS.values():
            blocks = preset.blocks
            if not all(
                isinstance(block, dict) and get_block(str(block.get("kind"))) is not None
                for block in blocks.values()
            ):
                continue
            name, description = str(preset.name), str(preset.description)
            try:
                cleaned = check_segment(preset.expression, blocks)
            except ValidationError as exc:
                logger.warning("preset %s is not valid: %s", preset.key, exc.messages)
                continue
            existing = Segment.objects.filter(name=name).first()
            if existing is not None and not existing.is_preset:
                logger.warning("preset %s: a segment named %r exists; left as is", preset.key, name)
                continue
            segment, _created = Segment.objects.update_or_create(
                name=name,
                defaults={
                    "expression": preset.expression,
                    "blocks": cleaned,
                    "description": description,
                    "is_preset": True,
                },
            )
            installed.append(segment)
    return installed
