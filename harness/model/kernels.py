"""The upstream timeline: behaviour switches with their commits, and kernel profiles.

A switch names one behaviour change of mm/ that the model implements; a profile is a
point on the ordered timeline, i.e. the set of switches in force at that release.
Profiles are data so that the CLI can list them and the bisector can walk them.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Switch:
    name: str
    commit: str
    release: str
    summary: str


SWITCHES: dict[str, Switch] = {
    s.name: s
    for s in (
        Switch("foll_cow", "19be0eaffa3a", "v4.9",
               "Dirty COW fix: after GUP's own COW fault a forced write is accepted through a read-only PTE "
               "only with FOLL_COW and a dirty PTE, instead of dropping FOLL_WRITE and retrying as a read"),
        Switch("gup_refcount_overflow_guard", "8fde12ca79af", "v5.1",
               "CVE-2019-11487: GUP refuses a reference when the page's refcount is already negative "
               "(overflowed past INT_MAX): the slow path WARNs and fails with -ENOMEM (try_get_page, "
               "88b1a17dfc3e; later try_grab_page/try_grab_folio), GUP-fast WARNs and leaves the page to the "
               "slow path (try_get_compound_head, later try_get_folio). Before: get_page() unconditionally, "
               "so the count could wrap all the way to zero and free a page still referenced"),
        Switch("foll_longterm", "932f4a630a69", "v5.2",
               "FOLL_LONGTERM exists (before: no long-term pin flag)"),
        Switch("foll_pin", "eddb1c228f79", "v5.7",
               "FOLL_PIN and pin_user_pages*(): a pin adds GUP_PIN_COUNTING_BIAS (1024) to a small folio"),
        Switch("gup_cow_break", "17839856fd58", "v5.8",
               "GUP in a COW mapping is treated as a write: COW is broken before a reference is taken"),
        Switch("wp_reuse_refcount", "09854ba94c6a", "v5.9",
               "do_wp_page reuses an anon page only if its refcount is 1 (a pinned page is copied away from); "
               "the forced COW break of 17839856fd58 is reverted"),
        Switch("fork_copy_pinned", "70e806e4e645", "v5.9",
               "fork copies a maybe-DMA-pinned anon page in a COW mapping for the child instead of sharing it"),
        Switch("longterm_migrate_movable", "d1e153fea2a8", "v5.13",
               "FOLL_LONGTERM migrates ZONE_MOVABLE (not only CMA) pages out before pinning; zero page exempt "
               "(9afaf30f7a1a)"),
        Switch("pinnable_pageblock_cma", "1c563432588d", "v5.19-rc1",
               "is_pinnable_page tests the pageblock migratetype: CMA or ISOLATE pageblocks are unpinnable"),
        Switch("zero_page_unpinnable", "1c563432588d", "v5.19-rc1",
               "BUG: the zero-page test slipped inside the negation of is_pinnable_page: the zero page is "
               "unpinnable and FOLL_LONGTERM loops forever on it (fixed by 034e5afad921; again in f25cbb7a95a2, "
               "fixed by fcab34b433e2)"),
        Switch("anon_exclusive", "6c287605fd56", "v5.19",
               "PG_anon_exclusive: a R/O FOLL_PIN of a non-exclusive anon page unshares it first "
               "(c89357e27f20, a7f226604170); pinned anon pages stay exclusive and fork copies them"),
        Switch("force_write_exclusive_anon", "5535be309971", "v6.0",
               "FOLL_COW removed: a forced write through a read-only PTE only in a private, VM_MAYWRITE, !VM_WRITE "
               "mapping and only on an exclusive anon page"),
        Switch("longterm_eagain", "61c63c2076d9", "v6.1",
               "check_and_migrate_movable_pages returns 0 (keep the pins) or -EAGAIN ('all pins dropped, re-pin "
               "the range'); split into collect/migrate by 67e139b02d99"),
        Switch("longterm_requires_pin", "f6d299ec39d8", "v6.1",
               "FOLL_LONGTERM requires FOLL_PIN: FOLL_GET|FOLL_LONGTERM is refused"),
        Switch("valid_gup_args", "d64e2dbc33a1", "v6.3",
               "is_valid_gup_args(): refused flag mixes make the pin_user_pages*() slow APIs return 0 "
               "(before: -EINVAL)"),
        Switch("unshare_ro_longterm_cow", "84209e87c696", "v6.2",
               "R/O FOLL_LONGTERM pins in COW mappings unshare non-anon pages too (zero page, page cache)"),
        Switch("zero_page_pin_uncounted", "c8070b787519", "v6.5",
               "pinning the zero page leaves its refcount alone; unpinning it is a no-op (before, every pin "
               "added 1024 to the one shared page: about 2 million pins overflowed it)"),
        Switch("no_longterm_write_writeback", "8ac268436e6d", "v6.5",
               "check_vma_flags refuses FOLL_LONGTERM|FOLL_WRITE on shared mappings of files that need writeback"),
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
    Step("v5.7", on=("gup_refcount_overflow_guard", "foll_longterm", "foll_pin"),
         note="8fde12ca79af (v5.1) refcount overflow guards; FOLL_LONGTERM (v5.2) migrates CMA pages once; "
              "FOLL_PIN and pin_user_pages*()"),
    Step("v5.8", on=("gup_cow_break",), note="17839856fd58: every GUP in a COW mapping breaks COW first"),
    Step("v5.9", on=("wp_reuse_refcount", "fork_copy_pinned"), off=("gup_cow_break",),
         note="09854ba94c6a: COW reuse by refcount replaces the forced break; 70e806e4e645: fork copies pinned pages",
         commits={"gup_cow_break": "09854ba94c6a"}),
    Step("v5.13", on=("longterm_migrate_movable",),
         note="d1e153fea2a8, 9afaf30f7a1a: ZONE_MOVABLE migrated too, zero page exempt; retry while 0"),
    Step("v5.18", note="the last release before the seed bug (same switches as v5.13)"),
    Step("v5.19-rc1", on=("pinnable_pageblock_cma", "zero_page_unpinnable"),
         note="1c563432588d: FOLL_LONGTERM on the zero page livelocks"),
    Step("v5.19", on=("anon_exclusive",), off=("zero_page_unpinnable",),
         note="034e5afad921 re-allows pinning of zero pfns; PG_anon_exclusive",
         commits={"zero_page_unpinnable": "034e5afad921"}),
    Step("v6.0-rc1", on=("zero_page_unpinnable", "force_write_exclusive_anon"), off=("foll_cow",),
         note="f25cbb7a95a2 makes the zero page unpinnable again; 5535be309971 removes FOLL_COW",
         commits={"zero_page_unpinnable": "f25cbb7a95a2", "foll_cow": "5535be309971"}),
    Step("v6.0", off=("zero_page_unpinnable",), note="fcab34b433e2 re-allows pinning of zero pfns (again)",
         commits={"zero_page_unpinnable": "fcab34b433e2"}),
    Step("v6.1", on=("longterm_eagain", "longterm_requires_pin"),
         note="61c63c2076d9/67e139b02d99: the -EAGAIN contract; FOLL_LONGTERM requires FOLL_PIN"),
    Step("v6.2", on=("unshare_ro_longterm_cow",), note="84209e87c696: reliable R/O long-term pins in COW mappings"),
    Step("v6.5", on=("valid_gup_args", "zero_page_pin_uncounted", "no_longterm_write_writeback"),
         note="d64e2dbc33a1 (v6.3) is_valid_gup_args; c8070b787519 zero-page pins uncounted; "
              "8ac268436e6d no long-term writable pins of writeback files"),
    Step("v6.16", note="517f496e1e61: the collector counts every unpinnable folio again (as the model always "
                       "has); a folio that can never be isolated keeps -EAGAIN looping, by design. The model has "
                       "no such folio source, so no switch changes here"),
    Step("v6.17", note="98c6d259319e: drain when the refcount exceeds what mappings explain, not when off the "
                       "LRU; in the model both triggers drain the same LRU batch, so no switch changes here"),
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
