#!/usr/bin/python3
"""A real RTSP server for tests and demos: GStreamer's rtsp-server, looping recorded video.

Runs under Debian's system Python (python3-gi, gir1.2-gst-rtsp-server-1.0), not the project's
virtualenv. Mounts, all over RTSP/TCP or UDP:

  /open   H.264 from --h264 FILE, no credentials
  /auth   the same, behind Basic authentication (--user, --password)
  /h265   H.265 from --h265 FILE (for "camera sends H.265" checks)

Prints "READY <port>" on stdout once it listens, and runs until killed.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _factory(pipeline: str, *, anonymous: bool) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline)
    # Everybody may see the mount exists (else 404); only allowed roles may play it (else 401,
    # with the challenge that makes clients send their credentials).
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("anonymous", "media.factory.access", True)
    permissions.add_permission_for_role("anonymous", "media.factory.construct", anonymous)
    permissions.add_permission_for_role("camera", "media.factory.access", True)
    permissions.add_permission_for_role("camera", "media.factory.construct", True)
    factory.set_permissions(permissions)
    factory.set_shared(True)
    # Loop the recording like a camera that never ends.
    factory.set_eos_shutdown(False)
    return factory


def _file_pipeline(path: str, parse: str, pay: str) -> str:
    return (
        f"( multifilesrc location={path} loop=true ! qtdemux ! {parse} config-interval=-1 ! "
        f"{pay} name=pay0 pt=96 config-interval=1 )"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--h264", required=True)
    parser.add_argument("--h265", required=True)
    parser.add_argument("--user", default="camuser")
    parser.add_argument("--password", default="campass")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    h264 = _file_pipeline(args.h264, "h264parse", "rtph264pay")
    mounts.add_factory("/open", _factory(h264, anonymous=True))
    mounts.add_factory("/auth", _factory(h264, anonymous=False))
    h265 = _file_pipeline(args.h265, "h265parse", "rtph265pay")
    mounts.add_factory("/h265", _factory(h265, anonymous=True))

    # Clients without credentials get the "anonymous" role; the right Basic credentials give
    # "camera". Wrong credentials are refused with 401 before any mount is looked at.
    auth = GstRtspServer.RTSPAuth()
    anonymous = GstRtspServer.RTSPToken()
    anonymous.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
    auth.set_default_token(anonymous)
    camera = GstRtspServer.RTSPToken()
    camera.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), camera)
    server.set_auth(auth)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
