"""Building Panorama applications' container images, without Docker (no Django).

- ``base.py``: the base image that stands in for Panorama's ``panorama-application``
  (mmdebstrap, Debian's packages).
- ``builder.py``: a package's Dockerfile built with buildah on that base image, and the image
  exported as panorama-cli exports it (``docker export`` semantics, gzip'd, named by sha256).

Used by ``vantage-cli build-container`` / ``export-container`` and by ``./vantage up`` (the
sample), never by the console or the agent: an appliance only unpacks the exported
filesystem (``edge_agent/apps/images.py``).
"""
