"""The edge runtime: the processes of a running application and the contracts between them.

One OS process per node, all started and watched by the agent (``edge_agent/apps``)::

    camera (per camera node)      PyAV decode → FrameRing ``cam-<node>.ring``
    model server (per model node) onnxruntime, serves ``call()`` on ``model-<node>.sock``
    code (per code node)          the application, importing ``panoramasdk``
    display (per output node)     reads ``put()`` records on ``display-<node>.sock``, tiles and
                                  draws onto ``display-<node>.ring`` (what "View output" shows)

Everything lives in the instance's **runtime folder** (``/dev/shm/vantage-…`` when there is a
``/dev/shm``, so nothing touches the disk), which a sandboxed code node sees at
``/run/vantage``. Frames are never copied between processes: they are written once into a
:class:`~edge_agent.runtime.ring.FrameRing` (a memory-mapped file) and every other process
reads them in place; sockets carry only small JSON messages (which slot, which overlays).

Contracts (each module documents its own):

- ``ring.py``: the frame ring (slots, reader holds, seqlock-style publish).
- ``config.py``: the JSON each process gets (``--config FILE``, secrets on stdin for cameras).
- ``report.py``: how a runtime process tells the agent its status and metrics (stdout lines
  ``@vantage {...}``) and logs (stderr lines ``LEVEL message``).
- ``modelwire.py``: the ``call()`` protocol between ``panoramasdk`` and a model server.
- ``display.py``: the ``put()`` record a code node sends to its display.

This package and ``panoramasdk`` are bound read-only into the sandbox (under
``/opt/vantage/python``), so they import nothing from the rest of the agent.
"""

RUNTIME_DIR_IN_SANDBOX = "/run/vantage"
PYTHON_DIR_IN_SANDBOX = "/opt/vantage/python"
