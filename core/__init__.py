"""The bottom layer of the Django half: what every app shares (see docs/ARCHITECTURE.md)."""
