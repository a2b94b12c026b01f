"""Optional parts (pip extras): which module comes from which extra, and the one-line error.

The core install (``pip install broadband-probe``) measures, serves, checks one test against a
contract and keeps results in the local store. Window verdicts need ``[analysis]`` (pandas)
and forwarding needs ``[influx]`` (influxdb-client). A command that reaches for a missing part
ends with one line naming the exact install command and exit 2 (``MissingExtra``), never a
traceback: ``probe.cli.main`` turns any ``ModuleNotFoundError`` of a module listed here into it.
"""

from __future__ import annotations

from probe.errors import MissingExtra

DISTRIBUTION = "broadband-probe"
# Top-level module -> the extra that installs it (and what it is for, for the message).
EXTRA_OF_MODULE: dict[str, tuple[str, str]] = {
    "pandas": ("analysis", "pandas"),
    "numpy": ("analysis", "pandas"),  # numpy comes with pandas
    "scipy": ("analysis", "scipy"),
    "influxdb_client": ("influx", "influxdb-client"),
    "reactivex": ("influx", "influxdb-client"),
    "urllib3": ("influx", "influxdb-client"),
    "speedtest": ("speedtest", "speedtest-cli"),
    "pyarrow": ("fleet", "pyarrow"),
    "dask": ("fleet", "dask"),
    "distributed": ("fleet", "dask"),
    "prometheus_client": ("agent", "prometheus-client"),
    "apprise": ("alerts", "apprise"),
    "matplotlib": ("report", "matplotlib"),
    "weasyprint": ("report", "weasyprint"),
    "fontTools": ("report", "fonttools"),
}


def missing_extra(exc: ModuleNotFoundError, command: str) -> MissingExtra | None:
    """The one-line error for a missing optional module, or None if it is not one of ours."""
    root = (exc.name or "").split(".")[0]
    found = EXTRA_OF_MODULE.get(root)
    if found is None:
        return None
    extra, package = found
    return MissingExtra(f"`{command}` needs {package}, which is not installed: "
                        f"pip install '{DISTRIBUTION}[{extra}]'")
