"""us-fcc: the FCC "80/80" performance-measures rule, with the optional 95 % latency clause.

Source: USAC Performance Measures Testing for CAF (FCC DA 18-710, FCC 19-104), summarised in
measurement-methodology §5: tests during the testing hours 18:00–24:00 **local** time; a
direction passes when at least 80 % of its tests reach at least 80 % of the required speed
(e.g. 10/1 service: 80 % of download tests >= 8 Mbit/s and 80 % of upload tests >= 0.8 Mbit/s).
Latency: 95 % of measurements at or below the limit — evaluated only where the plan configures
``latency_limit_ms`` (100 ms is the usual figure and is **[unverified]** in the reference).

The required speed is the plan's ``advertised_mbps`` (the service tier) unless ``rate`` picks
another figure. ``min_measurements`` defaults to 42: one test an hour in the six testing hours
for one week. Tests outside the testing hours are not counted.
"""

from __future__ import annotations

from fractions import Fraction

from probe.compliance.contract import RATE_NAMES
from probe.compliance.params import Param, Params
from probe.compliance.profile import ProfileSpec
from probe.compliance.profiles import share

NAME = "us-fcc"
PARAMETERS = {
    p.name: p for p in (
        Param("rate", "choice", "advertised", "which plan rate is the required speed",
              RATE_NAMES),
        Param("speed_factor", "factor", Fraction(8, 10), "a test passes at >= this × required"),
        Param("required_share", "share", Fraction(8, 10), "share of tests that must pass"),
        Param("testing_hours", "window", (Fraction(18), Fraction(24)),
              "local hours [start, end) in which tests count"),
        Param("min_measurements", "count", 42,
              "tests per direction in the testing hours below which it is inconclusive"),
        Param("latency_limit_ms", "ms", None,
              "latency clause: limit in ms (unset: not evaluated; 100 is [unverified])"),
        Param("latency_share", "share", Fraction(95, 100),
              "share of latency tests that must be at or below the limit"),
    )
}


def _rule(params: Params) -> share.ShareRule:
    return share.ShareRule(
        id="80/80", rate=params.rate_name("rate"), factor=params.share("speed_factor"),
        share=params.share("required_share"), min_measurements=params.count("min_measurements"),
        hours=params.window("testing_hours"), latency_limit_ms=params.optional_ms(
            "latency_limit_ms"), latency_share=params.share("latency_share"),
        latency_id="latency-95",
    )


_thresholds, _evaluate = share.profile_hooks(NAME, _rule)


PROFILE = ProfileSpec(
    name=NAME,
    title="US FCC 80/80 (CAF performance measures)",
    source="USAC CAF Performance Measures Testing; FCC DA 18-710, FCC 19-104 [12]",
    parameters=PARAMETERS,
    required_rates=lambda p: (p.rate_name("rate"),),
    directions=("download", "upload"),
    thresholds=_thresholds,
    evaluate=_evaluate,
    counting_hours=lambda p: p.window("testing_hours"),
    primary="80/80",
)
