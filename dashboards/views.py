"""The three dashboards — fleet compliance, subscriber drill-down, probe health — in both flavours.

Every name below is one of docs/data-model.md's (``probe.sinks.lineprotocol.SCHEMA``); the tests
refuse any other and run every query against real InfluxDB 1.x and VictoriaMetrics.

Semantics shared by both languages:

- *compliant tests* (达标率 of tests) = mean of ``compliant`` (1 pass / 0 shortfall): inconclusive
  tests are in neither numerator nor denominator;
- *compliant subscribers* = mean over subscribers of their latest decided window verdict
  (``broadband_window.compliant``, written by ``probe report --write-back``): the whole-window
  points, those without a ``period`` tag (:data:`WHOLE`); per period, the points tagged
  ``period`` (a subscriber judged on only its peak-hour or only its off-peak tests);
- whole-range figures use Grafana's range (``$timeFilter`` / ``[$__range]``); the daily series
  uses calendar days in UTC (InfluxQL ``GROUP BY time(1d)``; MetricsQL ``[1d]`` at a 1 d step).
"""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel, Query, Variable

FLEET = '"plan" =~ /^$plan$/ AND "region" =~ /^$region$/ AND "technology" =~ /^$technology$/'
SEL = 'plan=~"$plan",region=~"$region",technology=~"$technology"'
SUB = "\"subscriber_id\" = '$subscriber'"
SUB_SEL = 'subscriber_id="$subscriber"'
PROBE = '"probe_id" =~ /^$probe$/'
PROBE_SEL = 'probe_id=~"$probe"'
PERCENT = ((0.0, "red"), (80.0, "orange"), (90.0, "green"))
# broadband_window: the whole-window verdicts have no period tag (an absent tag reads as ''
# in InfluxQL, and period="" matches series without the label in MetricsQL); the verdicts per
# period carry period=peak / off_peak. Every whole-window query must say which it reads.
WHOLE = "\"period\" = ''"
WHOLE_SEL = 'period=""'
PER_PERIOD = "\"period\" != ''"
PER_PERIOD_SEL = 'period!=""'


def share_of_tests(group: str = "") -> Query:
    """Share of compliant tests (%) over the range, optionally per tag."""
    by_influx = f' GROUP BY "{group}"' if group else ""
    by_prom = f" by ({group})" if group else ""
    return Query(
        influxql=f'SELECT mean("compliant") * 100 FROM "broadband" WHERE $timeFilter AND {FLEET}'
                 f"{by_influx}",
        metricsql=f"100 * sum{by_prom} (sum_over_time(broadband_compliant{{{SEL}}}[$__range])) / "
                  f"sum{by_prom} (count_over_time(broadband_compliant{{{SEL}}}[$__range]))",
        legend=f"{{{{{group}}}}}" if group else "compliant tests",
        instant=True,
    )


def share_of_subscribers(group: str = "") -> Query:
    """Share of subscribers (%) whose latest decided window verdict is pass; by ``period``:
    the latest decided verdict per subscriber and period, on that period's tests alone."""
    inner_by = f', "{group}"' if group else ""
    outer_by = f' GROUP BY "{group}"' if group else ""
    by_prom = f" by ({group})" if group else ""
    which, which_sel = (PER_PERIOD, PER_PERIOD_SEL) if group == "period" else (WHOLE, WHOLE_SEL)
    return Query(
        influxql=(f'SELECT mean("c") * 100 FROM (SELECT last("compliant") AS "c" FROM '
                  f'"broadband_window" WHERE $timeFilter AND {FLEET} AND {which} GROUP BY '
                  f'"subscriber_id"{inner_by}) WHERE $timeFilter{outer_by}'),
        metricsql=f"100 * avg{by_prom} (last_over_time(broadband_window_compliant{{{SEL},"
                  f"{which_sel}}}[$__range]))",
        legend=f"{{{{{group}}}}}" if group else "compliant subscribers",
        instant=True,
    )


def ratio_distribution(direction: str) -> Query:
    field = f"{direction}_contract_ratio"
    return Query(
        influxql=f'SELECT "{field}" FROM "broadband" WHERE $timeFilter AND {FLEET}',
        metricsql=f"prometheus_buckets(sum by (vmrange) (histogram_over_time("
                  f"broadband_{field}{{{SEL}}}[$__range])))",
        legend="{{le}}", instant=True, heatmap=True,
    )


def _bars(title: str, query: Query, description: str, w: int = 8, *, share: bool = True
          ) -> Panel:
    """Horizontal bars: a share (0-100 %, red-orange-green) or, with ``share=False``, a count."""
    return Panel(title, "bargauge", (query,), description=description,
                 unit="percent" if share else "none", w=w, h=8,
                 thresholds=PERCENT if share else (), minimum=0,
                 maximum=100 if share else None,
                 options={"displayMode": "gradient", "orientation": "horizontal",
                          "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False}})


def _stat(title: str, query: Query, description: str, unit: str = "percent",
          thresholds: tuple[tuple[float, str], ...] = PERCENT) -> Panel:
    return Panel(title, "stat", (query,), description=description, unit=unit, w=6, h=5,
                 thresholds=thresholds,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False}, "colorMode": "background"})


FLEET_VARIABLES = tuple(
    Variable(tag, label, influxql=f'SHOW TAG VALUES FROM "broadband" WITH KEY = "{tag}"',
             metricsql=f"label_values(broadband_compliant, {tag})")
    for tag, label in (("plan", "Plan"), ("region", "Region"), ("technology", "Technology"))
)

TESTS = "tests judged against their contract: pass / (pass + shortfall); inconclusive " \
        "(flagged) tests are left out"
SUBSCRIBERS = "subscribers whose latest decided window verdict (probe report --write-back) " \
              "is pass"
PEAK_TESTS = "peak: the test started inside the profile's peak hours in the subscriber's " \
             "local time (19:00-23:00 unless the profile sets them)"
PEAK_SUBSCRIBERS = "subscribers whose latest decided verdict on only their peak-hour (or only " \
                   "their off-peak) tests is pass, the rule unchanged (probe report " \
                   "--write-back); a period with too few tests for the rule is inconclusive " \
                   "and not counted"

OVERVIEW = Dashboard(
    uid="broadband-fleet",
    title="Broadband fleet compliance (达标率)",
    description="Share of compliant tests and subscribers by plan, region, technology and "
                "peak hours; measured/contracted distribution; worst regions over time.",
    variables=FLEET_VARIABLES,
    tags=("fleet",),
    panels=(
        _stat("Compliant tests (达标率)", share_of_tests(), TESTS),
        _stat("Compliant subscribers", share_of_subscribers(), SUBSCRIBERS),
        _stat("Tests", Query(
            influxql=f'SELECT count("duration_s") FROM "broadband" WHERE $timeFilter AND {FLEET}',
            metricsql=f"sum(count_over_time(broadband_duration_s{{{SEL}}}[$__range]))",
            legend="tests", instant=True), "tests in the range", unit="none", thresholds=()),
        _stat("Subscribers with a shortfall", Query(
            influxql=(f'SELECT count("c") FROM (SELECT last("compliant") AS "c" FROM '
                      f'"broadband_window" WHERE $timeFilter AND {FLEET} AND {WHOLE} GROUP BY '
                      '"subscriber_id") WHERE $timeFilter AND "c" = 0'),
            metricsql=f"count(last_over_time(broadband_window_compliant{{{SEL},{WHOLE_SEL}}}"
                      "[$__range]) == 0)",
            legend="shortfalls", instant=True),
            "subscribers whose latest decided window verdict is shortfall", unit="none",
            thresholds=((0.0, "green"), (1.0, "red"))),
        _bars("Compliant tests by plan", share_of_tests("plan"), TESTS),
        _bars("Compliant tests by region", share_of_tests("region"), TESTS),
        _bars("Compliant tests by technology", share_of_tests("technology"), TESTS),
        _bars("Compliant subscribers by plan", share_of_subscribers("plan"), SUBSCRIBERS),
        _bars("Compliant subscribers by region", share_of_subscribers("region"), SUBSCRIBERS),
        _bars("Compliant subscribers by technology", share_of_subscribers("technology"),
              SUBSCRIBERS),
        _bars("Compliant tests, peak vs off-peak", share_of_tests("period"), PEAK_TESTS, w=12),
        _bars("Compliant subscribers, peak vs off-peak", share_of_subscribers("period"),
              PEAK_SUBSCRIBERS, w=12),
        Panel("Worst regions: compliant tests per day", "timeseries", (Query(
            influxql=f'SELECT mean("compliant") * 100 FROM "broadband" WHERE $timeFilter AND '
                     f'{FLEET} GROUP BY time(1d), "region" fill(none)',
            metricsql=f"bottomk(10, 100 * sum by (region) (sum_over_time(broadband_compliant"
                      f"{{{SEL}}}[1d])) / sum by (region) (count_over_time(broadband_compliant"
                      f"{{{SEL}}}[1d])))",
            legend="{{region}}"),), description="per UTC day; the ten lowest regions",
            unit="percent", w=12, minimum=0, maximum=100, interval="1d",
            options={"legend": {"displayMode": "table", "placement": "right",
                                "calcs": ["mean", "min"], "sortBy": "Mean", "sortDesc": False}}),
        Panel("Measured / contracted, download", "histogram", (ratio_distribution("download"),),
              description="each test's download rate over the plan's headline rate",
              unit="percentunit", w=12),
        Panel("Measured / contracted, upload", "histogram", (ratio_distribution("upload"),),
              description="each test's upload rate over the plan's headline rate",
              unit="percentunit", w=12),
    ),
)


def _rate_lines(direction: str) -> Panel:
    names = (("measured", f"{direction}_mbps"),
             ("bar (primary criterion)", f"threshold_{direction}_mbps"),
             ("minimum", f"minimum_{direction}_mbps"),
             ("contracted", f"contract_{direction}_mbps"))
    return Panel(
        f"{direction.capitalize()}: measured against the contract", "timeseries",
        tuple(Query(influxql=f'SELECT "{field}" AS "{legend}" FROM "broadband" WHERE '
                             f"$timeFilter AND {SUB}",
                    metricsql=f"max(last_over_time(broadband_{field}{{{SUB_SEL}}}"
                              "[$__interval]))", legend=legend)
              for legend, field in names),
        description="each test's rate; the bar and minimum are the contract's, as recorded "
                    "with the test", unit="Mbits", w=12, h=9,
        options={"legend": {"displayMode": "list", "placement": "bottom"}})


SUBSCRIBER = Dashboard(
    uid="broadband-subscriber",
    title="Broadband subscriber drill-down",
    description="One subscriber: measured rates against the contract's, per-test and window "
                "verdicts, campaign progress, latency idle vs loaded.",
    variables=(Variable(
        "subscriber", "Subscriber", multi=False,
        influxql='SHOW TAG VALUES FROM "broadband" WITH KEY = "subscriber_id"',
        metricsql="label_values(broadband_duration_s, subscriber_id)"),),
    tags=("subscriber",),
    panels=(
        _rate_lines("download"),
        _rate_lines("upload"),
        _bars("Per-test verdicts", Query(
            influxql=f'SELECT count("duration_s") FROM "broadband" WHERE $timeFilter AND {SUB} '
                     'GROUP BY "verdict"',
            metricsql=f"sum by (verdict) (count_over_time(broadband_duration_s{{{SUB_SEL}}}"
                      "[$__range]))",
            legend="{{verdict}}", instant=True),
            "tests by per-test verdict (pass, shortfall, inconclusive)", w=8, share=False),
        _stat("Compliant tests", Query(
            influxql=f'SELECT mean("compliant") * 100 FROM "broadband" WHERE $timeFilter AND '
                     f"{SUB}",
            metricsql=f"100 * sum(sum_over_time(broadband_compliant{{{SUB_SEL}}}[$__range])) / "
                      f"sum(count_over_time(broadband_compliant{{{SUB_SEL}}}[$__range]))",
            legend="compliant tests", instant=True), TESTS),
        Panel("Window verdicts", "timeseries", tuple(
            Query(influxql=f'SELECT "{field}" AS "{field}" FROM "broadband_window" WHERE '
                           f"$timeFilter AND {SUB} AND {WHOLE}",
                  metricsql=f"broadband_window_{field}{{{SUB_SEL},{WHOLE_SEL}}}", legend=field)
            for field in ("compliant", "inconclusive")),
            description="1 = pass / inconclusive; compliant 0 = shortfall (probe report "
                        "--write-back)", w=10, minimum=0, maximum=1,
            options={"legend": {"displayMode": "list", "placement": "bottom"}}),
        Panel("Confirmed shortfall alerts", "timeseries", (Query(
            influxql=f'SELECT "firing" FROM "broadband_alert" WHERE $timeFilter AND {SUB} '
                     'GROUP BY "criterion"',
            metricsql=f"max by (criterion) (last_over_time(broadband_alert_firing{{{SUB_SEL}}}"
                      "[$__interval]))",
            legend="{{criterion}}"),),
            description="the agent's confirmed shortfalls (retested on a second server): 1 when "
                        "an alert fired, 0 when it resolved", w=12, minimum=0, maximum=1,
            options={"legend": {"displayMode": "list", "placement": "bottom"}}),
        Panel("Campaign progress", "stat", tuple(
            Query(influxql=f'SELECT last("campaign_{field}") FROM "broadband_window" WHERE '
                           f"$timeFilter AND {SUB} AND {WHOLE}",
                  metricsql=f"last_over_time(broadband_window_campaign_{field}{{{SUB_SEL},"
                            f"{WHOLE_SEL}}}[$__range])", legend=field.replace("_", " "),
                  instant=True)
            for field in ("days_complete", "days_needed", "measurements",
                          "measurements_needed")),
            description="measurement campaign (de-bnetza): days and measurements done vs "
                        "needed", unit="none", w=12, h=5,
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "textMode": "value_and_name"}),
        Panel("Latency: idle vs loaded", "timeseries", tuple(
            Query(influxql=f'SELECT "{field}" AS "{legend}" FROM "broadband" WHERE $timeFilter '
                           f"AND {SUB}",
                  metricsql=f"max(last_over_time(broadband_{field}{{{SUB_SEL}}}"
                            "[$__interval]))", legend=legend)
            for legend, field in (("idle", "latency_ms"), ("loaded, download",
                                                            "loaded_latency_down_ms"),
                                  ("loaded, upload", "loaded_latency_up_ms"))),
            description="round-trip time idle and while the line is loaded", unit="ms", w=12,
            options={"legend": {"displayMode": "list", "placement": "bottom"}}),
    ),
)

PROBES = Dashboard(
    uid="broadband-probes",
    title="Broadband probe health",
    description="Last seen, outbox backlog, deferred and skipped tests, results per server.",
    variables=(Variable(
        "probe", "Probe", influxql='SHOW TAG VALUES FROM "broadband" WITH KEY = "probe_id"',
        metricsql="label_values(broadband_duration_s, probe_id)"),),
    tags=("probes",),
    panels=(
        Panel("Last seen", "table", (Query(
            influxql=f'SELECT last("duration_s") FROM "broadband" WHERE $timeFilter AND {PROBE} '
                     'GROUP BY "probe_id"',
            metricsql=f"max by (probe_id) (tlast_over_time(broadband_duration_s{{{PROBE_SEL}}}"
                      "[$__range])) * 1000",
            legend="{{probe_id}}", instant=True),),
            description="start of each probe's newest test (InfluxQL: the time column)",
            unit="dateTimeAsIso", w=12),
        _bars("Outbox backlog", Query(
            influxql=f'SELECT last("outbox_backlog") FROM "broadband_probe" WHERE $timeFilter '
                     f'AND {PROBE} GROUP BY "probe_id"',
            metricsql=f"last_over_time(broadband_probe_outbox_backlog{{{PROBE_SEL}}}"
                      "[$__range])",
            legend="{{probe_id}}", instant=True),
            "measurements waiting in each probe's outbox (broadband_probe)", w=12, share=False),
        Panel("Deferred and skipped tests (agent totals)", "bargauge", tuple(
            Query(influxql=f'SELECT last("tests_{what}") FROM "broadband_probe" WHERE '
                           f'$timeFilter AND {PROBE} GROUP BY "probe_id"',
                  metricsql=f"last_over_time(broadband_probe_tests_{what}{{{PROBE_SEL}}}"
                            "[$__range])", legend=f"{{{{probe_id}}}} {what}", instant=True)
            for what in ("deferred", "skipped")),
            description="gating (cross-traffic, CPU) deferrals and given-up tests",
            unit="none", w=12,
            options={"displayMode": "basic", "orientation": "horizontal"}),
        Panel("Results per server", "table", (
            Query(influxql=f'SELECT count("duration_s") FROM "broadband" WHERE $timeFilter AND '
                           f'{PROBE} GROUP BY "server"',
                  metricsql=f"sum by (server) (count_over_time(broadband_duration_s"
                            f"{{{PROBE_SEL}}}[$__range]))", legend="{{server}}: tests",
                  instant=True),
            Query(influxql=f'SELECT mean("download_mbps") FROM "broadband" WHERE $timeFilter '
                           f'AND {PROBE} GROUP BY "server"',
                  metricsql=f"sum by (server) (sum_over_time(broadband_download_mbps"
                            f"{{{PROBE_SEL}}}[$__range])) / sum by (server) (count_over_time("
                            f"broadband_download_mbps{{{PROBE_SEL}}}[$__range]))",
                  legend="{{server}}: mean download", instant=True),
            Query(influxql=f'SELECT mean("compliant") * 100 FROM "broadband" WHERE $timeFilter '
                           f'AND {PROBE} GROUP BY "server"',
                  metricsql=f"100 * sum by (server) (sum_over_time(broadband_compliant"
                            f"{{{PROBE_SEL}}}[$__range])) / sum by (server) (count_over_time("
                            f"broadband_compliant{{{PROBE_SEL}}}[$__range]))",
                  legend="{{server}}: compliant %", instant=True),
        ), description="tests, mean download (Mbit/s) and compliant share per measurement "
                       "server", w=12),
    ),
)

DASHBOARDS = (("fleet-compliance", OVERVIEW), ("subscriber", SUBSCRIBER),
              ("probe-health", PROBES))
