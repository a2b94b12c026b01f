"""The fleet roll-up: 达标率 per group with confidence intervals (sans-I/O).

:mod:`.summary` turns the compliance core's window verdicts into one row per subscriber,
:mod:`.rollup` groups those rows (plan, region, technology) into shares of compliant
subscribers and of compliant tests with Clopper–Pearson intervals, and :mod:`.render` writes
the result as a table, JSON, CSV or a self-contained HTML page. The verdicts themselves come
from :func:`probe.compliance.fleet.evaluate_fleet`, the function ``probe evaluate`` uses.
"""
