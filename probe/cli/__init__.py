"""The composition root: the only place that reads files and the environment and wires adapters.

Each sub-command lives in its own module exposing ``register(subparsers)``; heavy imports
(aiohttp, pandas, influxdb-client) happen inside the command so ``probe --help`` stays fast.
"""
