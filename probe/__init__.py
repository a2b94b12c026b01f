"""Broadband speed compliance probe.

Only the version lives here, so that ``import probe.engine`` never pulls in aiohttp.
"""

__version__ = "0.1.0"
