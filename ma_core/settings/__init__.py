# ruff: noqa: I001 - topic order is the reading order
"""Kizuki settings: one package, driven only by environment variables.

Split by topic; each module reads its variables through ``get_from_env``.
"""

from .web import *  # noqa: F403
from .data_stores import *  # noqa: F403
from .tasks import *  # noqa: F403
from .mail import *  # noqa: F403
from .api import *  # noqa: F403
from .domain import *  # noqa: F403
