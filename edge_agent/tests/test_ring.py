"""The frame ring: what a reader holds is never overwritten, and nothing is copied to read."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.runtime.ring import FrameRing, RingError


def frame(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


@pytest.fixture
def ring(tmp_path):
    return FrameRing.create(tmp_path / "cam.ring", readers=2, capacity=4 * 6 * 3)


def test_a_reader_keeps_its_last_two_frames_while_the_writer_goes_round(ring, tmp_path):
    writer, reader = ring, FrameRing.open(tmp_path / "cam.ring")
    writer.write(frame(1), ts_sec=1, ts_usec=0)
    first = reader.take(0)
    writer.write(frame(2), ts_sec=2, ts_usec=0)
    second = reader.take(0, first.seq)
    for value in range(3, 40):  # many times round the ring
        writer.write(frame(value), ts_sec=value, ts_usec=0)
    assert (first.image[0, 0, 0], second.image[0, 0, 0]) == (1, 2)
    # Taking a third frame lets the first one go; the second stays.
    third = reader.take(0, second.seq)
    for value in range(40, 80):
        writer.write(frame(value), ts_sec=value, ts_usec=0)
    assert first.image[0, 0, 0] != 1
    assert (second.image[0, 0, 0], third.image[0, 0, 0]) == (2, 39)


def test_take_gives_the_newest_frame_in_place_and_nothing_older(ring, tmp_path):
    reader = FrameRing.open(tmp_path / "cam.ring")
    assert reader.take(0) is None
    seq = ring.write(frame(7), ts_sec=5, ts_usec=6)
    got = reader.take(0)
    assert (got.seq, got.ts_sec, got.ts_usec) == (seq, 5, 6)
    assert reader.take(0, got.seq) is None  # nothing newer
    # In place: the view's memory is the slot's, which the other mapping sees written.
    got.image[:] = 9
    assert ring.view(got.slot, 6, 4)[0, 0, 0] == 9


def test_hold_checks_the_frame_is_still_there(ring, tmp_path):
    reader = FrameRing.open(tmp_path / "cam.ring")
    seq = ring.write(frame(1), ts_sec=1, ts_usec=0)
    slot = reader.take(0).slot
    reader.release(0)
    for value in range(2, 20):
        ring.write(frame(value), ts_sec=value, ts_usec=0)
    assert reader.hold(1, slot, seq) is None  # overwritten since
    newest = reader.take(0)
    assert reader.hold(1, newest.slot, newest.seq).seq == newest.seq


def test_a_ring_refuses_what_it_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="two slots per reader"):
        FrameRing.create(tmp_path / "small.ring", slots=4, readers=2)
    ring = FrameRing.create(tmp_path / "ok.ring", readers=1, capacity=10)
    with pytest.raises(RingError, match="does not fit"):
        ring.write(frame(1), ts_sec=0, ts_usec=0)
    with pytest.raises(RingError, match="reader 5"):
        ring.take(5)
