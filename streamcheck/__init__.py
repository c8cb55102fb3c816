"""Opening and checking camera streams with PyAV: plain Python, no Django.

Shared by the console (the "Test stream" check run from the console host) and the edge agent
(the same check run on an appliance, and its camera nodes), so both report failures in the same
words, which are Panorama's.
"""

from streamcheck.probe import StreamCheckFailed, StreamInfo, open_stream, probe

__all__ = ["StreamCheckFailed", "StreamInfo", "open_stream", "probe"]
