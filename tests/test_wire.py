"""The typed upload answer: what the server builds is what the client parses, and bad ones fail."""

from __future__ import annotations

import json

import pytest

from probe import wire
from probe.errors import ProtocolViolation


def test_round_trip_through_json() -> None:
    answer = wire.UploadAnswer(12_288, ((10.0, 0), (10.05, 4096), (10.1, 12_288)))
    decoded = json.loads(json.dumps(answer.to_json()))
    assert decoded == {"received_bytes": 12_288,
                       "samples": [[10.0, 0], [10.05, 4096], [10.1, 12_288]]}
    assert wire.UploadAnswer.from_json(decoded) == answer


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], "not a JSON object"),
    ({"samples": []}, "lacks received_bytes"),
    ({"received_bytes": -1, "samples": []}, "lacks received_bytes"),
    ({"received_bytes": True, "samples": []}, "lacks received_bytes"),
    ({"received_bytes": 1, "samples": {}}, "lacks received_bytes"),
    ({"received_bytes": 1, "samples": [[0.0]]}, "is not [t, bytes]"),
    ({"received_bytes": 1, "samples": [["0", 1]]}, "is not [t, bytes]"),
])
def test_malformed_answers_are_protocol_violations(data: object, message: str) -> None:
    with pytest.raises(ProtocolViolation, match=message.replace("[", r"\[").replace("]", r"\]")):
        wire.UploadAnswer.from_json(data)


def test_a_read_after_a_gap_is_stamped_twice() -> None:
    """Bytes that arrive at once after a stall must not be spread back over the stall."""
    samples: list[tuple[float, int]] = [(0.0, 0), (0.05, 1000)]
    wire.stamp_sample(samples, 0.10, 1000, 2000)  # no gap: one point
    assert samples[-1] == (0.10, 2000)
    wire.stamp_sample(samples, 1.10, 2000, 9000)  # a 1 s stall, then 7000 bytes at once
    assert samples[-2:] == [(1.10, 2000), (1.10, 9000)]


def test_received_timeline_samples_at_most_every_interval_and_at_the_end() -> None:
    step = wire.SERVER_SAMPLE_INTERVAL_S
    timeline = wire.ReceivedTimeline(10.0)
    timeline.read(10.0 + step / 2, 0, 500)  # too soon after the start: not stamped
    timeline.read(10.0 + step, 500, 1000)
    timeline.read(10.0 + step * 1.5, 1000, 1500)  # too soon again
    timeline.end(10.0 + step * 1.6, 1500)
    timeline.end(10.0 + step * 1.7, 1500)  # the end is stamped once
    assert timeline.samples == [(10.0, 0), (10.0 + step, 1000), (10.0 + step * 1.6, 1500)]


def test_arrivals_ride_along_and_older_answers_lack_them() -> None:
    """``arrived`` is optional: a new server's answer carries it, an older one's does not."""
    answer = wire.UploadAnswer(4096, ((10.0, 0), (10.1, 4096)), ((10.0, 0), (10.1, 4344)))
    decoded = json.loads(json.dumps(answer.to_json()))
    assert decoded["arrived"] == [[10.0, 0], [10.1, 4344]]
    assert wire.UploadAnswer.from_json(decoded) == answer
    plain = wire.UploadAnswer(4096, ((10.0, 0), (10.1, 4096)))
    assert "arrived" not in plain.to_json()
    assert wire.UploadAnswer.from_json(plain.to_json()).arrived == ()
    with pytest.raises(ProtocolViolation, match="upload arrival"):
        wire.UploadAnswer.from_json({"received_bytes": 1, "samples": [], "arrived": [[1.0]]})
    with pytest.raises(ProtocolViolation, match="lacks"):
        wire.UploadAnswer.from_json({"received_bytes": 1, "samples": [], "arrived": {}})


def test_received_timeline_asks_for_arrivals_at_its_stamps_only() -> None:
    step = wire.SERVER_SAMPLE_INTERVAL_S
    asked: list[int] = []
    kernel = iter([0, 1448, 4344, 5792])

    def arrivals() -> int | None:
        asked.append(1)
        return next(kernel)

    timeline = wire.ReceivedTimeline(10.0, arrivals)
    timeline.read(10.0 + step / 2, 0, 500)  # not stamped: not asked
    timeline.read(10.0 + step, 500, 1000)
    timeline.read(10.0 + 4 * step, 1000, 4000)  # after a gap: two count stamps, one arrival
    timeline.end(10.0 + 4.5 * step, 4500)
    assert len(asked) == 4
    assert [t for t, _ in timeline.arrived] == [10.0, 10.0 + step, 10.0 + 4 * step,
                                                 10.0 + 4.5 * step]
    assert [b for _, b in timeline.arrived] == [0, 1448, 4344, 5792]
    assert timeline.samples[-3:] == [(10.0 + 4 * step, 1000), (10.0 + 4 * step, 4000),
                                     (10.0 + 4.5 * step, 4500)]


def test_received_timeline_drops_arrivals_once_one_is_unknown() -> None:
    answers = iter([0, None, 3000])
    timeline = wire.ReceivedTimeline(10.0, lambda: next(answers))
    timeline.read(10.0 + 1.5 * wire.SERVER_SAMPLE_INTERVAL_S, 0, 1000)
    timeline.read(10.0 + 3 * wire.SERVER_SAMPLE_INTERVAL_S, 1000, 2000)
    assert timeline.arrived == []
    assert len(timeline.samples) == 3


class TestTimelineSoFar:
    """ReceivedTimeline.so_far: the status of a body still arriving (issue #13)."""

    def test_unstamped_reads_and_the_hold_until_now_are_stamped(self) -> None:
        arrivals = iter([0, 1000, 5000])
        timeline = wire.ReceivedTimeline(10.0, lambda: next(arrivals))
        timeline.read(10.1, 0, 1000)    # stamped
        timeline.read(10.12, 1000, 3000)  # within the interval: not stamped
        status = timeline.so_far(12.0)
        assert status.partial
        assert status.received_bytes == 3000
        assert status.samples == ((10.0, 0), (10.1, 1000), (10.12, 3000), (12.0, 3000))
        assert status.arrived == ((10.0, 0), (10.1, 1000), (12.0, 5000))
        assert timeline.samples == [(10.0, 0), (10.1, 1000)]  # unchanged: the body goes on

    def test_partial_round_trips_and_answers_stay_unmarked(self) -> None:
        status = wire.UploadAnswer(5, ((0.0, 0), (1.0, 5)), partial=True)
        assert wire.UploadAnswer.from_json(status.to_json()) == status
        answer = wire.UploadAnswer(5, ((0.0, 0), (1.0, 5)))
        assert wire.FIELD_PARTIAL not in answer.to_json()
        assert not wire.UploadAnswer.from_json(answer.to_json()).partial

    def test_upload_ids(self) -> None:
        assert wire.valid_upload_id("a1-B_2")
        for bad in ("", "a b", "a/b", "é", "x" * (wire.UPLOAD_ID_MAX_CHARS + 1)):
            assert not wire.valid_upload_id(bad)
