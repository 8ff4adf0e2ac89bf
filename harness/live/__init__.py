"""The property search on the running kernel (`gupharness hunt --kernel live`).

    checks.py   each property's live side: capability (yes/partial/no), how, and a check
    history.py  what a live run's scenario did, from the scenario and the kernel's answers
    hunt.py     the Hypothesis search, each example and shrink step run on the kernel
    render.py   the report, with the kernel's and the model's view side by side
"""

from .checks import LIVE, LiveCheck, LiveVerdict, capability, registered
from .hunt import LiveExample, LiveHuntReport, NotLiveCheckable, evaluate, live_hunt, save_live_counterexample

__all__ = ["LIVE", "LiveCheck", "LiveExample", "LiveHuntReport", "LiveVerdict", "NotLiveCheckable", "capability",
           "evaluate", "live_hunt", "registered", "save_live_counterexample"]
