"""``vantage-cli``: the application CLI, working on panorama-cli project folders as they are."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vantage")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"
