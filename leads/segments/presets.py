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

    Idempotent. Presets are matched by their key, so a translated or edited
    name never makes a second copy. A preset whose
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
            segment = Segment.objects.filter(preset_key=preset.key).first()
            if segment is None:
                taken = Segment.objects.filter(name=name).first()
                if taken is not None and not (taken.is_preset and not taken.preset_key):
                    logger.warning(
                        "preset %s: a segment named %r exists; left as is", preset.key, name
                    )
                    continue
                # An older install made before presets had keys is adopted.
                segment = taken or Segment(name=name)
            else:
                # The name follows the site language unless a marketer renamed it.
                if not Segment.objects.filter(name=name).exclude(pk=segment.pk).exists():
                    segment.name = name
            segment.preset_key = preset.key
            segment.expression = preset.expression
            segment.blocks = cleaned
            segment.description = description
            segment.is_preset = True
            segment.save()
            installed.append(segment)
    return installed
