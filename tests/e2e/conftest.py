"""Fixtures of the end-to-end tests: real agents and a cuttable network path to the console."""

from tests.support.appliances import console_proxy, make_agent  # noqa: F401
