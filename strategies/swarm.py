"""Swarm testing: each example first picks which features to lean on.

A bug such as Dirty COW needs a conjunction of rare choices (a read-only private mapping,
a forced write, an operation racing at GUP's retry point). Drawn independently each is
likely enough, the conjunction is not. Letting every example switch a few features to
"often" (Groce et al., "Swarm Testing", ISSTA 2012) makes such conjunctions common in
some examples without making any example type rare. The features are bits of one integer,
so they shrink away (to 0: no leaning) before anything else.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

FEATURES = ("readonly", "race", "fork", "force", "zero_page", "unmovable", "few_apis", "movable")
SWARM = st.integers(0, (1 << len(FEATURES)) - 1)


@attrs.frozen
class Swarm:
    readonly: bool = False  # mappings are mostly read-only, often private file mappings
    race: bool = False  # GUP calls often have operations racing at their retry point
    fork: bool = False  # forks, CPU writes and child processes come up often
    force: bool = False  # FOLL_FORCE|FOLL_WRITE calls come up often
    zero_page: bool = False  # private anonymous, read-faulted pages come up often
    #: what migration cannot move or isolate: VM_MIXEDMAP driver mappings (driver pages, special
    #: PTEs, CMA), other CPUs' batch references, racing isolations; and, rarely, a call whose own
    #: allocations fail (the long-term path's temporary arrays). Only with this leaning, so
    #: the other half of the search draws exactly what it would without these mechanisms
    unmovable: bool = False
    #: the example's calls use a random subset of the entry points (and user-space callers), so
    #: one API's or caller's interactions with itself come up often: e.g. io_uring's long-term
    #: pins, or R/O pins through GUP-fast followed by writes, which the full table dilutes
    few_apis: bool = False
    #: most VMAs are memory a long-term pin must not keep (ZONE_MOVABLE, CMA, a CMA pageblock being
    #: isolated) rather than normal memory half the time: the long-term path's migration, and
    #: what each caller or API does with such a page, then come up in most calls of the example
    movable: bool = False

    @classmethod
    def from_bits(cls, bits: int) -> Swarm:
        return cls(**{name: bool(bits >> i & 1) for i, name in enumerate(FEATURES)})


NONE = Swarm()
