"""What a folio's reference count should be, from what holds it.

The kernel never checks this; the model can. A folio's refcount is explained by its
mappings (one per PTE), page-cache membership, the LRU batch (and other CPUs' batches), a
driver's own reference to its pages, a racing isolation, and the GET references and
PIN pins callers hold (+1 and +GUP_PIN_COUNTING_BIAS on an order-0 folio).
"""

from __future__ import annotations

from .memory import GUP_PIN_COUNTING_BIAS, Folio


def structural_refs(folio: Folio) -> int:
    """References held by the memory-management structures themselves."""
    if folio.is_zero:
        return 1  # the reserved page's own reference; mapping it takes none (special PTE)
    mapping = folio.mapping
    in_cache = mapping is not None and mapping.pages.get(folio.index) is folio
    # bools add as 0/1 (no int() calls: this runs for every live folio after every operation)
    return (folio.mapcount + in_cache + folio.in_lru_batch + folio.driver + folio.batch_refs
            + folio.racing_isolation)


def explained_refcount(folio: Folio, gets: int, pins: int, *, zero_pins_counted: bool = True) -> int:
    if folio.is_zero and not zero_pins_counted:
        pins = 0
    per_pin = 1 if folio.large else GUP_PIN_COUNTING_BIAS
    return structural_refs(folio) + gets + pins * per_pin
