"""The router agent: a long-running composition of the measurement client, the per-test check,
the store and the forwarder, driven by its own sans-I/O policy modules.

Policy (no asyncio, no sockets, no clock reads; time arrives as an argument):
``config`` (the agent's TOML, validated), ``schedule`` (when the next regular test is due),
``campaign`` (the rule profile's measurement campaign), ``clock`` (whether the system clock may
be trusted), ``state`` (what survives a restart). Wiring (does I/O): ``daemon`` (the asyncio
loop) and ``metrics`` (Prometheus exposition). ``probe agent`` in probe.cli starts it.
"""
