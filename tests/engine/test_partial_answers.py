"""A late upload stream counted from the server's state so far (issue #13): when, and flagged."""

from __future__ import annotations

from probe.engine.summary import (
    FLAG_UPLOAD_NOT_COUNTED,
    DirectionObservation,
    summarise_direction,
)
from probe.engine.timelines import partials_cover
from probe.measurement import Sample

RATE = 125_000  # bytes/s per stream (1 Mbit/s)


def timeline(start_s: float, end_s: float, *, step_s: float = 0.05,
             hold_until_s: float | None = None) -> tuple[tuple[float, int], ...]:
    """A stream at RATE on the server's clock (origin 1000 s) from ``start_s`` to ``end_s``,
    then (``hold_until_s``) no more bytes until then: a tail stalled behind a timeout."""
    points = []
    t = start_s
    while t < end_s:
        points.append((1000.0 + t, int((t - start_s) * RATE)))
        t += step_s
    points.append((1000.0 + end_s, int((end_s - start_s) * RATE)))
    if hold_until_s is not None:
        points.append((1000.0 + hold_until_s, points[-1][1]))
    return tuple(points)


def observation(timelines: tuple[tuple[tuple[float, int], ...], ...],
                partial: tuple[int, ...]) -> DirectionObservation:
    return DirectionObservation(
        samples=(Sample(0.0, 0), Sample(10.0, 10 * RATE * len(timelines))),
        streams_started=len(timelines), streams_completed=len(timelines),
        server_timelines=timelines,
        server_received_bytes=sum(tl[-1][1] for tl in timelines),
        server_origin_s=0.0, fed_until_s=9.5, partial_streams=partial)


class TestPartialsCover:
    def test_a_partial_reaching_fed_until_covers(self) -> None:
        tls = (timeline(0.0, 10.0), timeline(0.0, 7.0, hold_until_s=10.5))
        assert partials_cover(tls, (1,), 9.5, 0.0)
        assert partials_cover(tls, (), 9.5, 0.0)

    def test_a_partial_ending_before_fed_until_does_not(self) -> None:
        tls = (timeline(0.0, 10.0), timeline(0.0, 7.0))
        assert not partials_cover(tls, (1,), 9.5, 0.0)
        assert not partials_cover(tls, (1,), None, 0.0)
        assert not partials_cover(None, (1,), 9.5, 0.0)
        assert not partials_cover(tls, (5,), 9.5, 0.0)


class TestSummary:
    def test_counted_and_flagged_with_the_figure_the_answer_would_give(self) -> None:
        full = timeline(0.0, 10.0)
        answered = observation((full, full), ())
        # The late stream's partial state: the same bytes until fed_until (9.5 s), held.
        late = timeline(0.0, 9.6, hold_until_s=10.8)
        with_partial = observation((full, late), (1,))
        expected, expected_flags = summarise_direction("upload", answered, 2)
        result, flags = summarise_direction("upload", with_partial, 2)
        # Said in the record, and no flag: every flag makes a record no evidence.
        assert flags == expected_flags == ()
        assert result.partial_streams == (1,)
        assert expected.partial_streams == ()
        assert result.goodput_mbps is not None
        assert expected.goodput_mbps is not None
        assert abs(result.goodput_mbps - expected.goodput_mbps) < 0.01 * expected.goodput_mbps
        assert result.window_end_s <= 9.5

    def test_a_short_partial_leaves_the_upload_not_counted(self) -> None:
        obs = observation((timeline(0.0, 10.0), timeline(0.0, 6.0)), (1,))
        result, flags = summarise_direction("upload", obs, 2)
        assert FLAG_UPLOAD_NOT_COUNTED in flags
        assert result.goodput_mbps is None
        assert result.partial_streams == ()
