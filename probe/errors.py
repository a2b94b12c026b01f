"""The probe's one exception tree, and the exit code each branch maps to.

::

    ProbeError                      exit 1   anything the probe can explain in one line
    ├── UsageError                  exit 2   bad flags or arguments (argparse also exits 2)
    ├── ConfigError                 exit 2   a config file or value that cannot be used
    │   └── MissingExtra            exit 2   an optional part (pip extra) is not installed
    ├── ContractError               exit 1   a contract/plan file that does not validate
    ├── MeasurementError            exit 1   a measurement that could not be completed
    │   ├── ServerUnreachable       exit 3   refused, unresolvable, reset before any data
    │   │                                    (also a ConnectionError)
    │   ├── MeasurementTimeout      exit 3   the server stopped answering (also a TimeoutError)
    │   ├── ServerRefused           exit 3   the server answered but refused the test (401, 503)
    │   └── ProtocolViolation       exit 1   the server answered something we cannot use
    ├── RecordFormatError           exit 1   a measurement record (JSON/CSV) we cannot read
    ├── StoreError                  exit 1   the local store cannot be read or written
    └── SinkError                   exit 1   a remote sink (InfluxDB, VictoriaMetrics) refused data

Foreign exceptions (aiohttp, sqlite3, OSError, ...) are translated into this tree at the
adapter boundary; the CLI prints ``probe: error: <message>`` and exits with ``exit_code``.
Verdict exit codes of ``probe check`` (pass 0 / shortfall 4 / inconclusive 5) are outcomes,
not errors, and are not raised.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_SHORTFALL = 4
EXIT_INCONCLUSIVE = 5


class ProbeError(Exception):
    """Base of every error the probe raises on purpose."""

    exit_code: int = EXIT_FAILURE


class UsageError(ProbeError):
    """The command line asked for something that cannot be done."""

    exit_code = EXIT_USAGE


class ConfigError(ProbeError):
    """A configuration value or file is invalid."""

    exit_code = EXIT_USAGE


class MissingExtra(ConfigError):
    """A command needs an optional dependency (a pip extra) that is not installed."""


class ContractError(ProbeError):
    """A contract or plan file does not validate; the message names file and key."""


class MeasurementError(ProbeError):
    """A measurement could not be completed."""


class ServerUnreachable(MeasurementError, ConnectionError):
    """The measurement server refused, could not be resolved, or reset the connection."""

    exit_code = EXIT_UNREACHABLE


class MeasurementTimeout(MeasurementError, TimeoutError):
    """The measurement server stopped answering within the allowed time."""

    exit_code = EXIT_UNREACHABLE


class ServerRefused(MeasurementError):
    """The server answered but refused the test: no valid token (401) or busy (503)."""

    exit_code = EXIT_UNREACHABLE


class ProtocolViolation(MeasurementError):
    """The server's answer does not follow the probe's wire protocol."""


class RecordFormatError(ProbeError):
    """A measurement record (JSON line or CSV row) cannot be read."""


class StoreError(ProbeError):
    """The local result store cannot be opened, read or written."""


class SinkError(ProbeError):
    """A remote sink refused or could not take the data."""
