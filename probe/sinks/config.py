"""Where forwarded points go: one frozen sink configuration, validated, with a secret token.

Three kinds of server take the same line protocol through ``/api/v2/write``:

- ``influxdb2``: InfluxDB 2.x, 3.x and Cloud — token, org, bucket;
- ``influxdb1``: InfluxDB 1.8+ — token ``user:pass`` (or empty without auth), bucket ``db/rp``
  (or ``db`` for the default retention policy), org ``-``;
- ``victoriametrics``: no auth by default; bucket and org are ignored by the server.

The token never appears in ``repr``/``str`` of the config, and ``redact`` strips it from any
text (error messages from foreign libraries) before the text is shown or stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from probe.errors import ConfigError

SinkKind = Literal["influxdb2", "influxdb1", "victoriametrics"]
SINK_KINDS: tuple[str, ...] = get_args(SinkKind)
DEFAULT_TIMEOUT_S = 10.0
REDACTED = "***"


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """A validated sink; build it with :meth:`create`."""

    kind: SinkKind
    url: str
    bucket: str
    org: str
    token: str = field(default="", repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def create(
        cls,
        *,
        kind: str,
        url: str,
        bucket: str | None = None,
        org: str | None = None,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> SinkConfig:
        """Validate and normalise; raises ConfigError naming the offending setting."""
        if kind not in SINK_KINDS:
            raise ConfigError(f"sink kind must be one of {', '.join(SINK_KINDS)}, not {kind!r}")
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"sink URL must look like http://host:port, not {url!r}")
        if parts.username or parts.password:
            # A password in the URL would end up in logs and error messages.
            raise ConfigError("put credentials in the token (env or --token-file), not the URL")
        token = (token or "").strip()
        if kind == "influxdb2" and not token:
            raise ConfigError("InfluxDB 2.x/3.x needs a token (PROBE_INFLUX_TOKEN or --token-file)")
        if kind == "influxdb1" and token and ":" not in token:
            raise ConfigError("InfluxDB 1.8 expects the token as user:password")
        if kind == "victoriametrics":
            bucket, org = bucket or "probe", org or "-"
        elif kind == "influxdb1":
            org = "-"
        if not bucket:
            what = "database[/retention-policy]" if kind == "influxdb1" else "bucket"
            raise ConfigError(f"the sink needs a {what} (--bucket or PROBE_INFLUX_BUCKET)")
        if kind == "influxdb2" and not org:
            raise ConfigError("InfluxDB 2.x needs an org (--org or PROBE_INFLUX_ORG)")
        if not timeout_s > 0:
            raise ConfigError(f"sink timeout must be > 0 s, not {timeout_s!r}")
        return cls(kind=kind, url=url.rstrip("/"), bucket=bucket, org=org or "-",  # type: ignore[arg-type]
                   token=token, timeout_s=timeout_s)

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the token (and its password half) masked."""
        secrets = [self.token]
        if ":" in self.token:
            secrets.append(self.token.split(":", 1)[1])
        for secret in secrets:
            if len(secret) >= 3:
                text = text.replace(secret, REDACTED)
        return text

    def describe(self) -> str:
        """A one-line, token-free description for messages: kind, URL and what it writes to
        (VictoriaMetrics ignores bucket and org, so they are not mentioned)."""
        if self.kind == "victoriametrics":
            return f"VictoriaMetrics at {self.url}"
        if self.kind == "influxdb1":
            return f"InfluxDB 1.x at {self.url} (database {self.bucket})"
        return f"InfluxDB at {self.url} (bucket {self.bucket}, org {self.org})"


ENV_VARS = {
    "url": "PROBE_INFLUX_URL",
    "kind": "PROBE_INFLUX_KIND",
    "bucket": "PROBE_INFLUX_BUCKET",
    "org": "PROBE_INFLUX_ORG",
    "token": "PROBE_INFLUX_TOKEN",
    "token_file": "PROBE_INFLUX_TOKEN_FILE",
}


def resolve_sink_config(
    flags: Mapping[str, str | float | None], env: Mapping[str, str]
) -> SinkConfig:
    """Flags win over environment; the token comes from a file or the environment only.

    A token on the command line would be visible to every user in ``ps``, so there is no
    ``--token`` flag.
    """

    def pick(key: str) -> str | None:
        value = flags.get(key)
        return str(value) if value not in (None, "") else (env.get(ENV_VARS[key]) or None)

    url = pick("url")
    if not url:
        raise ConfigError(f"no sink configured: pass --url or set {ENV_VARS['url']}")
    token_file = pick("token_file")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            raise ConfigError(f"cannot read the token file {token_file}: {reason}") from None
    else:
        token = env.get(ENV_VARS["token"], "")
    timeout = flags.get("timeout")
    return SinkConfig.create(
        kind=pick("kind") or "influxdb2",
        url=url,
        bucket=pick("bucket"),
        org=pick("org"),
        token=token,
        timeout_s=DEFAULT_TIMEOUT_S if timeout is None else float(timeout),
    )
