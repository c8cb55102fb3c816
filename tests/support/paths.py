"""Where things are: the repository and the shared test media (no Django)."""

from __future__ import annotations

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
MEDIA_DIR = BASE_DIR.parent / "shared" / "media"
# The reference Panorama files (the test oracles), beside the repository as in CI.
REFERENCE = BASE_DIR.parent / "shared" / "reference" / "panorama"
ARTIFACTS_DIR = BASE_DIR / "test-artifacts"
# Set while a browser test runs: Playwright's event loop sits in the test thread.
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
