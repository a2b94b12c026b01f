"""Sink faults: each gives one clear message, keeps the data, and never spins.

Wrong token (401), server errors (5xx), a refused line (400), an oversized batch (413) and a
wrong URL, against a scripted InfluxDB stand-in (real servers cannot be told to fail on cue)
and a closed port; the token must appear in no output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.sinks.config import SinkConfig
from probe.sinks.forwarder import Forwarder, ForwardPolicy
from probe.sinks.influx import InfluxWriter
from probe.store import SqliteStore
from tests.servicekit import InfluxStub, StubRequest
from tests.store.builders import make_measurement
from tests.store.clirunner import run_probe
from tests.support import free_port

pytestmark = pytest.mark.services

TOKEN = "s3cr3t-Tok3n-value-4711"
StubFactory = Callable[[Callable[[StubRequest], tuple[int, str]]], InfluxStub]


def filled_store(path: Path, count: int, **labels: str) -> None:
    with SqliteStore.open(path) as store:
        for i in range(count):
            store.save(make_measurement(i, samples=5), probe_id="p", **labels)


def forward_once(db: Path, url: str, *extra: str, token: str = TOKEN) -> tuple[int, str, str]:
    result = run_probe(
        ["forward", "--once", "--db", str(db), "--url", url, "--org", "o", "--bucket", "b",
         *extra],
        env={"PROBE_INFLUX_TOKEN": token},
    )
    return result.returncode, result.stdout, result.stderr


class TestAuthentication:
    """A refused token stops the pass with an auth message; the token is never shown."""

    def test_401_is_an_auth_error_and_the_token_stays_secret(
        self, influx_stub: StubFactory, tmp_path: Path
    ) -> None:
        stub = influx_stub(lambda req: (401, json.dumps(
            {"code": "unauthorized", "message": f"unauthorized access for {TOKEN}"})))
        db = tmp_path / "probe.db"
        filled_store(db, 4)
        code, out, err = forward_once(db, stub.url)
        assert code == 1
        assert "HTTP 401" in err
        assert "check the token" in err
        assert err.count("probe: error:") == 1
        assert "4 measurement(s) stay queued" in err
        assert TOKEN not in out + err
        # The token did go to the server, in the header only.
        assert stub.requests[0].headers["Authorization"] == f"Token {TOKEN}"
        status = run_probe(["status", "--json", "--db", str(db)])
        assert TOKEN not in status.stdout + status.stderr
        data = json.loads(status.stdout)
        assert data["backlog"] == 4
        assert "HTTP 401" in data["last_error"]

    def test_token_from_a_file(self, influx_stub: StubFactory, tmp_path: Path) -> None:
        stub = influx_stub(lambda req: (204, ""))
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        db = tmp_path / "probe.db"
        filled_store(db, 2)
        code, _, err = forward_once(db, stub.url, "--token-file", str(token_file), token="")
        assert code == 0, err
        assert stub.requests[0].headers["Authorization"] == f"Token {TOKEN}"
        assert TOKEN not in err

    def test_unreadable_token_file_is_a_config_error(self, tmp_path: Path) -> None:
        db = tmp_path / "probe.db"
        filled_store(db, 1)
        code, _, err = forward_once(db, "http://127.0.0.1:9", "--token-file",
                                    str(tmp_path / "missing"))
        assert code == 2
        assert err.startswith("probe: error: cannot read the token file")


class TestUnavailable:
    """5xx and a closed port are outages: nothing is marked, the loop backs off."""

    def test_5xx_keeps_everything_queued(self, influx_stub: StubFactory, tmp_path: Path) -> None:
        stub = influx_stub(lambda req: (503, '{"message":"overloaded"}'))
        db = tmp_path / "probe.db"
        filled_store(db, 3)
        code, _, err = forward_once(db, stub.url)
        assert code == 1
        assert "HTTP 503" in err
        assert "will retry later" not in err  # --once does not retry; it says what to check
        assert "check that the server is running and reachable; nothing was lost" in err
        assert len(stub.requests) == 1  # one try per pass: no tight retry inside a pass

    def test_wrong_url_is_unreachable_with_backoff(self, tmp_path: Path) -> None:
        db = tmp_path / "probe.db"
        filled_store(db, 2)
        url = f"http://127.0.0.1:{free_port()}"
        code, _, err = forward_once(db, url)
        assert code == 1
        assert f"cannot reach InfluxDB at {url} (bucket b, org o)" in err
        assert "refused" in err.lower()
        waits: list[float] = []
        with SqliteStore.open(db) as store:
            writer = InfluxWriter(SinkConfig.create(kind="influxdb2", url=url, org="o",
                                                    bucket="b", token=TOKEN))
            forwarder = Forwarder(store, writer, ForwardPolicy(backoff_max_s=20), rand=lambda: 1.0)
            forwarder.run(lambda: len(waits) >= 8, waits.append)
            writer.close()
            assert store.status().backlog == 2
        assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0, 20.0]

    def test_a_url_with_credentials_is_refused(self, tmp_path: Path) -> None:
        db = tmp_path / "probe.db"
        filled_store(db, 1)
        code, _, err = forward_once(db, f"http://user:{TOKEN}@127.0.0.1:9")
        assert code == 2
        assert "not the URL" in err
        assert TOKEN not in err


class TestRejectedLines:
    """A line the server refuses is isolated and quarantined; the rest of the queue flows."""

    def test_poison_line_is_quarantined_after_three_refusals(
        self, influx_stub: StubFactory, tmp_path: Path
    ) -> None:
        poison = make_measurement(5, samples=5).id

        def respond(req: StubRequest) -> tuple[int, str]:
            # Like InfluxDB 2.x: one bad line fails the whole request.
            return (400, '{"message":"field type conflict"}') if "verdict=bad" in req.body \
                else (204, "")

        stub = influx_stub(respond)
        db = tmp_path / "probe.db"
        with SqliteStore.open(db) as store:
            for i in range(12):
                store.save(make_measurement(i, samples=5), probe_id="p",
                           verdict="bad" if i == 5 else "pass")
        outputs = [forward_once(db, stub.url) for _ in range(3)]
        # cron sees a refusing sink: --once exits 1 whenever anything was refused.
        assert [code for code, _, _ in outputs] == [1, 1, 1]
        assert outputs[0][2].count("refused (1/3)") == 1  # one line per event, not two
        assert "delivered 11" in outputs[0][2]
        assert outputs[0][2].rstrip().endswith(
            "probe: error: the sink refused 1 measurement(s) (0 now quarantined): see "
            "probe status")
        assert outputs[2][2].count("quarantined after 3 refusals") == 1
        assert "field type conflict" in outputs[2][2]
        assert "(1 now quarantined)" in outputs[2][2]
        assert forward_once(db, stub.url)[0] == 0  # nothing left to refuse
        with SqliteStore.open(db) as store:
            status = store.status()
            assert (status.backlog, status.quarantined) == (0, 1)
            assert [mid for _, mid, _ in store.quarantined()] == [poison]
            assert len(store.history()) == 12  # quarantined, not deleted
        # Bisection: good lines were each accepted exactly once.
        delivered = [line for req in stub.requests if "verdict=bad" not in req.body
                     for line in req.body.splitlines()]
        assert len(delivered) == len(set(delivered)) == 11

    def test_413_splits_the_batch(self, influx_stub: StubFactory, tmp_path: Path) -> None:
        stub = influx_stub(lambda req: (413, "too large") if req.body.count("\n") >= 2
                           else (204, ""))
        db = tmp_path / "probe.db"
        filled_store(db, 6)
        code, _, err = forward_once(db, stub.url)
        assert code == 0, err
        assert "delivered 6" in err
