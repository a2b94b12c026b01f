"""The one send policy of client uploads and server downloads: the loop and the unsent bound."""

from __future__ import annotations

import pytest

from probe import sendpolicy


class _Source:
    """``count`` bytes offered in slices of at most ``limit``."""

    def __init__(self, count: int) -> None:
        self.data = memoryview(bytes(count))
        self.off = 0

    def next_slice(self, limit: int) -> memoryview:
        return self.data[self.off:self.off + limit]

    def advance(self, sent: int) -> None:
        self.off += sent


class _Kernel:
    """Takes up to ``room`` bytes in all, then EAGAIN; records each send's size."""

    def __init__(self, room: int, error: OSError | None = None) -> None:
        self.room, self.error, self.sends = room, error, []  # type: list[int]

    def send(self, piece: memoryview) -> int:
        if self.error is not None:
            raise self.error
        if self.room == 0:
            raise BlockingIOError
        taken = min(self.room, len(piece))
        self.room -= taken
        self.sends.append(taken)
        return taken


class TestSendBurst:
    def test_until_the_kernel_takes_less_than_offered(self) -> None:
        source, kernel = _Source(1 << 20), _Kernel(room=2500)
        sendpolicy.send_burst(kernel.send, source, 1000)
        assert kernel.sends == [1000, 1000, 500]  # a short send: the next would EAGAIN
        assert source.off == 2500

    def test_at_most_sends_per_wakeup(self) -> None:
        source, kernel = _Source(1 << 20), _Kernel(room=1 << 20)
        sendpolicy.send_burst(kernel.send, source, 10)
        assert kernel.sends == [10] * sendpolicy.SENDS_PER_WAKEUP

    def test_single_and_empty_source_and_eagain(self) -> None:
        source, kernel = _Source(1 << 20), _Kernel(room=1 << 20)
        sendpolicy.send_burst(kernel.send, source, 10, single=True)
        assert kernel.sends == [10]
        empty, kernel = _Source(0), _Kernel(room=100)
        sendpolicy.send_burst(kernel.send, empty, 10)
        assert kernel.sends == []
        full = _Kernel(room=0)
        sendpolicy.send_burst(full.send, source, 10)  # EAGAIN ends the burst quietly
        assert source.off == 10

    def test_other_errors_are_the_callers(self) -> None:
        with pytest.raises(ConnectionResetError):
            sendpolicy.send_burst(_Kernel(0, ConnectionResetError()).send, _Source(10), 10)


class TestUnsentBound:
    def test_slow_streams_unbounded_where_nothing_waits(self) -> None:
        assert sendpolicy.unsent_bound_bytes(None, slow_bounded=False) == 0
        assert sendpolicy.unsent_bound_bytes(1e6, slow_bounded=False) == 0
        fast = sendpolicy.FAST_STREAM_BYTES_PER_S
        assert sendpolicy.unsent_bound_bytes(fast, slow_bounded=False) \
            == sendpolicy.FAST_UNSENT_BYTES

    def test_changes_worth_a_system_call(self) -> None:
        assert sendpolicy.worth_changing(0, 16_384)
        assert not sendpolicy.worth_changing(16_384, 16_384)
        assert not sendpolicy.worth_changing(16_384, 18_000)
        assert sendpolicy.worth_changing(16_384, 30_000)
        assert sendpolicy.worth_changing(sendpolicy.FAST_UNSENT_BYTES, 0)
        assert sendpolicy.worth_changing(200_000, sendpolicy.FAST_UNSENT_BYTES)
