"""The Celery application: broker and schedule come from Django settings (CELERY_*).

Two things here make a worker stop quickly (the launcher gives the whole stack 8 s):
``StoppableFilesystemTransport`` and the GC freeze on ``worker_shutting_down``.
"""

import gc
import os
import time

from celery import Celery
from celery.signals import worker_shutting_down
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.filesystem import Transport as FilesystemTransport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


class StoppableFilesystemTransport(FilesystemTransport):
    """kombu's filesystem transport, drained in short slices.

    Without Redis the worker runs Celery's blocking loop, which drains the broker for 2 s at a
    time and looks at the stop flag only in between: up to 3 s (2 s plus a 1 s poll) passed
    between SIGTERM and the start of the warm shutdown. Here a drain ends early once a stop
    was asked for.
    """

    polling_interval = 0.25  # a listdir of the queue folder 4 times a second: nothing

    def drain_events(self, connection, timeout=None):
        from celery.worker import state  # not at import: the console's other processes

        end = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return super().drain_events(connection, timeout=self.polling_interval)
            except TimeoutError:  # socket.timeout, which kombu raises
                # Set to an exit code, 0 included: the same test as state.maybe_shutdown().
                flags = (state.should_stop, state.should_terminate)
                if any(flag is not None and flag is not False for flag in flags):
                    raise
                if end is not None and time.monotonic() >= end:
                    raise


# The settings' broker URL without Redis; any process that imports console has it registered.
TRANSPORT_ALIASES["vantagefs"] = f"{__name__}:StoppableFilesystemTransport"


@worker_shutting_down.connect
def _skip_garbage_collection_at_exit(**_kwargs) -> None:
    # The worker's main process holds a large heap (Django, PyAV, OpenCV, numpy); the
    # collections of interpreter teardown took 2-2.5 s of a stop on a loaded 2-core machine.
    # The OS frees the memory at exit anyway; nothing here relies on finalizers of cycles.
    gc.disable()
    gc.freeze()


app = Celery("vantage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
