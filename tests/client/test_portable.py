"""The client without its Linux-only fast paths (issue #13 item 9): macOS, Windows, PROBE_PORTABLE.

The fast paths (FIONREAD/TIOCOUTQ ioctls through fcntl/termios, SO_RCVLOWAT, add_writer on
the raw socket) sit behind one check, :func:`probe.client.fastpaths.enabled`. Here they are
taken away for real in a client subprocess: the modules cannot be imported, the socket option
does not exist, and ``add_writer``/``ioctl`` fail loudly if anything still reaches for them.
The client must import, choose the portable paths, and measure both directions on loopback.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from probe.client import fastpaths, transfer, upload
from probe.client.connect import parse_server_url
from probe.client.transportupload import TransportUploadStream
from probe.server import RunningServer

CLIENT = Path(__file__).resolve().parents[2] / "probe" / "client"

# Run inside the client subprocess before probe is imported. ``missing`` removes the facilities
# (as on Windows); ``portable`` leaves them importable but makes every use fail, so the test
# shows that PROBE_PORTABLE=1 alone keeps the client off them.
_PRELUDE = """
import asyncio, json, socket, sys
mode, url = sys.argv[1], sys.argv[2]

def refuse(*args, **kwargs):
    raise AssertionError("a Linux fast path was used on the portable path")

if mode == "missing":
    sys.modules["fcntl"] = None  # import fcntl -> ImportError
    sys.modules["termios"] = None
    del socket.SO_RCVLOWAT
else:
    import fcntl
    fcntl.ioctl = refuse
real_setsockopt = socket.socket.setsockopt
def setsockopt(self, level, option, *value):
    if level == socket.SOL_SOCKET and option == 18:  # SO_RCVLOWAT on Linux
        refuse()
    return real_setsockopt(self, level, option, *value)
socket.socket.setsockopt = setsockopt
import asyncio.selector_events
asyncio.selector_events.BaseSelectorEventLoop.add_writer = refuse

from probe.client import fastpaths, run_measurement
from probe.engine.plan import MeasurePlan

async def main():
    assert not fastpaths.enabled()
    m = await run_measurement(MeasurePlan(duration_s=1.0, streams=2), url)
    print(json.dumps({"down": m.download_mbps, "up": m.upload_mbps,
                      "counted_at": m.upload.counted_at}))
asyncio.run(main())
"""


async def _measure_in_subprocess(mode: str, url: str, env: dict[str, str]) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PRELUDE, mode, url, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.parametrize("mode", ["missing", "portable"])
async def test_measures_without_fast_paths(live_server: RunningServer, mode: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != fastpaths.PORTABLE_ENV}
    if mode == "portable":
        env[fastpaths.PORTABLE_ENV] = "1"
    result = await _measure_in_subprocess(mode, live_server.url, env)
    assert isinstance(result["down"], float)
    assert result["down"] > 0
    assert isinstance(result["up"], float)
    assert result["up"] > 0
    assert result["counted_at"] == "server"  # the server's answer came back on this path too


class TestTheOneCheck:
    """enabled() is where every fast path is decided, and it notices each missing facility."""

    def test_on_by_default_here(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(fastpaths.PORTABLE_ENV, raising=False)
        if not sys.platform.startswith("linux"):
            pytest.skip("the fast paths are Linux-only")
        assert fastpaths.enabled()

    @pytest.mark.parametrize("value", ["1", "yes"])
    def test_environment_turns_them_off(self, monkeypatch: pytest.MonkeyPatch,
                                        value: str) -> None:
        monkeypatch.setenv(fastpaths.PORTABLE_ENV, value)
        assert not fastpaths.enabled()
        monkeypatch.setenv(fastpaths.PORTABLE_ENV, "0")
        assert fastpaths.enabled() == sys.platform.startswith("linux")

    @pytest.mark.parametrize("missing", ["fcntl", "termios"])
    def test_missing_module(self, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
        monkeypatch.delenv(fastpaths.PORTABLE_ENV, raising=False)
        monkeypatch.setattr(fastpaths, missing, None)
        assert not fastpaths.enabled()

    def test_missing_rcvlowat(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(fastpaths.PORTABLE_ENV, raising=False)
        monkeypatch.delattr(socket, "SO_RCVLOWAT")
        assert not fastpaths.enabled()

    async def test_a_loop_without_add_writer(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A Proactor loop (Windows) is not a selector loop: no add_writer on raw sockets."""
        monkeypatch.delenv(fastpaths.PORTABLE_ENV, raising=False)

        class NotASelectorLoop:
            pass

        monkeypatch.setattr(asyncio, "SelectorEventLoop", NotASelectorLoop)
        assert not fastpaths.enabled()

    async def test_upload_streams_follow_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        address = parse_server_url("http://127.0.0.1:1")
        monkeypatch.setenv(fastpaths.PORTABLE_ENV, "1")
        assert isinstance(upload.upload_stream(address, 1.0), TransportUploadStream)
        monkeypatch.setenv(fastpaths.PORTABLE_ENV, "0")
        if fastpaths.enabled():
            assert isinstance(upload.upload_stream(address, 1.0), upload.RawUploadStream)

    def test_readings_are_none_without_them(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(fastpaths.PORTABLE_ENV, "1")
        with socket.socket() as sock:
            assert fastpaths.received_unread_bytes(sock) is None
            assert fastpaths.unacked_bytes(sock) is None
            assert fastpaths.unsent_bytes(sock) is None

    def test_only_fastpaths_imports_the_posix_modules(self) -> None:
        for path in CLIENT.glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {alias.name for node in ast.walk(tree)
                     if isinstance(node, ast.Import | ast.ImportFrom)
                     for alias in node.names} | {
                node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
            if path.name != "fastpaths.py":
                assert not names & {"fcntl", "termios"}, path.name


class _Held:
    """An upload stream as the drain estimate sees it."""

    def __init__(self, sent: int, unacked: int | None, unsent: int) -> None:
        self.sent_payload_bytes, self._unacked, self._unsent = sent, unacked, unsent

    def unacked_bytes(self) -> int | None:
        return self._unacked

    def unsent_bytes(self) -> int:
        return self._unsent


class TestDrainWithoutTiocoutq:
    """Without the kernel's count the feeding stops by the loaded pings' queueing delay."""

    def test_queue_delay_is_the_last_round_trip_above_the_lowest(self) -> None:
        assert transfer.queue_delay_s([]) is None
        assert transfer.queue_delay_s([(0.0, 20.0)]) is None
        assert transfer.queue_delay_s([(0.0, 20.0), (0.4, 620.0)]) == pytest.approx(0.6)
        assert transfer.queue_delay_s([(0.0, 30.0), (0.4, 25.0)]) == 0.0

    def test_portable_estimate(self) -> None:
        streams = [_Held(100_000, None, 10_000), _Held(100_000, None, 10_000)]
        # 200 kB in 4 s is 50 kB/s; 20 kB unsent is 0.4 s, plus a 0.6 s queue.
        assert transfer._drain_s(streams, 4.0, 0.6) == pytest.approx(1.0)  # type: ignore[arg-type]
        assert transfer._drain_s(streams, 4.0, None) == 0.0  # type: ignore[arg-type]

    def test_what_was_handed_over_beyond_the_rate_counts_too(self) -> None:
        """Send buffers the pings cannot see: 200 kB handed over in 4 s at a line that now
        takes 40 kB/s means 5 s of sending for 4 s elapsed, so 1 s of line is still held."""
        streams = [_Held(100_000, None, 2_000), _Held(100_000, None, 2_000)]
        # Pings and unsent alone: 0.1 s + 4 kB at 50 kB/s = 0.18 s.
        assert transfer._drain_s(streams, 4.0, 0.1) == pytest.approx(0.18)  # type: ignore[arg-type]
        assert transfer._drain_s(streams, 4.0, 0.1, 40_000.0) == \
            pytest.approx(1.0)  # type: ignore[arg-type]
        assert transfer._drain_s(streams, 4.0, None, 40_000.0) == \
            pytest.approx(1.0)  # type: ignore[arg-type]
        # A rate at or above the mean since the start: nothing beyond it; the pings decide.
        assert transfer._drain_s(streams, 4.0, 0.1, 60_000.0) == \
            pytest.approx(0.18)  # type: ignore[arg-type]

    def test_the_kernel_count_wins_where_known(self) -> None:
        streams = [_Held(100_000, 20_000, 10_000), _Held(100_000, 20_000, 10_000)]
        # 40 kB held of 160 kB acknowledged in 4 s: 1 s.
        assert transfer._drain_s(streams, 4.0, 5.0) == pytest.approx(1.0)  # type: ignore[arg-type]
        assert transfer._drain_s(streams, 4.0, 5.0, 10.0) == \
            pytest.approx(1.0)  # type: ignore[arg-type]
