"""Contracts, rule profiles and verdicts: the sans-I/O compliance core.

- :mod:`.contract`, :mod:`.document`: plans and subscriber contracts, and their validation;
- :mod:`.profiles`: cn-miit, de-bnetza, eu-berec, uk-ofcom, us-fcc, custom (each cites its source);
- :mod:`.check`: the per-test check (no pandas: runs on routers);
- :mod:`.fleet`, :mod:`.frame`: vectorised window verdicts for one subscriber or a fleet;
- :mod:`.verdict`, :mod:`.confidence`: verdict values and the Clopper–Pearson interval;
- :mod:`.labels`: what a fleet point says about its contract (plan, region, rates, peak hours).

Importing this package imports neither pandas nor numpy.
"""
