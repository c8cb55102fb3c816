"""Frames to calibrate an INT8 model on: the application's own camera (a data source) or a
folder of images and videos in the media folders (``TEST_MEDIA_DIRS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from datasources.models import DataSource
from datasources.streams import media_folders
from streamcheck.probe import StreamCheckFailed, open_stream

FRAMES = 64  # enough for a stable calibration; a quarter is kept back for the accuracy report
CAMERA_STRIDE = 15  # one frame in 15 from a camera: half a second apart at 30 fps
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".ts", ".h264", ".h265", ".264", ".265")


class CalibrationError(Exception):
    """The calibration source cannot give frames; the message says why and what is allowed."""


def check_folder(path: str) -> Path:
    """``path`` as an allowed folder of calibration frames; CalibrationError otherwise."""
    folders = media_folders()
    allowed = ", ".join(str(f) for f in folders)
    folder = Path(path)
    if not folder.is_absolute():
        raise CalibrationError(f"the calibration folder {path!r} must be an absolute path")
    folder = folder.resolve()
    if not any(folder == f or f in folder.parents for f in folders):
        raise CalibrationError(
            f"the calibration folder {path} is outside the media folders; allowed: {allowed} "
            "(TEST_MEDIA_DIRS)"
        )
    if not folder.is_dir():
        raise CalibrationError(f"the calibration folder {path} does not exist")
    if not _files(folder):
        raise CalibrationError(
            f"the calibration folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}) or "
            f"videos ({', '.join(VIDEO_SUFFIXES)})"
        )
    return folder


def describe(calibration: dict[str, Any]) -> str:
    if "folder" in calibration:
        return f"frames of {calibration['folder']}"
    return f"frames of the camera {calibration.get('name', '?')}"


def frames(calibration: dict[str, Any], count: int = FRAMES) -> list[np.ndarray]:
    """BGR frames from the calibration source (``{"folder": path}`` or ``{"data_source": pk}``)."""
    if "folder" in calibration:
        return _folder_frames(check_folder(str(calibration["folder"])), count)
    source = DataSource.objects.filter(pk=calibration.get("data_source")).first()
    if source is None:
        raise CalibrationError("the calibration camera (data source) no longer exists")
    return _camera_frames(source, count)


def _files(folder: Path) -> list[Path]:
    suffixes = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _folder_frames(folder: Path, count: int) -> list[np.ndarray]:
    files = _files(folder)
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    found = [image for image in (cv2.imread(str(p)) for p in images[:count]) if image is not None]
    for index, video in enumerate(videos):
        wanted = (count - len(found)) // (len(videos) - index)
        if wanted <= 0:
            break
        found += _video_frames(video, wanted)
    if len(found) < 4:
        raise CalibrationError(
            f"the calibration folder {folder} gave {len(found)} readable frame(s); at least 4 "
            "are needed"
        )
    return found


def _video_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread over the whole video."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            total = stream.frames or 0
            step = max(1, total // count) if total else CAMERA_STRIDE
            taken = []
            for index, frame in enumerate(container.decode(stream)):
                if index % step == 0:
                    taken.append(frame.to_ndarray(format="bgr24"))
                    if len(taken) >= count:
                        break
            return taken
    except (av.error.FFmpegError, IndexError):
        return []  # not a video after all: the count check says so if nothing else is there


def _camera_frames(source: DataSource, count: int) -> list[np.ndarray]:
    username, password = source.credentials()
    try:
        container = open_stream(source.url, username, password, open_timeout=10, read_timeout=10)
    except StreamCheckFailed as failed:
        raise CalibrationError(f"the camera {source.name} cannot be read: {failed}") from None
    taken: list[np.ndarray] = []
    try:
        for index, frame in enumerate(container.decode(video=0)):
            if index % CAMERA_STRIDE == 0:
                taken.append(frame.to_ndarray(format="bgr24"))
                if len(taken) >= count:
                    break
    except av.error.FFmpegError:
        # Never the exception's text: FFmpeg puts the URL, credentials included, into it.
        raise CalibrationError(
            f"the camera {source.name} stopped sending after {len(taken)} frame(s)"
        ) from None
    finally:
        container.close()
    if len(taken) < 4:
        raise CalibrationError(f"the camera {source.name} gave {len(taken)} frame(s)")
    return taken
