"""gupharness: a property-based regression harness for the kernel's get_user_pages."""

__version__ = "0.1.0"

# GUPHARNESS_MUTANT=<name> runs this process with a source mutant of the model (harness/mutate.py);
# installed here, before any model module is imported
from .mutate import install_from_environment as _install_mutant

_install_mutant()
