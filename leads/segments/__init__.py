"""Compound searches (複合検索, segments): numbered condition blocks combined by
an expression such as ``1 AND 2 AND NOT 3``, compiled into one SQL statement.

The public API (the REST API and the weekly HOT list call these):
``check_segment``, ``segment_leads``, ``segment_leads_for``, ``segment_count``,
``segment_preview``, ``segment_materialize``; block kinds through
``register_block`` / ``BlockKind`` / ``block_kinds``; presets through
``register_preset`` / ``install_presets``.

Apps that own behaviour data register their block kinds from their
``AppConfig.ready()``; ``leads`` registers the built-in ones on import.
"""

from leads.segments import activities, attribute, membership, tags  # noqa: F401  (registers)
from leads.segments.counting import count_condition, has_at_least
from leads.segments.expression import ExpressionError, parse_expression
from leads.segments.materialize import segment_materialize
from leads.segments.presets import install_presets, register_preset
from leads.segments.registry import (
    BlockKind,
    CompileContext,
    block_kinds,
    get_block,
    register_block,
    unregister_block,
)
from leads.segments.search import (
    check_segment,
    describe_blocks,
    segment_count,
    segment_leads,
    segment_leads_for,
    segment_preview,
)

__all__ = [
    "BlockKind",
    "CompileContext",
    "ExpressionError",
    "block_kinds",
    "check_segment",
    "count_condition",
    "describe_blocks",
    "get_block",
    "has_at_least",
    "install_presets",
    "parse_expression",
    "register_block",
    "register_preset",
    "segment_count",
    "segment_leads",
    "segment_leads_for",
    "segment_materialize",
    "segment_preview",
    "unregister_block",
]
