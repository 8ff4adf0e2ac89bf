"""BUG and WARN: the kernel's own consistency checks, as the model meets them.

A kernel that hits VM_BUG_ON/BUG_ON stops the task (or the machine); WARN_ON_ONCE logs a
splat and carries on. The model raises `KernelBug` for the first and records a `Warn` on
the Kernel for the second, so that a run which reaches either can be judged by a property
(shrunk, saved, replayed) instead of escaping as a Python traceback.
"""

from __future__ import annotations

import attrs


class KernelBug(Exception):
    """A BUG/VM_BUG_ON the model reached: the state is one the kernel treats as fatal."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"BUG in {where}: {message}")
        self.where = where
        self.message = message


@attrs.frozen
class Warn:
    """A WARN_ON(_ONCE) the model reached; the kernel logs it and carries on."""

    where: str
    message: str
    #: the WARN of an overflow guard (8fde12ca79af): the kernel refusing a reference count it
    #: cannot represent, by design, rather than a state that should never occur
    guard: bool = False

    def __str__(self) -> str:
        return f"WARN in {self.where}: {self.message}" + (" (overflow guard)" if self.guard else "")
