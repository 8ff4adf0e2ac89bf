"""The machine: physical memory, processes, the profile in force, the trace and the budget.

Everything the fault and GUP code needs to reach "the rest of the kernel" goes through
this object; the functions that mirror mm/memory.c and mm/gup.c live in their own modules.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from .budget import Budget
from .bug import Warn
from .kernels import SWITCHES, Profile
from .memory import File, Folio, PhysMem
from .mm import MM, Pte, Vma
from .trace import Trace


@attrs.define(eq=False)
class Kernel:
    profile: Profile
    mem: PhysMem = attrs.field(factory=PhysMem)
    mms: dict[int, MM] = attrs.field(factory=dict)
    files: list[File] = attrs.field(factory=list)
    trace: Trace = attrs.field(factory=Trace)
    budget: Budget = attrs.field(factory=Budget)
    #: the next value a CPU or device write stores: page contents are "who wrote last"
    next_token: int = 1
    #: counts GUP calls, to key the budget's per-call loop history
    calls: int = 0
    #: PF_MEMALLOC_PIN: set by __gup_longterm_locked (memalloc_pin_save)
    memalloc_pin: bool = False
    #: WARN_ON(_ONCE) splats the run reached, in order
    warnings: list[Warn] = attrs.field(factory=list)
    #: folios FOLL_LONGTERM could not isolate or migrate out of movable/CMA memory (a statistic
    #: for properties, like the kernel's migration failure counters; no behaviour depends on it)
    migration_failures: int = 0
    #: (mm, addr) of folios a racing compaction/migration isolates at the next long-term check
    racing_isolations: list[tuple[MM, int]] = attrs.field(factory=list)
    #: the current call's slab allocations fail (fault injection, see scenario.FailSlab)
    failslab: bool = False
    #: slab allocations that failed so far (a statistic for properties, like migration_failures)
    alloc_failures: int = 0
    #: the per-CPU folio batches are nobody's to control (the live oracle without its crutches:
    #: any CPU, no drain before each op), so a decision that counts references may meet one
    #: more, held by another CPU's batch; such a decision is a choice point (choose()). Off,
    #: the model sees the state right after a drain on the CPU that decides (deterministic).
    uncontrolled_batches: bool = False
    #: the outcomes to take at the choice points met, in order (0 beyond its end)
    script: list[int] = attrs.field(factory=list)
    #: the number of outcomes of each choice point met so far (harness/outcomes.py walks them)
    met: list[int] = attrs.field(factory=list)

    def has(self, switch: str) -> bool:
        if switch in SWITCHES:  # Profile.has() without a second call; it raises on an unknown name
            return switch in self.profile.switches
        return self.profile.has(switch)

    def warn(self, where: str, message: str, *, guard: bool = False) -> None:
        """WARN_ON_ONCE(): log and carry on. `guard`: an overflow guard refusing a count (see Warn)."""
        self.warnings.append(Warn(where, message, guard))
        self.trace("warn", f"WARN in {where}: {message}")

    def kmalloc(self, what: str) -> bool:
        """A slab allocation GUP makes for itself (kmalloc_array/kcalloc): False when it fails."""
        if self.failslab:
            self.trace("alloc", f"kmalloc of {what} fails: -ENOMEM")
            self.alloc_failures += 1
            return False
        return True

    def choose(self, where: str, outcomes: int) -> int:
        """A decision the kernel takes on state no scenario controls: which of `outcomes`
        happens here (0 is the one the deterministic model takes)."""
        pick = self.script[len(self.met)] if len(self.met) < len(self.script) else 0
        self.met.append(outcomes)
        self.trace("choice", f"{where}: outcome {pick + 1} of {outcomes}")
        return pick

    def new_token(self) -> int:
        token = self.next_token
        self.next_token += 1
        return token

    # -- page tables and rmap ------------------------------------------------------

    def rmap(self, folio: Folio) -> Iterator[tuple[MM, int, Pte]]:
        """Every PTE that maps `folio` (the reverse map, by brute force)."""
        for mm in self.mms.values():
            for addr, pte in mm.ptes.items():
                if pte.folio is folio:
                    yield mm, addr, pte

    def set_pte(self, mm: MM, addr: int, folio: Folio, *, write: bool, dirty: bool, new_ref: bool) -> Pte:
        """Map `folio` at addr: mapcount+1, and a reference unless the caller hands one over."""
        if folio.is_zero:
            pte = Pte(folio.pfn, folio, write=False, dirty=False, special=True)
        else:
            folio.mapcount += 1
            if new_ref:
                folio.ref_add(1)
            pte = Pte(folio.pfn, folio, write=write, dirty=dirty)
        mm.ptes[addr] = pte
        return pte

    def zap_pte(self, mm: MM, addr: int) -> None:
        """Remove one PTE: page_remove_rmap() and drop the mapping's reference."""
        pte = mm.ptes.pop(addr, None)
        if pte is None or pte.folio is None or pte.special:
            return
        folio = pte.folio
        if pte.dirty:
            folio.dirty = True
        folio.mapcount -= 1
        self.mem.put(folio)

    def alloc(self, vma: Vma) -> Folio:
        """A new page for `vma`: GFP_HIGHUSER_MOVABLE, from the VMA's own memory, unless the
        FOLL_LONGTERM scope (memalloc_nocma_save(), memalloc_pin_save() from v5.13) keeps it out."""
        placement = vma.placement
        if self.memalloc_pin:
            if placement in ("cma", "isolate") and self.has("memalloc_nocma_all_paths"):
                placement = "normal"  # 8510e69c8efe (v5.9): no ALLOC_CMA in the scope
            elif placement == "movable" and self.has("memalloc_pin_movable"):
                placement = "normal"  # 8e3560d963d2 (v5.13): __GFP_MOVABLE cleared in the scope
            # Before v5.9 the scope was honoured only by the allocator's slow path (memory
            # pressure), where clearing __GFP_MOVABLE kept both CMA and ZONE_MOVABLE out. The
            # model's allocator never runs short, so it takes the fast path: the VMA's memory.
        return self.mem.alloc(placement)

    def pagecache_folio(self, vma: Vma, addr: int) -> Folio:
        """filemap_fault()/shmem_fault(): find or create the page-cache folio (the cache holds a ref)."""
        assert vma.file is not None
        index = vma.file_index(addr)
        folio = vma.file.pages.get(index)
        if folio is None or folio.freed:
            folio = self.alloc(vma)
            folio.mapping = vma.file
            folio.index = index
            folio.data = vma.file.disk.get(index, 0)
            vma.file.pages[index] = folio
            if self.trace.enabled:  # the layout fills whole files: no message built when untraced
                self.trace("alloc", f"page cache {vma.file.name}[{index}] -> pfn {folio.pfn}")
        return folio

    # -- state, for loop detection and reports ---------------------------------------

    def fingerprint(self) -> tuple:
        """Everything that determines what the model does next (pfn allocation aside)."""
        folios = tuple(
            (f.pfn, f.refcount, f.pincount, f.mapcount, f.anon, f.anon_exclusive, f.lru, f.in_lru_batch,
             f.zone, f.migratetype, f.data)
            for f in self.mem.live()
        )
        ptes = tuple(
            (mm.pid, addr, pte.pfn, pte.write, pte.dirty)
            for mm in self.mms.values() for addr, pte in sorted(mm.ptes.items())
        )
        return folios, ptes

    def describe_folios(self, pfns: list[int] | None = None) -> str:
        chosen = [f for f in self.mem.live() if pfns is None or f.pfn in pfns]
        return "; ".join(f.describe() for f in chosen)
