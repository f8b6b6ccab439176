"""A pass held in front of the camera is one scan; shown again later it is a new scan."""

from __future__ import annotations

from vision.repeat import RepeatFilter


def test_thirty_frames_of_one_pass_are_one_scan() -> None:
    repeat = RepeatFilter(window_s=3.0)
    admitted = [repeat.admit("GG1:A", t / 30) for t in range(30)]
    assert admitted.count(True) == 1 and admitted[0]


def test_window_slides_while_the_pass_stays_in_view() -> None:
    repeat = RepeatFilter(window_s=1.0)
    # Seen every 0.5 s for 10 s: still the same scan, however long it is held.
    assert [repeat.admit("GG1:A", t * 0.5) for t in range(20)].count(True) == 1
    assert repeat.admit("GG1:A", 9.5 + 1.01)


def test_two_passes_are_two_scans_and_memory_is_bounded() -> None:
    repeat = RepeatFilter(window_s=5.0, max_remembered=3)
    assert repeat.admit("GG1:A", 0.0) and repeat.admit("GG1:B", 0.1)
    assert not repeat.admit("GG1:A", 0.2)
    for i in range(10):
        repeat.admit(f"GG1:X{i}", 0.3)
    assert len(repeat._last_seen) == 3
    assert repeat.admit("GG1:A", 0.4)  # forgotten, so a new scan
