"""gupharness: a property-based regression harness for the kernel's get_user_pages."""

__version__ = "0.1.0"
