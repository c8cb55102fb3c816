"""The operations, one module per resource (each registers its functions on import)."""

from panorama_api.operations import (  # noqa: F401
    devices,
    imports,
    instances,
    jobs,
    nodes,
    packages,
    tags,
    templates,
)
