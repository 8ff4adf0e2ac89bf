"""The event trace a run records: faults, grabs, unshares, isolations, migrations, loop rounds."""

from __future__ import annotations

import attrs


@attrs.frozen
class Event:
    #: e.g. 'call', 'vma', 'follow', 'fault', 'grab', 'unpin', 'put', 'unshare', 'cow',
    #: 'isolate', 'migrate', 'drain', 'round', 'return', 'op', 'fork'
    kind: str
    text: str
    #: nesting depth, for indented rendering
    depth: int = 0


@attrs.define
class Trace:
    events: list[Event] = attrs.field(factory=list)
    depth: int = 0
    enabled: bool = True

    def __call__(self, kind: str, text: str) -> None:
        if self.enabled:
            self.events.append(Event(kind, text, self.depth))

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[Event]:
        return self.events[mark:]
