"""The Vantage edge agent: the process that runs on an appliance.

It provisions itself from the USB archive, keeps the device link to the console, and runs the
camera → model → output pipeline. It shares only the wire protocol with the console and never
imports Django or any console module, so it installs on an appliance without them.
"""

__version__ = "0.1.0"
