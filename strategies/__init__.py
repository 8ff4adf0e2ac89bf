"""Hypothesis strategies for layouts, FOLL flag mixes and operation sequences.

Everything is valid by construction (gaps and sizes are drawn directly, never filtered),
and every choice lists its simplest value first, so shrinking heads for one private
anonymous VMA of one page and one call with the fewest flags.
"""

from .layouts import layouts, vmas
from .ops import for_profile, gup_ops, scenarios

__all__ = ["layouts", "vmas", "gup_ops", "scenarios", "for_profile"]
