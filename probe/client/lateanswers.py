"""The upload's answers, awaited together; a late stream's state asked for on the side (issue #13).

Every stream's answer (:class:`probe.wire.UploadAnswer`) is awaited until one wait's end, never
past the run's hard bound (the deadline + ``ANSWER_GRACE_S``, :mod:`probe.client.transfer`).
Behind a short queue one stream's last segments can wait out a chain of retransmission
timeouts, so its body, and its answer, complete seconds after that bound, although the server
counted everything it would get up to the window's end long before: the whole upload then had
no figure (3 of 16 uploads at 2-5 Mbit/s behind a 20 ms queue). So each stream carries an id
of the client's choice (``?id=``), and ``STATUS_RESERVE_S`` before the bound the client asks
the server, over a fresh connection, for each missing stream's timeline *so far*
(``GET /upload/status``). Whether such a partial timeline may stand in for the answer (it
must reach the moment the client stopped feeding) is the summary's to judge
(:mod:`probe.engine.summary`): the record says which streams were counted so.

An older server answers the status 404, as does one that no longer holds the stream (answered,
or another worker's under ``--workers``): the answers are then awaited exactly as before.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Final

from probe import wire
from probe.client.connect import ServerAddress, open_connection, request_head
from probe.client.http1 import HttpConnection
from probe.client.responses import Response, check_status
from probe.errors import MeasurementError

# Asked this long before the hard bound: a fresh connection and one small request, a few
# round trips, even on a 2 Mbit/s line whose queue the late stream no longer fills.
STATUS_RESERVE_S: Final = 0.4
# Questions per late stream at most, when the server runs several workers (see ask_status).
STATUS_TRIES: Final = 8


def new_upload_id() -> str:
    """An id no one else guesses: the status of a stream is only its client's to read."""
    return secrets.token_hex(16)


def upload_path(upload_id: str) -> str:
    return f"{wire.PATH_UPLOAD}?{wire.PARAM_UPLOAD_ID}={upload_id}"


async def ask_status(address: ServerAddress, token: str | None, upload_id: str,
                     timeout_s: float) -> wire.UploadAnswer | None:
    """The server's partial state of one upload stream, None if it has none to give in time
    (404 from an older server or for a stream it no longer holds, an error, a timeout).

    Under ``probe serve --workers N`` each worker holds only its own streams, and the kernel
    spreads connections over the workers by address and port: one question finds the right
    worker 1 in N times. So when the first is told "not held here" by a server that has the
    endpoint (its 404 names the id), ``STATUS_TRIES - 1`` more go at once on fresh
    connections (99 % at 2 workers, 87 % at 4), the first partial state winning. Not all at
    once from the start: a single server would answer each with the whole timeline so far
    (~10 kB for 10 s), too much at once for a slow line's short queue.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    status, elsewhere = await _ask_once(address, token, upload_id, timeout_s)
    if status is not None or not elsewhere:
        return status
    tries = [asyncio.ensure_future(_ask_once(address, token, upload_id, end - loop.time()))
             for _ in range(STATUS_TRIES - 1)]
    try:
        for done in asyncio.as_completed(tries):
            status, _ = await done
            if status is not None:
                return status
        return None
    finally:
        for task in tries:
            task.cancel()


async def _ask_once(address: ServerAddress, token: str | None, upload_id: str,
                    timeout_s: float) -> tuple[wire.UploadAnswer | None, bool]:
    """One question on a fresh connection: the partial state, and whether the server has the
    endpoint but not this stream (another worker may)."""
    if timeout_s <= 0:
        return None, False
    head = request_head(address, "GET",
                        f"{wire.PATH_UPLOAD_STATUS}?{wire.PARAM_UPLOAD_ID}={upload_id}",
                        token=token)
    conn: HttpConnection | None = None
    try:
        async with asyncio.timeout(timeout_s):
            conn = await open_connection(address, HttpConnection, timeout_s=timeout_s)
            response = await conn.request(head)
        body = response.json()
        if response.status == 404:
            return None, isinstance(body, dict) and body.get(wire.PARAM_UPLOAD_ID) == upload_id
        if response.status != 200:
            return None, False
        status = wire.UploadAnswer.from_json(body)
    except (OSError, TimeoutError, ValueError, MeasurementError):
        return None, False  # no side channel: the stream stays missing, as without it
    finally:
        if conn is not None:
            conn.close()
    return (status if status.partial else None), False


async def collect_answers(
    answers: Sequence[asyncio.Future[Response]], upload_ids: Sequence[str], *,
    address: ServerAddress, token: str | None, wait_end: float, hard_end: float,
) -> list[wire.UploadAnswer | None]:
    """Each stream's answer, or for one still missing its partial status (``partial``), or
    None. Never returns after ``hard_end`` (the loop's clock), give or take a scheduling step.
    """
    loop = asyncio.get_running_loop()
    ask_at = min(wait_end, hard_end - STATUS_RESERVE_S)
    await asyncio.wait(answers, timeout=max(0.0, ask_at - loop.time()))
    late = [i for i, answer in enumerate(answers) if not answer.done()]
    statuses: dict[int, asyncio.Task[wire.UploadAnswer | None]] = {}
    if late:
        timeout_s = min(STATUS_RESERVE_S, hard_end - loop.time())
        statuses = {i: asyncio.ensure_future(ask_status(address, token, upload_ids[i],
                                                        timeout_s)) for i in late}
        # Answers are still taken until the wait's end, as without the side channel (an
        # older server's 404 changes nothing); a real answer always beats a partial one.
        await asyncio.wait([answers[i] for i in late],
                           timeout=max(0.0, wait_end - loop.time()))
        if any(not answers[i].done() for i in late):
            await asyncio.wait(statuses.values())  # each bounded by its own timeout
    try:
        received: list[wire.UploadAnswer | None] = []
        for i, answer in enumerate(answers):
            if answer.done() and answer.exception() is None:
                response = answer.result()
                check_status(response, "an upload")
                received.append(wire.UploadAnswer.from_json(response.json()))
            elif (i in statuses and not answer.done() and statuses[i].done()
                  and statuses[i].exception() is None):
                received.append(statuses[i].result())
            else:
                received.append(None)  # not counted: the figure is withheld and flagged
        return received
    finally:
        for task in statuses.values():
            task.cancel()
