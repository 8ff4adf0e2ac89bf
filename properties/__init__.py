"""Properties over finished runs. Importing this package registers them all."""

from .registry import PROPERTIES, Property, UnknownProperty, check_all, get_property, prop
from . import core as _core  # noqa: F401  (registers the properties)

__all__ = ["PROPERTIES", "Property", "UnknownProperty", "check_all", "get_property", "prop"]
