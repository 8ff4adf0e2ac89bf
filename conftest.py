"""Project-wide pytest configuration: Hypothesis settings profiles (harness/profiles.py says
which exist and how to choose one) and pytester (the regression-file plugin is installed as a pytest11 entry point)."""

from harness.profiles import register

pytest_plugins = ["pytester"]  # the corpus plugin comes from the pytest11 entry point (pyproject.toml)

register()
