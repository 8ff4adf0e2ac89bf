"""Project-wide pytest configuration: Hypothesis settings profiles (harness/profiles.py says
which exist and how to choose one) and the regression-file plugin."""

from harness.profiles import register

pytest_plugins = ["harness.pytest_plugin", "pytester"]

register()
