"""``https://`` servers: the client's TLS paths (no FIONREAD counting, upload through the
transport) against our app served over TLS, as behind a TLS-terminating deployment."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from probe.client import connect, run_measurement
from probe.engine.plan import MeasurePlan
from probe.errors import ServerUnreachable
from probe.server import ServerConfig, create_app
from probe.server.handoff import HandoffRunner
from tests.client.conftest import measured_both


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("tls")
    key, crt = tmp / "key.pem", tmp / "crt.pem"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {result.stderr[-200:]!r}")
    return crt, key


@pytest.fixture
async def tls_url(cert: tuple[Path, Path]) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    runner = HandoffRunner(create_app(ServerConfig(port=0)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def trust(monkeypatch: pytest.MonkeyPatch, crt: Path) -> None:
    """Make the client's default TLS context trust the test certificate (and only it)."""
    real = ssl.create_default_context

    def with_test_ca(*args: object, **kwargs: object) -> ssl.SSLContext:
        return real(cafile=str(crt))

    monkeypatch.setattr(connect.ssl, "create_default_context", with_test_ca)


async def test_both_directions_over_tls(
    monkeypatch: pytest.MonkeyPatch, cert: tuple[Path, Path], tls_url: str,
) -> None:
    trust(monkeypatch, cert[0])
    m = await run_measurement(MeasurePlan(duration_s=1.5, streams=2), tls_url)
    download, upload = measured_both(m)
    assert upload.counted_at == "server"  # the server's count came back over TLS too
    assert download.streams_completed == 2
    assert m.latency is not None
    assert len(m.latency.rtts_ms) == 10
    assert m.server == tls_url


async def test_untrusted_certificate_is_unreachable_not_a_traceback(tls_url: str) -> None:
    with pytest.raises(ServerUnreachable, match="TLS handshake"):
        await run_measurement(MeasurePlan(duration_s=1.0, streams=1), tls_url)
