"""How many examples and seconds `hunt` needs to find and shrink the seed livelock.

Run: python benchmarks/seed_livelock.py [--seeds 20] [--max-examples 1000]
Prints one line per seed and the median/max; a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import platform
import statistics

from harness.search import search


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--max-examples", type=int, default=1000)
    parser.add_argument("--kernel", default="v5.19-rc1")
    parser.add_argument("--property", default="terminates")
    args = parser.parse_args()
    found, to_failure, detect_s, total_s, total_ex, canonical = 0, [], [], [], [], 0
    for seed in range(args.seeds):
        r = search(args.kernel, [args.property], seed=seed, max_examples=args.max_examples, database=None)
        ok = r.counterexample is not None
        found += ok
        if ok:
            to_failure.append(r.examples_to_failure)
            detect_s.append(r.seconds_to_failure or 0.0)
            total_s.append(r.seconds)
            total_ex.append(r.examples)
            sc = r.counterexample
            canonical += (len(sc.layout) == 1 and sc.layout[0].pages == 1 and len(sc.ops) == 1
                          and sc.ops[0].flags == ("FOLL_LONGTERM",))
        print(f"seed {seed:2}: {'found' if ok else 'MISSED'} after {r.examples_to_failure} examples "
              f"({r.seconds_to_failure or 0:.3f} s), shrunk after {r.examples} examples ({r.seconds:.3f} s)")
    print(f"\n{platform.node()} python {platform.python_version()}: {args.kernel}/{args.property}")
    print(f"detected {found}/{args.seeds}; canonical shrink {canonical}/{found}")
    if found:
        print(f"examples to detect: median {statistics.median(to_failure)}, max {max(to_failure)}")
        print(f"seconds to detect:  median {statistics.median(detect_s):.3f}, max {max(detect_s):.3f}")
        print(f"examples incl. shrinking: median {statistics.median(total_ex)}, max {max(total_ex)}")
        print(f"seconds incl. shrinking:  median {statistics.median(total_s):.3f}, max {max(total_s):.3f}")


if __name__ == "__main__":
    main()
