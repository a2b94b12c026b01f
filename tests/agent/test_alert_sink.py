"""Alert transitions reach the sink as ``broadband_alert`` points, beside the tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from probe.alerts import FakeAlertSender
from probe.sinks.forwarder import Forwarder
from tests.agent.test_daemon_alerts import BAD, GOOD, run_agent


class RecordingWriter:
    """A sink writer that keeps every line it is given and acknowledges it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: Sequence[str]) -> None:
        self.lines.extend(lines)

    def close(self) -> None:
        pass


def test_alert_transitions_also_reach_the_sink(tmp_path: Path) -> None:
    writer = RecordingWriter()
    rates = {"a": [BAD, BAD], "b": [BAD, GOOD]}
    run_agent(tmp_path, rates, runs=3, sender=FakeAlertSender(),
              make_forwarder=lambda store: Forwarder(store, writer))
    alerts = [line for line in writer.lines if line.startswith("broadband_alert,")]
    assert [line.split(" ")[1].split(",")[0] for line in alerts] == ["firing=1.0", "firing=0.0"]
    assert all("criterion=download/b-normal" in line for line in alerts)
    assert all("subscriber_id=DE-BE-000001" in line for line in alerts)
    # The tests themselves were forwarded as usual through the same writer.
    assert sum(line.startswith("broadband,") for line in writer.lines) == 4
