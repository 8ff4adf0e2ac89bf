"""The upstream timeline: behaviour switches with their commits, and kernel profiles.

A switch names one behaviour change of mm/ that the model implements; a profile is a
point on the ordered timeline, i.e. the set of switches in force at that release.
Profiles are data so that the CLI can list them and the bisector can walk them.
"""

from __future__ import annotations

import re

import attrs


@attrs.frozen
class Switch:
    name: str
    commit: str
    release: str
    summary: str
    #: where the behaviour lives in the kernel tree at that release: "file: function()", so a
    #: reader can open the source next to the model
    source: str = ""


SWITCHES: dict[str, Switch] = {
    s.name: s
    for s in (
        Switch("foll_cow", "19be0eaffa3a", "v4.9",
               "Dirty COW fix: after GUP's own COW fault a forced write is accepted through a read-only PTE "
               "only with FOLL_COW and a dirty PTE, instead of dropping FOLL_WRITE and retrying as a read",
               source="mm/gup.c: can_follow_write_pte(), faultin_page()"),
        Switch("gup_refcount_overflow_guard", "8fde12ca79af", "v5.1",
               "CVE-2019-11487: GUP refuses a reference when the page's refcount is already negative "
               "(overflowed past INT_MAX): the slow path WARNs and fails with -ENOMEM (try_get_page, "
               "88b1a17dfc3e; later try_grab_page/try_grab_folio), GUP-fast WARNs and leaves the page to the "
               "slow path (try_get_compound_head, later try_get_folio). Before: get_page() unconditionally, "
               "so the count could wrap all the way to zero and free a page still referenced",
               source="include/linux/mm.h: try_get_page(); mm/gup.c: follow_page_pte(), gup_pte_range()"),
        Switch("io_uring_buffers", "edafccee56ff", "v5.1",
               "io_uring exists, and with it IORING_REGISTER_BUFFERS: fixed buffers pinned for the life of "
               "the registration, all or nothing (io_uring itself is 2b188cc1bb85, the same release)",
               source="fs/io_uring.c: io_sqe_buffer_register()"),
        Switch("io_uring_refuses_file_vmas", "edafccee56ff", "v5.1",
               "io_uring buffer registration refuses file-backed memory other than hugetlb: once GUP has "
               "pinned the whole range it looks at the VMA of every page, and any with a vm_file (a file, "
               "shared anonymous memory or tmpfs/memfd until 40dad765c045, a device driver's mapping) fails "
               "the registration with -EOPNOTSUPP, every pin dropped. 34ed8d0dcd69 (v6.5) removes the check "
               "and leaves the refusal to GUP's check_vma_flags() (8ac268436e6d: only file mappings that need "
               "dirty tracking). edd478269640 (v6.3) also refused a buffer spanning VMAs of different files "
               "(-EINVAL); no profile falls between v6.3 and v6.5, so the model does not carry that",
               source="fs/io_uring.c: io_sqe_buffer_register(); io_uring/rsrc.c: io_pin_pages() (v6.0-v6.4)"),
        Switch("foll_longterm", "932f4a630a69", "v5.2",
               "FOLL_LONGTERM exists (before: no long-term pin flag)",
               source="mm/gup.c: __gup_longterm_locked(), check_and_migrate_cma_pages()"),
        Switch("gup_fast_flags", "73b0140bf0fe", "v5.2",
               "get_user_pages_fast() takes FOLL flags instead of a write bool; any flag outside its mask "
               "(FOLL_WRITE|FOLL_LONGTERM, later more) is refused with -EINVAL (before: only 'write' can be said)",
               source="mm/gup.c: get_user_pages_fast()"),
        Switch("fast_longterm_get_cma", "7af75561e171", "v5.2",
               "BUG: GUP-fast takes CMA pages for FOLL_GET|FOLL_LONGTERM (get_user_pages_fast() with "
               "FOLL_LONGTERM) with no CMA test, so a long-term reference stays on a CMA page that the slow "
               "path would have migrated out. df3a0a21b698 (v5.7) added the test for FOLL_PIN only "
               "(try_grab_compound_head()); 447f3e45c18a (v5.10) ends it by refusing FOLL_LONGTERM without "
               "FOLL_PIN in get_user_pages_fast()",
               source="mm/gup.c: gup_pte_range(), try_grab_compound_head(), get_user_pages_fast()"),
        Switch("gup_fast_force", "f4000fdf435b", "v5.6",
               "FOLL_FORCE joins the *_fast() flag mask (before: -EINVAL)",
               source="mm/gup.c: internal_get_user_pages_fast()"),
        Switch("foll_pin", "3faa52c03f44", "v5.7",
               "FOLL_PIN and pin_user_pages*() (API from eddb1c228f79, v5.6); a pin adds "
               "GUP_PIN_COUNTING_BIAS (1024) to a small folio (3faa52c03f44)",
               source="mm/gup.c: pin_user_pages(), try_grab_page(); include/linux/mm.h: GUP_PIN_COUNTING_BIAS"),
        Switch("gup_cow_break", "17839856fd58", "v5.8",
               "GUP in a COW mapping is treated as a write: COW is broken before a reference is taken",
               source="mm/gup.c: __get_user_pages(), gup_fast (should_force_cow_break)"),
        Switch("wp_reuse_refcount", "09854ba94c6a", "v5.9",
               "do_wp_page reuses an anon page only if its refcount is 1 (a pinned page is copied away from); "
               "the forced COW break of 17839856fd58 is removed by a308c71bf1e6",
               source="mm/memory.c: do_wp_page()"),
        Switch("fork_copy_pinned", "70e806e4e645", "v5.9",
               "fork copies a maybe-DMA-pinned page in a COW mapping for the child instead of sharing it, "
               "once the mm has pinned (mm->has_pinned, 008cfe4418b3: set by slow GUP and GUP-fast alike)",
               source="mm/memory.c: copy_present_pte(), copy_present_page(); include/linux/mm.h: page_needs_cow_for_dma()"),
        Switch("memalloc_nocma_all_paths", "8510e69c8efe", "v5.9",
               "the memalloc_nocma scope of a FOLL_LONGTERM GUP keeps CMA out of every allocation (ALLOC_CMA "
               "dropped in current_alloc_flags(); the per-CPU list case in 1d91df85f399). Before, only the "
               "allocator's slow path honoured it (current_gfp_context() clearing __GFP_MOVABLE, i.e. under "
               "memory pressure): a page faulted in during a long-term GUP normally came from the VMA's own "
               "CMA or ZONE_MOVABLE memory",
               source="mm/page_alloc.c: current_alloc_flags(), __alloc_pages_nodemask(); "
                      "mm/gup.c: __gup_longterm_locked()"),
        Switch("memalloc_pin_movable", "8e3560d963d2", "v5.13",
               "PF_MEMALLOC_PIN (renamed from PF_MEMALLOC_NOCMA, 1a08ae36cf8b) keeps ZONE_MOVABLE out too: "
               "current_gfp_context() clears __GFP_MOVABLE, now in the allocator's fast path as well "
               "(da6df1b0fcfa). Before, a page faulted in during a long-term GUP could land in ZONE_MOVABLE",
               source="include/linux/sched/mm.h: current_gfp_context(); mm/page_alloc.c: __alloc_pages()"),
        Switch("longterm_requires_pin", "447f3e45c18a", "v5.10",
               "FOLL_LONGTERM requires FOLL_PIN: get_user_pages*() with FOLL_LONGTERM get -EINVAL",
               source="mm/gup.c: is_valid_gup_flags()"),
        Switch("longterm_migrate_movable", "d1e153fea2a8", "v5.13",
               "FOLL_LONGTERM migrates ZONE_MOVABLE (not only CMA) pages out before pinning; zero page exempt "
               "(9afaf30f7a1a)",
               source="mm/gup.c: check_and_migrate_movable_pages(); include/linux/mm.h: is_pinnable_page()"),
        Switch("madv_populate", "4ca9b3859dac", "v5.14",
               "MADV_POPULATE_READ/WRITE exist (before: madvise() refuses them)",
               source="mm/madvise.c: madvise_populate()"),
        Switch("io_uring_shmem_buffers", "40dad765c045", "v5.14",
               "io_uring buffer registration accepts shmem (tmpfs, memfd, shared anonymous memory: "
               "vma_is_shmem()) as it does hugetlb; any other file-backed VMA is still -EOPNOTSUPP",
               source="fs/io_uring.c: io_sqe_buffer_register()"),
        Switch("foll_nofault", "55b8fe703bc5", "v5.16",
               "FOLL_NOFAULT exists (and joins the *_fast() flag mask)",
               source="mm/gup.c: faultin_page()"),
        Switch("wp_drain_local_lru", "d4c470970d45", "v5.18",
               "do_wp_page drains the local LRU batch before its refcount test, so a fresh page's batch "
               "reference does not force a copy (before: the batch reference counts)",
               source="mm/memory.c: do_wp_page()"),
        Switch("pinnable_pageblock_cma", "1c563432588d", "v5.19-rc1",
               "is_pinnable_page tests the pageblock migratetype: CMA or ISOLATE pageblocks are unpinnable",
               source="include/linux/mm.h: is_pinnable_page()"),
        Switch("zero_page_unpinnable", "1c563432588d", "v5.19-rc1",
               "BUG: the zero-page test slipped inside the negation of is_pinnable_page: the zero page is "
               "unpinnable and FOLL_LONGTERM loops forever on it (fixed by 034e5afad921; again in f25cbb7a95a2, "
               "fixed by fcab34b433e2)",
               source="include/linux/mm.h: is_pinnable_page()"),
        Switch("anon_exclusive", "6c287605fd56", "v5.19-rc1",
               "PG_anon_exclusive: a R/O FOLL_PIN of a non-exclusive anon page unshares it first "
               "(c89357e27f20, a7f226604170); pinned anon pages stay exclusive and fork copies them",
               source="mm/gup.c: follow_page_pte(); include/linux/mm.h: gup_must_unshare(); mm/memory.c: do_wp_page()"),
        Switch("force_write_exclusive_anon", "5535be309971", "v6.0",
               "FOLL_COW removed: a forced write through a read-only PTE only in a private, VM_MAYWRITE, !VM_WRITE "
               "mapping and only on an exclusive anon page",
               source="mm/gup.c: can_follow_write_pte()"),
        Switch("longterm_eagain", "24a95998e9ba", "v6.1",
               "check_and_migrate_movable_pages returns 0 (keep the pins) or -EAGAIN ('all pins dropped, re-pin "
               "the range'); split into collect/migrate by 67e139b02d99",
               source="mm/gup.c: check_and_migrate_movable_pages(), __gup_longterm_locked()"),
        Switch("valid_gup_args", "d64e2dbc33a1", "v6.3",
               "is_valid_gup_args(): refused flag mixes make the pin_user_pages*() slow APIs return 0 "
               "(before: -EINVAL)",
               source="mm/gup.c: is_valid_gup_args()"),
        Switch("unshare_ro_longterm_cow", "84209e87c696", "v6.2",
               "R/O FOLL_LONGTERM pins in COW mappings unshare non-anon pages too (zero page, page cache)",
               source="mm/internal.h: gup_must_unshare()"),
        Switch("odirect_pins", "b7c96963925f", "v6.5",
               "direct I/O pins user pages (bio_iov_iter_get_pages() uses iov_iter_extract_pages(): FOLL_PIN); "
               "before it took FOLL_GET references, which the model's odirect callers do not represent",
               source="block/bio.c: bio_iov_iter_get_pages()"),
        Switch("zero_page_pin_uncounted", "c8070b787519", "v6.5",
               "pinning the zero page leaves its refcount alone; unpinning it is a no-op (before, every pin "
               "added 1024 to the one shared page: about 2 million pins overflowed it)",
               source="mm/gup.c: try_grab_folio(), gup_put_folio()"),
        Switch("no_longterm_write_writeback", "8ac268436e6d", "v6.5",
               "check_vma_flags refuses FOLL_LONGTERM|FOLL_WRITE on shared mappings of files that need writeback",
               source="mm/gup.c: writable_file_mapping_allowed(), check_vma_flags()"),
        Switch("pin_special_pte_refused", "7196040e19ad", "v5.18",
               "follow_pfn_pte refuses FOLL_PIN on a PTE without a struct page as it does FOLL_GET (before: "
               "-EEXIST, skipped and counted, the pages[] entry left unset: an invalid page pointer)",
               source="mm/gup.c: follow_pfn_pte()"),
        Switch("special_pte_eexist", "65462462ffb2", "v5.18",
               "a PTE without a struct page fails a get/pin with -EEXIST when there is a pages array "
               "(before: -EFAULT from follow_pfn_pte)",
               source="mm/gup.c: follow_page_pte(), __get_user_pages()"),
        Switch("io_uring_pin_fast", "1943f96b3816", "v6.10",
               "io_uring buffer registration pins with pin_user_pages_fast() (io_pin_pages() unified with the "
               "ring mapping's); before, pin_user_pages() under mmap_read_lock(): no lockless walk first",
               source="io_uring/io_uring.c: io_pin_pages(); io_uring/rsrc.c: io_sqe_buffer_register()"),
        Switch("folio_array_enomem_leak", "53ba78de064b", "v6.11",
               "BUG: check_and_migrate_movable_pages() kmallocs a folio array for the long-term check; when "
               "that fails (memory exhausted, fault injection) it returns -ENOMEM with every pin of the range "
               "still held, and the caller, seeing an error, never unpins them: a pin leak (plugged in "
               "v6.12-rc6, the allocation removed by 94efde1d1539)",
               source="mm/gup.c: check_and_migrate_movable_pages(), __gup_longterm_locked()"),
        Switch("collect_isolated_only", "1aaf8c122918", "v6.14",
               "only unpinnable folios that could be isolated make the long-term check retry: one off the LRU "
               "(a driver's page, a folio another migration holds) stays long-term pinned (reverted by "
               "517f496e1e61)",
               source="mm/gup.c: collect_longterm_unpinnable_folios()"),
        Switch("drain_on_refcount", "98c6d259319e", "v6.17",
               "the long-term check drains the LRU batches when a folio has more references than mappings "
               "explain, not only when it is off the LRU (a batch reference with the LRU flag set made "
               "migration fail with -ENOMEM)",
               source="mm/gup.c: collect_longterm_unpinnable_folios()"),
    )
}


@attrs.frozen
class Step:
    """One profile: the release and what it switches on and off relative to the previous one."""

    name: str
    on: tuple[str, ...] = ()
    off: tuple[str, ...] = ()
    note: str = ""
    #: the commit that made this step's change to a switch, where it is not the switch's own
    #: (a fix that turns a bug switch off, a later patch that supersedes a behaviour)
    commits: dict[str, str] = attrs.field(factory=dict)

    def commit_of(self, switch: str) -> str:
        return self.commits.get(switch, SWITCHES[switch].commit)


#: Ordered timeline. Each profile is the cumulative effect of the steps up to it.
TIMELINE: tuple[Step, ...] = (
    Step("v4.8", note="before the Dirty COW fix: a forced write retries as a read after breaking COW"),
    Step("v4.9", on=("foll_cow",), note="19be0eaffa3a: FOLL_COW"),
    Step("v4.14", note="long-term stable base: same switches as v4.9"),
    Step("v4.19", note="long-term stable base: same switches as v4.9"),
    Step("v5.4", on=("gup_refcount_overflow_guard", "foll_longterm", "gup_fast_flags", "fast_longterm_get_cma",
                     "io_uring_buffers", "io_uring_refuses_file_vmas"),
         note="long-term stable base; 8fde12ca79af (v5.1) refcount overflow guards; 932f4a630a69 (v5.2) "
              "FOLL_LONGTERM, CMA pages migrated out; 73b0140bf0fe (v5.2) get_user_pages_fast() takes FOLL flags; "
              "7af75561e171 (v5.2) FOLL_LONGTERM in GUP-fast, without a CMA test; edafccee56ff (v5.1) io_uring "
              "fixed buffers, file-backed memory refused"),
    Step("v5.7", on=("foll_pin", "gup_fast_force"),
         note="eddb1c228f79 (v5.6) / 3faa52c03f44: FOLL_PIN and pin_user_pages*(); f4000fdf435b (v5.6) "
              "FOLL_FORCE for *_fast()"),
    Step("v5.8", on=("gup_cow_break",), note="17839856fd58: every GUP in a COW mapping breaks COW first"),
    Step("v5.9", on=("wp_reuse_refcount", "fork_copy_pinned", "memalloc_nocma_all_paths"), off=("gup_cow_break",),
         note="09854ba94c6a: COW reuse by refcount; a308c71bf1e6 removes the forced break; "
              "70e806e4e645 + 008cfe4418b3: fork copies pinned pages of an mm that has pinned; "
              "8510e69c8efe: the nocma scope works in the allocator's fast path",
         commits={"gup_cow_break": "a308c71bf1e6"}),
    Step("v5.10", on=("longterm_requires_pin",), off=("fast_longterm_get_cma",),
         note="long-term stable base; 447f3e45c18a: get_user_pages*() refuse FOLL_LONGTERM (so GUP-fast "
              "no longer sees FOLL_GET|FOLL_LONGTERM)",
         commits={"fast_longterm_get_cma": "447f3e45c18a"}),
    Step("v5.13", on=("longterm_migrate_movable", "memalloc_pin_movable"),
         note="d1e153fea2a8, 9afaf30f7a1a: ZONE_MOVABLE migrated too, zero page exempt; retry while 0; "
              "8e3560d963d2: PF_MEMALLOC_PIN keeps ZONE_MOVABLE out of the call's allocations"),
    Step("v5.15", on=("madv_populate", "io_uring_shmem_buffers"),
         note="long-term stable base; 4ca9b3859dac (v5.14) MADV_POPULATE_READ/WRITE; 40dad765c045 (v5.14) "
              "io_uring fixed buffers in shmem"),
    Step("v5.18", on=("foll_nofault", "wp_drain_local_lru", "pin_special_pte_refused", "special_pte_eexist"),
         note="the last release before the seed bug; 55b8fe703bc5 (v5.16) FOLL_NOFAULT; d4c470970d45 "
              "do_wp_page drains the local LRU batch; 7196040e19ad/65462462ffb2: a get/pin of a PTE without "
              "a struct page fails with -EEXIST (FOLL_PIN used to return an unset pages[] entry)"),
    Step("v5.19-rc1", on=("pinnable_pageblock_cma", "zero_page_unpinnable", "anon_exclusive"),
         note="1c563432588d: FOLL_LONGTERM on the zero page livelocks; 6c287605fd56: PG_anon_exclusive"),
    Step("v5.19", off=("zero_page_unpinnable",),
         note="034e5afad921 re-allows pinning of zero pfns",
         commits={"zero_page_unpinnable": "034e5afad921"}),
    Step("v6.0-rc1", on=("zero_page_unpinnable", "force_write_exclusive_anon"), off=("foll_cow",),
         note="f25cbb7a95a2 makes the zero page unpinnable again; 5535be309971 removes FOLL_COW",
         commits={"zero_page_unpinnable": "f25cbb7a95a2", "foll_cow": "5535be309971"}),
    Step("v6.0", off=("zero_page_unpinnable",), note="fcab34b433e2 re-allows pinning of zero pfns (again)",
         commits={"zero_page_unpinnable": "fcab34b433e2"}),
    Step("v6.1", on=("longterm_eagain",),
         note="24a95998e9ba/67e139b02d99: the -EAGAIN contract"),
    Step("v6.2", on=("unshare_ro_longterm_cow",), note="84209e87c696: reliable R/O long-term pins in COW mappings"),
    Step("v6.5", on=("valid_gup_args", "zero_page_pin_uncounted", "no_longterm_write_writeback", "odirect_pins"),
         off=("io_uring_refuses_file_vmas",),
         note="d64e2dbc33a1 (v6.3) is_valid_gup_args; c8070b787519 zero-page pins uncounted; "
              "8ac268436e6d no long-term writable pins of writeback files; b7c96963925f direct I/O pins; "
              "34ed8d0dcd69 io_uring leaves the file-backed check to GUP",
         commits={"io_uring_refuses_file_vmas": "34ed8d0dcd69"}),
    Step("v6.6", note="long-term stable base: same switches as v6.5"),
    Step("v6.11", on=("folio_array_enomem_leak", "io_uring_pin_fast"),
         note="53ba78de064b: the long-term check kmallocs a folio array, and leaks the pins when that fails; "
              "1943f96b3816 (v6.10) io_uring registers buffers with pin_user_pages_fast()"),
    Step("v6.12", off=("folio_array_enomem_leak",),
         note="long-term stable base; 94efde1d1539 drops the folio array (the leak was plugged in v6.12-rc6 "
              "by 'mm/gup: stop leaking pinned pages in low memory conditions')",
         commits={"folio_array_enomem_leak": "94efde1d1539"}),
    Step("v6.14", on=("collect_isolated_only",),
         note="1aaf8c122918: an unpinnable folio that cannot be isolated stays long-term pinned"),
    Step("v6.16", off=("collect_isolated_only",),
         note="517f496e1e61 reverts 1aaf8c122918: every unpinnable folio counts again, so a folio that can "
              "never be isolated (a driver's CMA page) keeps -EAGAIN looping until a fatal signal, by design",
         commits={"collect_isolated_only": "517f496e1e61"}),
    Step("v6.17", on=("drain_on_refcount",),
         note="98c6d259319e: drain when the refcount exceeds what mappings explain, not only when off the LRU"),
    Step("mainline", note="today's rules"),
)


@attrs.frozen
class Profile:
    name: str
    index: int
    switches: frozenset[str]
    note: str

    def has(self, switch: str) -> bool:
        if switch not in SWITCHES:
            raise KeyError(f"unknown switch {switch!r}")
        return switch in self.switches


def _build_profiles() -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    active: set[str] = set()
    for index, step in enumerate(TIMELINE):
        for name in step.on + step.off:
            if name not in SWITCHES:
                raise AssertionError(f"timeline step {step.name} names unknown switch {name}")
        active = (active | set(step.on)) - set(step.off)
        profiles[step.name] = Profile(step.name, index, frozenset(active), step.note)
    return profiles


PROFILES: dict[str, Profile] = _build_profiles()
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


class UnknownProfile(KeyError):
    def __str__(self) -> str:
        return f"unknown kernel profile {self.args[0]!r} (known: {', '.join(PROFILE_NAMES)})"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(name) from None


def changes_between(older: Profile, newer: Profile) -> tuple[list[Switch], list[Switch]]:
    """Switches turned on and off going from `older` to `newer`."""
    on = [SWITCHES[n] for n in sorted(newer.switches - older.switches)]
    off = [SWITCHES[n] for n in sorted(older.switches - newer.switches)]
    return on, off


def _version(text: str) -> tuple[int, int, int] | None:
    """'v5.19-rc1' / '5.19.0-rc1-foo' / '6.18.44-cloud' -> (major, minor, rc), rc 99 for a release."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:-rc(\d+))?", text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3]) if match[3] else 99


def profile_for_release(release: str) -> str:
    """The profile that models a running kernel of this release (`uname -r`): the newest
    profile not newer than it; mainline for anything newer than the newest numbered profile;
    the oldest profile for anything older."""
    running = _version(release)
    numbered = [(v, name) for name in PROFILE_NAMES if (v := _version(name)) is not None]
    if running is None:
        return "mainline"
    if running > max(numbered)[0]:
        return "mainline"
    older = [(v, name) for v, name in numbered if v <= running]
    return max(older)[1] if older else min(numbered)[1]
