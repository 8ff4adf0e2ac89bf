"""Properties over finished runs. Importing this package registers them all."""

from . import accounting as _accounting  # noqa: F401  (importing registers the properties)
from . import coherence as _coherence  # noqa: F401
from . import core as _core  # noqa: F401
from . import grants as _grants  # noqa: F401
from . import integrity as _integrity  # noqa: F401
from .registry import PROPERTIES, Property, UnknownProperty, check_all, get_property, need_snapshots, prop

__all__ = ["PROPERTIES", "Property", "UnknownProperty", "check_all", "get_property", "need_snapshots", "prop"]
