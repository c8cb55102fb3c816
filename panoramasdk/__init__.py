"""Vantage's ``panoramasdk``: the SDK that AWS Panorama applications import, unchanged.

An application runs as a *code node* process started by the edge agent. The SDK finds what the
node is wired to in the node's configuration (``VANTAGE_NODE_CONFIG``, a
:class:`~edge_agent.runtime.config.CodeNodeConfig` JSON file; ``VANTAGE_RUNTIME_DIR`` says where
this process sees the runtime folder) and gives the application the Panorama surface:

- :class:`node`: the application's handle (subclass it without calling ``super().__init__()``,
  or make one with ``panoramasdk.node()``): ``inputs.<port>``, ``outputs.<port>``, ``call()``;
- :class:`port`: ``get()`` on media and parameter inputs, ``put()`` on media outputs;
- :class:`media`: one frame, its ``image`` a writable view into the camera's frame ring (no
  copy), with ``add_label`` / ``add_rect`` overlays drawn by the display.

It imports only numpy and ``edge_agent.runtime``: it is bound read-only into the sandbox.
"""

from __future__ import annotations

from panoramasdk._errors import TimeoutException
from panoramasdk._media import media
from panoramasdk._node import node
from panoramasdk._ports import port

__version__ = "1.2.0"

# Applications (and their tracebacks) know these as panoramasdk.X, as on Panorama.
for _public in (TimeoutException, media, node, port):
    _public.__module__ = __name__
del _public

__all__ = ["TimeoutException", "__version__", "media", "node", "port"]
