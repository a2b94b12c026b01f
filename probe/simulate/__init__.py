"""The fleet simulator: seeded, realistic measurements of many probes and the contracts to match.

Sans-I/O (no files, no clock): :mod:`.catalogue` holds the plans and regions it draws from,
:mod:`.fleet` draws a fleet as a DataFrame plus :class:`~probe.compliance.contract.Contract`
values, and :mod:`.contracts_toml` renders those contracts as files ``probe evaluate`` and
``probe report`` read. Writing them (Parquet, JSON lines, line protocol, a store) is the CLI's.
"""
