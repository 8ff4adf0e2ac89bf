"""Reference counts, pinnable memory, and the call contract."""

from __future__ import annotations

from collections import Counter

from harness.model.callers import CALLERS
from harness.model.flags import FOLL, INTERNAL_GUP_FLAGS, foll_from_names
from harness.model.gup import fast_flags_allowed
from harness.model.kernels import Profile
from harness.run import Run, describe_op
from harness.scenario import Gup, Op

from .registry import prop


def refused_flag_mix(profile: Profile, api: str, passed: FOLL) -> bool:
    """The mixes is_valid_gup_args() (v6.3; the entry points' own checks before) refuses:
    internal flags from a caller (FOLL_PIN included), FOLL_GET with FOLL_PIN or with a
    pin_user_pages*() API, FOLL_LONGTERM without FOLL_PIN (get_user_pages*() since
    447f3e45c18a, v5.10), and for the *_fast() APIs any flag outside their mask."""
    is_pin = api.startswith("pin_")
    if api.endswith("_fast") and passed & ~fast_flags_allowed(profile):
        return True  # outside the *_fast() flag mask (73b0140bf0fe, grown since)
    if passed & INTERNAL_GUP_FLAGS or (passed & (FOLL.GET | FOLL.PIN)) == (FOLL.GET | FOLL.PIN):
        return True
    if is_pin and passed & FOLL.GET:
        return True
    return bool(passed & FOLL.LONGTERM and not is_pin and not passed & FOLL.PIN
                and profile.has("longterm_requires_pin"))


@prop("refcount_accounting", snapshots=True)
def refcount_accounting(run: Run) -> str | None:
    """After every step, every folio's refcount equals what its mappings, page-cache
    membership, the LRU batch and the gets and pins callers hold explain (+1 per get, +1024
    per pin on a small folio; zero-page pins uncounted since c8070b787519), and no PTE maps a
    freed page. Counts are compared as the kernel's 32-bit atomic_t holds them (modulo 2**32): a
    count pushed past INT_MAX is the overflow guards' business (8fde12ca79af), not a lost
    reference."""
    for snap in run.snapshots:
        for pid, addr, pfn in snap.dangling:
            return f"after op {snap.after}: process {pid} maps freed pfn {pfn} at page {addr}"
        for pfn, refcount, expected in snap.accounting:
            if refcount != expected:
                return (f"after op {snap.after} ({describe_op(run.scenario.ops[snap.after])}): pfn {pfn} has "
                        f"refcount {refcount}, but its holders explain {expected}")
    return None


@prop("longterm_pins_only_on_pinnable")
def longterm_pins_only_on_pinnable(run: Run) -> str | None:
    """A successful FOLL_LONGTERM pin never holds a folio in ZONE_MOVABLE or in a CMA/ISOLATE
    pageblock: such memory must stay migratable (hot-unplug, CMA allocations), so GUP migrates
    it out first (CMA since v5.2's check_and_migrate_cma_pages, ZONE_MOVABLE since v5.13).
    Before v5.10 a FOLL_GET|FOLL_LONGTERM reference (get_user_pages*(FOLL_LONGTERM), the
    long-term API before FOLL_PIN) is held to the same rule: the slow path migrates for it too."""
    for result in run.results:
        if not result.flags & FOLL.LONGTERM or not result.flags & (FOLL.PIN | FOLL.GET) or not result.result:
            continue
        for grab in result.grabbed:
            if grab.zero:
                continue
            if grab.zone == "MOVABLE" or grab.migratetype in ("CMA", "ISOLATE"):
                where = grab.migratetype if grab.migratetype in ("CMA", "ISOLATE") else "ZONE_MOVABLE"
                held = "pinned" if result.flags & FOLL.PIN else "referenced"
                return (f"op {result.index} ({describe_op(result.op)}) long-term {held} pfn {grab.pfn} "
                        f"({where}) at page {grab.addr}")
    return None


@prop("user_held_pins_longterm")
def user_held_pins_longterm(run: Run) -> str | None:
    """A pin that user space keeps after the system call that took it returned (io_uring's
    registered buffers, held until IORING_UNREGISTER_BUFFERS) is a long-term pin, so its pages
    are never in ZONE_MOVABLE or a CMA/ISOLATE pageblock.

    Documentation/core-api/pin_user_pages.rst: pins whose lifetime user space controls
    (RDMA, vfio, io_uring fixed buffers) are FOLL_PIN | FOLL_LONGTERM, and long-term pins must
    not hold movable memory hostage. The rule is stated from the caller's behaviour (it keeps
    the pages after returning), not from the flags the model's caller passes, so a caller
    that forgets FOLL_LONGTERM is caught by where its pages are. The kernel APIs called
    directly (the scenario plays the driver) choose their own flags and are left to
    longterm_pins_only_on_pinnable. Checked where migration out of movable memory exists for
    the placement (CMA from v5.2, ZONE_MOVABLE from v5.13); a pin that fails its migration
    returns an error and holds nothing."""
    for result in run.results:
        op = result.op
        if not isinstance(op, Gup) or not result.result or result.result < 0:
            continue
        caller = CALLERS.get(op.api)
        if caller is None or caller.name == caller.api or not caller.holds or not caller.api.startswith("pin_"):
            continue
        for grab in result.grabbed:
            if grab.zero:
                continue
            cma = grab.migratetype in ("CMA", "ISOLATE")
            movable = grab.zone == "MOVABLE" and run.profile.has("longterm_migrate_movable")
            if cma or movable:
                where = grab.migratetype if cma else "ZONE_MOVABLE"
                return (f"op {result.index} ({describe_op(op)}) keeps pfn {grab.pfn} ({where}) at page {grab.addr} "
                        f"pinned after the call returned: a pin user space holds must be long-term")
    return None


class _Where:
    """"op N (its description)", rendered only when a message needs it (describe_op is costly)."""

    def __init__(self, index: int, op: Op) -> None:
        self.index, self.op = index, op

    def __format__(self, spec: str) -> str:
        return f"op {self.index} ({describe_op(self.op)})"


@prop("call_contract")
def call_contract(run: Run) -> str | None:
    """A call returns the number of pages it got, for a prefix of the range, or an errno with
    nothing held; it returns 0 only for refused arguments (the pin_user_pages*() slow APIs,
    d64e2dbc33a1); invalid flag mixes (FOLL_GET with FOLL_PIN, internal flags from a caller,
    FOLL_LONGTERM without FOLL_PIN since v6.1) are refused; every returned entry is a valid,
    referenced page."""
    for result in run.results:
        op = result.op
        if not isinstance(op, Gup) or result.result is None or result.not_applicable:
            continue
        where = _Where(result.index, op)
        if not op.api.startswith(("pin_", "get_")):
            continue  # user-space callers map GUP's result to their own syscall result
        is_pin = op.api.startswith("pin_")
        invalid = refused_flag_mix(run.profile, op.api, foll_from_names(op.flags))
        if invalid and result.result > 0:
            return f"{where}: an invalid flag mix was accepted and returned {result.result}"
        if result.result > 0:
            if result.result > op.pages:
                return f"{where}: returned {result.result} for a {op.pages}-page range"
            addrs = [g.addr for g in result.grabbed]
            if addrs != list(range(op.start, op.start + result.result)):
                return f"{where}: returned pages {addrs}, not the prefix of the range"
            dead = [g for g in result.grabbed if not g.live]
            if dead:
                return f"{where}: returned pfn {dead[0].pfn}, which has no reference"
        else:
            if result.grabbed:
                return f"{where}: returned {result.result} but kept {len(result.grabbed)} page(s)"
            if result.result == 0 and not (invalid and is_pin and op.api != "pin_user_pages_fast"):
                return f"{where}: returned 0 (only refused arguments to pin_user_pages*() may)"
    return None


@prop("mapcount_matches_page_tables", snapshots=True)
def mapcount_matches_page_tables(run: Run) -> str | None:
    """After every step, each folio's mapcount is the number of page-table entries that map
    it, in every process (the reverse map's count: page_add_*_rmap() on every PTE set,
    page_remove_rmap() on every PTE cleared, by fork, COW, unshare, migration, zap and exit).

    A mapcount that drifts from the page tables misleads everything that trusts it: do_wp_page's
    reuse test before v5.9, pagemap's "exclusively mapped" bit, and refcount_accounting, whose
    expected count is built from the mapcount. The zero page is not counted (its PTEs are
    special)."""
    for snap in run.snapshots:
        mapped = Counter(snap.maps.values())  # PTEs per pfn (counted in C: this runs per step of every example)
        for pfn, mapcount in snap.mapcounts:
            if mapcount != mapped.get(pfn, 0):
                return (f"after op {snap.after} ({describe_op(run.scenario.ops[snap.after])}): pfn {pfn} has "
                        f"mapcount {mapcount}, but {mapped.get(pfn, 0)} page-table entries map it")
    return None
