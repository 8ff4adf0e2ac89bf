"""One observation vocabulary for the model and the live kernel.

Everything here is what userspace can see of a process through /proc/self/pagemap,
/proc/kpageflags and syscall results. The model's runner and the live-kernel oracle
both produce a tuple of StepObservation, one per top-level operation, so that the
two can be compared field by field.
"""

from __future__ import annotations

import attrs

#: identity of the page at an address relative to the previous observation.
#: "absent": nothing mapped; "new": present now, absent before; "same": the same
#: physical page as before; "replaced": a different physical page (COW, unshare,
#: migration, refault after MADV_DONTNEED).
IDENTITIES = ("absent", "new", "same", "replaced")


@attrs.frozen
class PageObservation:
    present: bool
    #: the shared zero page (kpageflags bit 24)
    zero: bool = False
    #: an anonymous page (kpageflags bit 12); False for page cache and the zero page
    anon: bool = False
    #: pagemap bit 56: the page is mapped exactly once (mapcount == 1)
    mapped_once: bool = False
    identity: str = "absent"

    def short(self) -> str:
        """A compact rendering: '.' absent, 'Z' zero page, 'A'/'a' anon once/shared, 'F'/'f' file once/shared."""
        if not self.present:
            return "."
        if self.zero:
            return "Z"
        letter = "A" if self.anon else "F"
        return letter if self.mapped_once else letter.lower()


@attrs.frozen
class StepObservation:
    """After operation number `op` (top level, in the scenario's process 0)."""

    op: int
    #: the call's result: page count or -errno; None for operations without one
    result: int | None
    pages: tuple[PageObservation, ...]


def encode_pages(pages: tuple[PageObservation, ...]) -> list[list]:
    """Observations as JSON rows (the oracle's child and executor send them over pipes)."""
    return [[p.present, p.zero, p.anon, p.mapped_once, p.identity] for p in pages]


def decode_pages(rows: list[list]) -> tuple[PageObservation, ...]:
    return tuple(PageObservation(present=a, zero=b, anon=c, mapped_once=d, identity=e) for a, b, c, d, e in rows)
