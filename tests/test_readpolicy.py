"""Which slow streams are read on a shared tick, and their safety-valve mark."""

from __future__ import annotations

import pytest

from probe import readpolicy as rp
from probe.readpolicy import (
    LEAVE_RATE_SHARE,
    MAX_TICK_READ_BYTES_PER_S,
    read_on_tick,
    valve_bytes,
)

RCVBUF = 1 << 20


@pytest.mark.parametrize(("rate", "rcvbuf", "already", "expected"), [
    (300_000, RCVBUF, False, True),  # 2.4 Mbit/s: 30 kB a tick, far below a quarter
    (300_000, 100_000, False, False),  # the same rate in a small buffer: 120 kB > 100 kB
    (300_000, 0, False, False),  # no buffer known (TLS): never
    (MAX_TICK_READ_BYTES_PER_S * 1.1, 64 << 20, False, False),  # above the rate cap
    (MAX_TICK_READ_BYTES_PER_S * 1.1, 64 << 20, True, True),  # hysteresis: stays
    (MAX_TICK_READ_BYTES_PER_S * LEAVE_RATE_SHARE * 1.01, 64 << 20, True, False),
    (800_000, 300_000, False, False),  # a quarter would be 75 kB, a tick is 80 kB
    (800_000, 300_000, True, True),  # but a third (100 kB) still holds it
    (1_100_000, 300_000, True, False),  # 110 kB a tick: leaves
])
def test_read_on_tick(rate: float, rcvbuf: int, already: bool, expected: bool) -> None:
    assert read_on_tick(rate, 0.1, rcvbuf, reading_on_tick=already) is expected


def test_valve_is_a_quarter_of_the_buffer_with_a_floor() -> None:
    assert valve_bytes(RCVBUF) == RCVBUF // 4
    assert valve_bytes(8_000, floor_bytes=4096) == 4096


class TestBatchMarks:
    """The SO_RCVLOWAT batches both ends ask for, from a stream's rate."""

    def test_client_batches_50_ms_capped(self) -> None:

        assert rp.client_read_lowat_bytes(0.0) == 1
        assert rp.client_read_lowat_bytes(1_250_000) == 62_500  # 10 Mbit/s: 50 ms
        assert rp.client_read_lowat_bytes(1e10) == rp.MAX_READ_LOWAT_BYTES

    def test_server_regimes(self) -> None:

        assert rp.server_read_lowat_bytes(50_000) == 1  # 0.4 Mbit/s: unbatched
        assert rp.server_read_lowat_bytes(1_250_000) == 62_500  # 10 Mbit/s: 50 ms coarse
        coarse = rp.server_read_lowat_bytes(10_000_000)  # 80 Mbit/s: still coarse, capped
        assert coarse == rp.MIN_READ_LOWAT_BYTES - 1
        fast = rp.server_read_lowat_bytes(100_000_000)  # 800 Mbit/s: 2 ms of it
        assert fast == 200_000
        assert rp.server_read_lowat_bytes(1e11) == rp.MAX_READ_LOWAT_BYTES
        assert rp.server_retune_tick_s(fast) == rp.BATCH_TICK_S
        assert rp.server_retune_tick_s(coarse) == rp.SLOW_BATCH_TICK_S
        assert rp.server_retune_tick_s(1) == rp.UNBATCHED_TICK_S

    def test_marks_change_by_a_quarter_or_to_one(self) -> None:

        assert not rp.worth_changing(100_000, 100_000)
        assert not rp.worth_changing(100_000, 120_000)
        assert rp.worth_changing(100_000, 125_000)
        assert rp.worth_changing(100_000, 1)
        assert rp.worth_changing(1, 4096)


class TestReadBurst:
    """The drain loop both ends run at a tick."""

    def test_stops_at_a_short_read_nothing_or_enough(self) -> None:
        reads = iter([100, 100, 40, 100])
        taken: list[int] = []
        rp.read_burst(lambda: next(reads), lambda n: taken.append(n) is None, 100)
        assert taken == [100, 100, 40]  # a short read took all there was
        taken.clear()
        rp.read_burst(lambda: None, lambda n: taken.append(n) is None, 100)
        assert taken == []  # EAGAIN, end of stream or an error: the transport reports those
        rp.read_burst(lambda: 100, lambda n: taken.append(n) is None and len(taken) < 2, 100)
        assert taken == [100, 100]  # the body wanted no more

    def test_at_most_max_tick_reads(self) -> None:
        taken: list[int] = []
        rp.read_burst(lambda: 100, lambda n: taken.append(n) is None, 100)
        assert len(taken) == rp.MAX_TICK_READS
