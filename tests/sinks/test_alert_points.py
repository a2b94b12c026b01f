"""``broadband_alert`` points: one per alert transition, read back from a real VictoriaMetrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from probe.alert import Alert
from probe.sinks.fleetpoints import encode_alert
from tests.servicekit import VictoriaMetrics

T0 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
FIRING = Alert("firing", "DE-BE-000001", "de-cable-1000", "probe 7", "download/b-normal", T0)
RESOLVED = Alert("resolved", "DE-BE-000001", "de-cable-1000", "probe 7", "download/b-normal",
                 T0, T0 + timedelta(hours=26))


def test_lines() -> None:
    assert encode_alert(FIRING) == (
        "broadband_alert,alertname=BroadbandShortfall,criterion=download/b-normal,"
        "plan=de-cable-1000,probe_id=probe\\ 7,subscriber_id=DE-BE-000001 firing=1.0 "
        f"{int(T0.timestamp()) * 10**9}")
    resolved_ns = int((T0 + timedelta(hours=26)).timestamp()) * 10**9
    assert encode_alert(RESOLVED).endswith(f" firing=0.0,duration_s=93600.0 {resolved_ns}")


@pytest.mark.services
def test_read_back_from_victoria_metrics(victoria_metrics: VictoriaMetrics) -> None:
    assert victoria_metrics.write_lines([encode_alert(FIRING), encode_alert(RESOLVED)]) == 204
    series = victoria_metrics.export('broadband_alert_firing{subscriber_id="DE-BE-000001"}')
    [one] = series
    assert one["metric"]["criterion"] == "download/b-normal"
    assert one["metric"]["probe_id"] == "probe 7"
    assert one["values"] == [1, 0]
    assert one["timestamps"] == [int(T0.timestamp() * 1000),
                                 int((T0 + timedelta(hours=26)).timestamp() * 1000)]
    [duration] = victoria_metrics.export('broadband_alert_duration_s{plan="de-cable-1000"}')
    assert duration["values"] == [93600]
