"""Does prefix sharing pay? (issue 11, item 2)

Prefix sharing would run a layout (and the operations every member of an entry-point family
shares) once, and start each run from a copy of the machine after it. That only pays if
copying the machine is cheaper than building it again. This script draws scenarios as the
search draws them, builds each layout, and times building it against the two generic ways to
copy the built machine (copy.deepcopy, a pickle round trip). Run it idle:

    PYTHONPATH=. python benchmarks/prefix_sharing.py [PROFILE] [SCENARIOS]
"""

from __future__ import annotations

import copy
import pickle
import random
import sys
import time

from harness.finder import find
from harness.model import vmops
from harness.model.kernel import Kernel
from harness.model.kernels import get_profile
from harness.model.mm import MM
from strategies import for_profile, scenarios


def main() -> None:
    profile = get_profile(sys.argv[1] if len(sys.argv) > 1 else "mainline")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    drawn: list = []
    find(scenarios(**for_profile(profile)), lambda s: (drawn.append(s), len(drawn) >= count)[1], count + 1,
         random.Random(1))

    def build(layout: tuple) -> Kernel:
        k = Kernel(profile=profile)
        k.trace.enabled = False
        k.mms[0] = MM(pid=0)
        vmops.mmap_layout(k, k.mms[0], layout)
        return k

    started = time.perf_counter()
    built = [build(s.layout) for s in drawn]
    per_build = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for k in built:
        copy.deepcopy(k)
    per_deepcopy = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for k in built:
        pickle.loads(pickle.dumps(k, pickle.HIGHEST_PROTOCOL))
    per_pickle = (time.perf_counter() - started) / count
    print(f"{profile.name}, {count} generated layouts, per layout: build {per_build * 1e3:.3f} ms, "
          f"deepcopy {per_deepcopy * 1e3:.3f} ms ({per_deepcopy / per_build:.1f}x), "
          f"pickle round trip {per_pickle * 1e3:.3f} ms ({per_pickle / per_build:.1f}x)")


if __name__ == "__main__":
    main()
