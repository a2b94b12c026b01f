"""The probe <-> measurement-server protocol: paths, parameters, headers and limits.

Client and server meet only here (they never import each other). Everything is plain HTTP/1.1
so that any HTTP client can be pointed at a server:

``GET  /healthz``                 200 ``{"status": "ok", "version": ...}``; never needs auth.
``GET  /ping``                    204, no body: one application-level round trip.
``GET  /download?bytes=N``        200 with exactly N incompressible bytes, ``Content-Length: N``,
                                  ``Content-Encoding: identity``. The client closes the
                                  connection when its measurement window ends.
``POST /upload``                  body sent with ``Transfer-Encoding: chunked`` until the client's
                                  window ends; the server counts what it *received* and answers
                                  200 JSON ``{"received_bytes": n, "samples": [[t_s, bytes], ...]}``
                                  where ``t_s`` is the server's monotonic clock (only differences
                                  matter) and ``bytes`` the cumulative count, sampled at most
                                  every ``SERVER_SAMPLE_INTERVAL_S`` (a time may appear twice: the
                                  count just before and after a read that followed a gap,
                                  so that a stall is not interpolated away); the first sample is
                                  ``[t_start, 0]`` and the last (which may come sooner)
                                  equals ``received_bytes``. Servers whose kernel says
                                  add ``"arrived": [[t_s, bytes], ...]`` at the same stamps:
                                  what reached the socket, in order or not (an upper bound,
                                  ``probe.tcpinfo``); clients ignore it when absent.
                                  Optional ``?id=<upload_id>`` (1-64 of ``[0-9A-Za-z_-]``,
                                  the client's choice): the server then also keeps the
                                  stream's timeline so far, for the status below, until it
                                  answers (or at most ``UPLOAD_STATUS_TTL_S``).
``GET  /upload/status?id=<id>``  200 JSON in the shape of the upload answer, so far, plus
                                  ``"partial": true``: what an upload in progress has received
                                  until now (its last sample stamped now); 404 for an id the
                                  server does not hold (unknown, answered, expired, or another
                                  worker's), its body ``{"error", "id": <id>}``. Lets a client
                                  count a stream whose answer is late (issue #13); older
                                  servers answer 404 as for any path (no ``id`` in the body).
LibreSpeed compatibility, at ``/`` and under ``/backend/``:
``garbage.php?ckSize=N`` (N MiB, 1..1024, default 4), ``empty.php`` (GET/POST, 200 empty),
``getIP.php`` (text, or JSON ``{"processedString", "rawIspInfo"}`` with ``isp=true``).
Ookla legacy (speedtest-cli), under ``/speedtest/``: ``random{N}x{N}.jpg`` (the byte count of
Ookla's file of that name), ``upload.php`` (POST, answers ``size=<received>``), ``latency.txt``
(``test=test``).

Errors: 400 bad parameter, 401 missing/wrong token, 404 unknown path, 405 wrong method,
408 an upload past the duration cap, 413 over the byte cap (its body also names the cap as
``"max_bytes": N``, and ``/healthz`` reports it as ``max_transfer_bytes``, so a client can ask
for what the server allows), 503 + ``Retry-After`` when the
global or per-client transfer cap is reached. Error bodies are JSON ``{"error": "<one line>"}``.
After a 408/413 mid-body the server closes the connection; a download past the duration cap
is cut off (connection reset before Content-Length bytes), never padded or faked complete.

Auth (optional, server-side ``--token``): ``Authorization: Bearer <token>`` or ``?token=``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from probe.errors import ProtocolViolation

PATH_HEALTH: Final = "/healthz"
PATH_PING: Final = "/ping"
PATH_DOWNLOAD: Final = "/download"
PATH_UPLOAD: Final = "/upload"
PATH_UPLOAD_STATUS: Final = "/upload/status"
LIBRESPEED_PREFIXES: Final = ("", "/backend")
LIBRESPEED_GARBAGE: Final = "/garbage.php"
LIBRESPEED_EMPTY: Final = "/empty.php"
LIBRESPEED_GETIP: Final = "/getIP.php"

SPEEDTEST_PREFIX: Final = "/speedtest"
# Sizes of Ookla's legacy test images random{N}x{N}.jpg (speedtest-cli asks for these N).
SPEEDTEST_IMAGE_BYTES: Final = {
    350: 245_388, 500: 505_544, 750: 1_118_012, 1000: 1_986_284, 1500: 4_468_241,
    2000: 7_907_740, 2500: 12_407_926, 3000: 17_816_816, 3500: 24_262_167, 4000: 31_625_365,
}

PARAM_BYTES: Final = "bytes"
FIELD_MAX_BYTES: Final = "max_bytes"
FIELD_RECEIVED_BYTES: Final = "received_bytes"
FIELD_SAMPLES: Final = "samples"
# Optional in an upload answer (older servers leave it out): what reached the server's socket,
# in order or not, ``[[t_server_s, bytes], ...]`` (probe.tcpinfo, probe.engine.arrivals).
FIELD_ARRIVED: Final = "arrived"
PARAM_TOKEN: Final = "token"
# An upload stream's id, the client's choice (PATH_UPLOAD, PATH_UPLOAD_STATUS).
PARAM_UPLOAD_ID: Final = "id"
UPLOAD_ID_MAX_CHARS: Final = 64
# In a status answer only: the stream's body is not complete, the timeline is what came so far.
FIELD_PARTIAL: Final = "partial"
# How long the server keeps a stream's state for the status at most, and how many at once
# (beyond that the oldest goes first): a bound on memory whatever clients do.
UPLOAD_STATUS_TTL_S: Final = 120.0
UPLOAD_STATUS_MAX_ENTRIES: Final = 1024
LIBRESPEED_CHUNK_BYTES: Final = 1_048_576
LIBRESPEED_MAX_CHUNKS: Final = 1024
LIBRESPEED_DEFAULT_CHUNKS: Final = 4

HEADER_AUTHORIZATION: Final = "Authorization"
BEARER_PREFIX: Final = "Bearer "

# Server guard rails (defaults; each is a `probe serve` flag).
DEFAULT_PORT: Final = 8080
DEFAULT_MAX_TRANSFER_BYTES: Final = 16 * 1024**3
DEFAULT_MAX_TRANSFER_S: Final = 60.0
DEFAULT_MAX_CONCURRENT_TRANSFERS: Final = 64
DEFAULT_MAX_TRANSFERS_PER_CLIENT: Final = 16
RETRY_AFTER_S: Final = 5

# How often the server records an upload stream's cumulative byte count.
SERVER_SAMPLE_INTERVAL_S: Final = 0.05


@dataclass(frozen=True, slots=True)
class UploadAnswer:
    """The server's answer to ``POST /upload``: what it received, and when (its clock).

    ``arrived``: what reached its socket, in order or not, at the same clock (empty where the
    server's kernel does not say, and from older servers). ``partial``: a status of a body
    still arriving (``GET /upload/status``), not the answer to a complete one.
    """

    received_bytes: int
    samples: tuple[tuple[float, int], ...]
    arrived: tuple[tuple[float, int], ...] = ()
    partial: bool = False

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {FIELD_RECEIVED_BYTES: self.received_bytes,
                                   FIELD_SAMPLES: [[t, n] for t, n in self.samples]}
        if self.arrived:
            data[FIELD_ARRIVED] = [[t, n] for t, n in self.arrived]
        if self.partial:
            data[FIELD_PARTIAL] = True
        return data

    @classmethod
    def from_json(cls, data: object) -> UploadAnswer:
        """Parse a decoded answer; ProtocolViolation says what is wrong with it."""
        if not isinstance(data, dict):
            raise ProtocolViolation("the server's upload answer is not a JSON object")
        received, samples = data.get(FIELD_RECEIVED_BYTES), data.get(FIELD_SAMPLES)
        arrived = data.get(FIELD_ARRIVED, [])
        if (not isinstance(received, int) or isinstance(received, bool) or received < 0
                or not isinstance(samples, list) or not isinstance(arrived, list)):
            raise ProtocolViolation("the server's upload answer lacks received_bytes or samples")
        return cls(received, _timeline(samples, "sample"), _timeline(arrived, "arrival"),
                   data.get(FIELD_PARTIAL) is True)


def valid_upload_id(raw: str) -> bool:
    """Whether ``raw`` is an upload id the server accepts (``PARAM_UPLOAD_ID``)."""
    return (0 < len(raw) <= UPLOAD_ID_MAX_CHARS and raw.isascii()
            and all(c.isalnum() or c in "-_" for c in raw))


def _timeline(points: list[object], what: str) -> tuple[tuple[float, int], ...]:
    timeline = []
    for point in points:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, int | float) for v in point)):
            raise ProtocolViolation(f"the server's upload {what} {point!r} is not [t, bytes]")
        timeline.append((float(point[0]), int(point[1])))
    return tuple(timeline)


def stamp_sample(samples: list[tuple[float, int]], now: float, before: int,
                 received: int) -> None:
    """Append the count read at ``now``; after a gap, also the count just before this read.

    Clients interpolate linearly between samples. Without the second point, bytes that
    arrived at once after a stall (head-of-line blocking on a slow line) would be spread back
    over the stall, as if they had arrived early, and a count must only ever lag.
    """
    if now - samples[-1][0] > 2 * SERVER_SAMPLE_INTERVAL_S and 0 < before < received:
        samples.append((now, before))
    samples.append((now, received))


class ReceivedTimeline:
    """The server's samples of one upload body, shaped as :class:`UploadAnswer` carries them.

    One per body, whichever path reads it (aiohttp's parser or the hand-off's sink). Time is
    the server's monotonic clock, passed in: a count is stamped at a read at most every
    ``SERVER_SAMPLE_INTERVAL_S`` (twice after a gap, :func:`stamp_sample`), and the body's end
    is always stamped. ``arrivals``, if given, says what has reached the socket so far (None:
    unknown); it is asked at each stamp only, and ``arrived`` holds the answers (empty once
    one was unknown).
    """

    def __init__(self, start_s: float,
                 arrivals: Callable[[], int | None] | None = None) -> None:
        self.samples: list[tuple[float, int]] = [(start_s, 0)]
        self.arrived: list[tuple[float, int]] = []
        self._arrivals = arrivals
        self._last_s = start_s
        # The latest read, stamped or not: what a status so far must end with.
        self._read_s, self._received = start_s, 0
        self._stamp_arrived(start_s)

    def read(self, now_s: float, before: int, received: int) -> None:
        """A read took the count from ``before`` to ``received`` at ``now_s``."""
        self._read_s, self._received = now_s, received
        if now_s - self._last_s >= SERVER_SAMPLE_INTERVAL_S:
            stamp_sample(self.samples, now_s, before, received)
            self._stamp_arrived(now_s)
            self._last_s = now_s

    def end(self, now_s: float, received: int) -> None:
        if self.samples[-1][1] != received:
            self.samples.append((now_s, received))
            self._stamp_arrived(now_s)

    def so_far(self, now_s: float) -> UploadAnswer:
        """The timeline until ``now_s`` of a body still arriving (``partial``), unchanged.

        Reads since the last stamp are stamped at the latest read's time, and the count is
        stamped again at ``now_s``: nothing was read in between, so the count held there. A
        stream stalled behind a retransmission timeout thus shows the server has everything
        it will get until now, not only until its last read.
        """
        samples, arrived = list(self.samples), list(self.arrived)
        if samples[-1][1] != self._received:
            # Unstamped reads all came within SERVER_SAMPLE_INTERVAL_S of the last stamp.
            samples.append((self._read_s, self._received))
        if now_s > samples[-1][0]:
            samples.append((now_s, self._received))
        if self._arrivals is not None and arrived:
            now_arrived = self._arrivals()
            if now_arrived is None:
                arrived = []
            else:
                arrived.append((max(now_s, arrived[-1][0]), max(now_arrived, arrived[-1][1])))
        return UploadAnswer(self._received, tuple(samples), tuple(arrived), partial=True)

    def _stamp_arrived(self, now_s: float) -> None:
        if self._arrivals is None:
            return
        arrived = self._arrivals()
        if arrived is None:
            self._arrivals, self.arrived = None, []
            return
        last = self.arrived[-1][1] if self.arrived else 0
        self.arrived.append((now_s, max(arrived, last)))
