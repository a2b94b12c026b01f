"""The upload body framing parser, fed scripted byte splits: counts, body ends and errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.server.framing import MAX_LINE_BYTES, MAX_TRAILER_BYTES, BodyFraming

AFTER = b"GET /ping HTTP/1.1\r\n\r\n"  # what a pipelining client might send next
CHUNKED = (b"5\r\nhello\r\n"
           b"3;name=value;flag\r\nabc\r\n"
           b"A \t; spaced ext\r\n0123456789\r\n"
           b"0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")
CHUNKED_PAYLOAD = 5 + 3 + 10


def feed_pieces(framing: BodyFraming, pieces: list[bytes]) -> int:
    """Feed ``pieces`` until the body is over; return how many bytes belonged to the body."""
    used = 0
    for piece in pieces:
        if framing.done:
            break
        used += framing.feed(bytearray(piece))  # a bytearray, like the receive buffer
    return used


def splits(data: bytes, cuts: tuple[int, ...]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


class TestChunkedSplits:
    """Any way the socket cuts a chunked body, the count and the body's end come out the same."""

    def test_every_single_split_point(self) -> None:
        wire_bytes = CHUNKED + AFTER
        for cut in range(len(wire_bytes) + 1):
            framing = BodyFraming()
            used = feed_pieces(framing, splits(wire_bytes, (cut,)))
            assert (framing.error, framing.done) == (None, True), cut
            assert framing.payload_bytes == CHUNKED_PAYLOAD, cut
            assert used == len(CHUNKED), cut

    def test_every_pair_of_split_points(self) -> None:
        for a, b in itertools.combinations(range(len(CHUNKED) + 1), 2):
            framing = BodyFraming()
            used = feed_pieces(framing, splits(CHUNKED, (a, b)))
            assert (framing.error, framing.payload_bytes, used) == (None, CHUNKED_PAYLOAD,
                                                                   len(CHUNKED)), (a, b)

    def test_byte_at_a_time(self) -> None:
        framing = BodyFraming()
        used = feed_pieces(framing, [bytes([b]) for b in CHUNKED + AFTER])
        assert (framing.done, framing.payload_bytes, used) == (True, CHUNKED_PAYLOAD,
                                                               len(CHUNKED))

    def test_not_done_until_the_final_crlf(self) -> None:
        framing = BodyFraming()
        framing.feed(CHUNKED[:-1])
        assert not framing.done
        assert framing.payload_bytes == CHUNKED_PAYLOAD
        assert framing.feed(b"\n" + AFTER) == 1  # only the LF was still the body's
        assert (framing.done, framing.error) == (True, None)

    def test_end_offset_inside_one_read(self) -> None:
        framing = BodyFraming()
        assert framing.feed(CHUNKED + AFTER, len(CHUNKED) + 3) == len(CHUNKED)
        assert framing.done

    @given(sizes=st.lists(st.integers(1, 5000), max_size=8),
           cuts=st.lists(st.integers(0, 50_000), max_size=6))
    def test_random_chunks_and_cuts(self, sizes: list[int], cuts: list[int]) -> None:
        body = b"".join(b"%x\r\n" % n + b"z" * n + b"\r\n" for n in sizes) + b"0\r\n\r\n"
        points = tuple(sorted(min(c, len(body)) for c in cuts))
        framing = BodyFraming()
        used = feed_pieces(framing, splits(body + AFTER, points))
        assert (framing.error, framing.done) == (None, True)
        assert framing.payload_bytes == sum(sizes)
        assert used == len(body)

    def test_uppercase_and_leading_zero_hex(self) -> None:
        framing = BodyFraming()
        feed_pieces(framing, [b"00A\r\n" + b"q" * 10 + b"\r\n0000\r\n\r\n"])
        assert (framing.error, framing.payload_bytes) == (None, 10)


class TestContentLength:
    """A Content-Length body ends after exactly that many bytes, however it is cut."""

    def test_every_split_point(self) -> None:
        body = b"0123456789" * 3
        for cut in range(len(body + AFTER) + 1):
            framing = BodyFraming(len(body))
            used = feed_pieces(framing, splits(body + AFTER, (cut,)))
            assert (framing.done, framing.payload_bytes, used) == (True, 30, 30), cut

    def test_zero_length_is_done_at_once(self) -> None:
        framing = BodyFraming(0)
        assert framing.done
        assert framing.feed(AFTER) == 0

    def test_short_body_is_not_done(self) -> None:
        framing = BodyFraming(100)
        framing.feed(b"x" * 99)
        assert not framing.done
        assert framing.payload_bytes == 99


class TestMalformed:
    """Broken framing stops the body with a one-line reason, wherever the break is cut."""

    @pytest.mark.parametrize(("wire_bytes", "reason"), [
        (b"zz\r\nnot a chunk\r\n", "malformed chunk size line"),
        (b"\r\n", "malformed chunk size line"),
        (b"-5\r\nhello\r\n", "malformed chunk size line"),
        (b"+5\r\nhello\r\n", "malformed chunk size line"),
        (b" 5\r\nhello\r\n", "malformed chunk size line"),
        (b"0x5\r\nhello\r\n", "malformed chunk size line"),
        (b"1" * 17 + b"\r\n", "malformed chunk size line"),
        (b"5;ext\x00\r\nhello\r\n", "malformed chunk size line"),
        (b"5\nhello\r\n", "line does not end in CRLF"),
        (b"5\r\nhelloX\r\n", "chunk data not followed by CRLF"),
        (b"5\r\nhello\rX", "chunk data not followed by CRLF"),
        (b"5\r\nhello\n\r\n", "chunk data not followed by CRLF"),
        (b"0\r\nno colon here\r\n\r\n", "malformed trailer field"),
        (b"0\r\n folded: x\r\n\r\n", "malformed trailer field"),
        (b"0\r\nX: y\n\r\n", "line does not end in CRLF"),
    ])
    def test_reason_at_every_split(self, wire_bytes: bytes, reason: str) -> None:
        for cut in range(len(wire_bytes) + 1):
            framing = BodyFraming()
            feed_pieces(framing, splits(wire_bytes, (cut,)))
            assert (framing.done, framing.error) == (True, reason), cut

    def test_nothing_is_read_after_an_error(self) -> None:
        framing = BodyFraming()
        framing.feed(b"zz\r\n")
        assert framing.feed(b"5\r\nhello\r\n") == 0
        assert framing.payload_bytes == 0

    def test_oversize_size_line(self) -> None:
        framing = BodyFraming()
        line = b"5;" + b"e" * MAX_LINE_BYTES
        for piece in splits(line, (100, 3000)):  # refused before the line ever ends
            framing.feed(piece)
        assert framing.error == "chunk line too long"

    def test_oversize_size_line_in_one_read(self) -> None:
        framing = BodyFraming()
        framing.feed(b"5;" + b"e" * MAX_LINE_BYTES + b"\r\nhello\r\n")
        assert framing.error == "chunk line too long"

    def test_oversize_trailers(self) -> None:
        framing = BodyFraming()
        field = b"X-Pad: " + b"p" * 1000 + b"\r\n"
        framing.feed(b"0\r\n" + field * (MAX_TRAILER_BYTES // len(field) + 1) + b"\r\n")
        assert framing.error == "trailer fields too long"

    def test_big_declared_chunk_is_counted_as_it_arrives(self) -> None:
        framing = BodyFraming()  # 16 hex digits are allowed; the server's byte cap ends it
        framing.feed(b"ffffffffffffffff\r\n" + b"x" * 1000)
        assert (framing.error, framing.done, framing.payload_bytes) == (None, False, 1000)
