"""The registry of search-block kinds (複合検索のブロック).

``leads`` ships the kinds over its own data (attributes, tags, activities,
lists, other segments). Apps that own behaviour data (tracking: page views,
form submissions; scenarios: email opens; scoring: score history) register
their kinds from their ``AppConfig.ready()``, so ``leads`` imports none of
them (DESIGN.md). This module imports no models, so it is safe to import
while apps are loading.
"""

from __future__ import annotations

import abc
import datetime
import json
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.functional import Promise

if TYPE_CHECKING:
    from django.db.models import Q


class CompileContext:
    """What every block of one compilation shares.

    ``now`` is read once so that all windows of one search end at the same
    instant (and tests move it with time-machine). ``path`` lists the saved
    segments being compiled, outermost first, so a segment that reaches
    itself through others is reported instead of recursing forever.
    """

    def __init__(self, *, now: datetime.datetime | None = None, path: tuple[int, ...] = ()):
        self.now = now or timezone.now()
        self.path = path
        self._cache: dict[str, Any] = {}

    def nested(self, segment_id: int) -> CompileContext:
        inner = CompileContext(now=self.now, path=(*self.path, segment_id))
        inner._cache = self._cache
        return inner

    def cached(self, key: str, load):
        """A value loaded once per compilation (custom-field definitions …)."""
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]


class BlockKind(abc.ABC):
    """One kind of condition block. Subclass it and ``register_block`` an instance.

    ``validate`` gets the block without its ``"kind"`` and returns cleaned
    parameters (JSON-serialisable; validating them again must give the same
    result, because saved blocks are validated again before each run). It
    raises ``ValidationError({"param": [message]})`` with messages a marketer
    can act on.

    ``compile`` turns cleaned parameters into a ``Q`` over ``Lead`` that is
    TRUE or FALSE for every lead, never NULL, so that ``NOT n`` is exactly the
    leads block n does not match. ``Exists(...)`` and plain field lookups
    (Django adds ``IS NOT NULL`` under negation) have this property. Use
    correlated ``Exists`` / ``OuterRef("pk")`` subqueries over tables indexed
    by ``(lead_id, time)``; never annotate the outer query and never query
    the lead table in Python. Values always travel as SQL parameters.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str | Promise] = ""

    @abc.abstractmethod
    def validate(self, params: dict) -> dict: ...

    @abc.abstractmethod
    def compile(self, params: dict, context: CompileContext) -> Q: ...

    def describe(self, params: dict) -> str:
        """One line for people: "has tag “失注”". Parameters are cleaned."""
        return f"{self.label}: {json.dumps(params, ensure_ascii=False)}"

    def parameters(self) -> list[dict]:
        """A JSON description of the parameters, for editors and the API docs:
        ``[{"name", "type", "required", "choices"?, "help"?}]``."""
        return []


_KINDS: dict[str, BlockKind] = {}


def register_block(kind: BlockKind | type[BlockKind]) -> BlockKind | type[BlockKind]:
    """Register a block kind (an instance or a class, so it works as a decorator).

    Registering the same class again (a module imported twice) is harmless;
    another kind under a taken name is a configuration error.
    """
    instance = kind() if isinstance(kind, type) else kind
    if not instance.name:
        raise ImproperlyConfigured(f"{type(instance).__name__} has no name.")
    current = _KINDS.get(instance.name)
    if current is not None and type(current) is not type(instance):
        raise ImproperlyConfigured(
            f"Block kind {instance.name!r} is already registered by {type(current).__name__}."
        )
    _KINDS[instance.name] = instance
    return kind


def unregister_block(name: str) -> None:
    _KINDS.pop(name, None)


def get_block(name: str) -> BlockKind | None:
    return _KINDS.get(name)


def block_kinds() -> list[BlockKind]:
    return list(_KINDS.values())
