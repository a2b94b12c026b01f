"""Cross-check: spread between engines and the reasons the records give for it."""

from __future__ import annotations

from datetime import UTC, datetime

from probe.engine.crosscheck import compare, own_statistic_notes
from probe.measurement import DirectionResult, Measurement, Method, Sample


def record(backend: str, down: float, up: float, *, streams: int = 4, quantity: str =
           "payload_goodput", up_at: str = "server", flags: tuple[str, ...] = (),
           own_down: float | None = None) -> Measurement:
    def direction(rate: float, at: str) -> DirectionResult:
        return DirectionResult(rate, 1, 1.0, 10.0, (Sample(0, 0),), at)  # type: ignore[arg-type]

    return Measurement(
        id=backend, started_at=datetime(2026, 1, 1, tzinfo=UTC), server="s", streams=streams,
        duration_s=10, backend=backend, download=direction(down, "client"),
        upload=direction(up, up_at), flags=flags,
        method=Method(engine=backend, statistic="s", streams_down=streams, streams_up=streams,
                      duration_s=10, server="s", quantity=quantity, engine_download_mbps=own_down,
                      engine_statistic=f"{backend}'s own"))


class TestCompare:
    def test_agreement_within_five_percent(self) -> None:
        out = compare([record("native", 95.0, 9.5), record("librespeed", 92.0, 9.3)])
        assert [c.agree for c in out] == [True, True]
        assert out[0].reasons == ()

    def test_one_stream_and_quantity_and_client_count(self) -> None:
        out = compare([
            record("native", 95.0, 9.5),
            record("ndt7", 60.0, 9.4, streams=1, quantity="websocket_payload"),
            record("speedtest", 90.0, 12.0, streams=8, up_at="client",
                   flags=("upload_counted_at_client",)),
        ])
        down, up = out
        assert not down.agree
        assert round(down.spread_share, 3) == round((95 - 60) / 95, 3)
        assert any(r.startswith("one stream vs several: ndt7") for r in down.reasons)
        assert any("websocket_payload" in r for r in down.reasons)
        # The upload-only flag is not blamed for the download's spread.
        assert not any("socket buffers" in r for r in down.reasons)
        assert any("counted at the client by speedtest" in r for r in up.reasons)

    def test_unknown_cause_said_so(self) -> None:
        out = compare([record("native", 95.0, 9.5), record("librespeed", 70.0, 9.5, streams=4)])
        assert "no known methodological cause" in out[0].reasons[0]

    def test_single_engine_nothing_to_compare(self) -> None:
        assert compare([record("native", 95.0, 9.5)]) == ()

    def test_own_statistic_notes(self) -> None:
        notes = own_statistic_notes([record("librespeed", 90.0, 9.0, own_down=100.0)])
        assert notes == ["librespeed download: its own statistic gives 100.0 Mbit/s vs 90.0 "
                         "(librespeed's own)"]
