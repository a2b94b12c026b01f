"""The rule profiles by name. Importing this package imports no pandas or numpy.

Each profile is a small module citing its source: ``cn_miit``, ``de_bnetza``, ``eu_berec``,
``uk_ofcom``, ``us_fcc`` and ``custom``. Their vectorised halves (``*_campaign``, ``*_cure``,
``share``) are imported only when a window is evaluated.
"""

from __future__ import annotations

from probe.compliance.profile import ProfileSpec


def _load() -> dict[str, ProfileSpec]:
    # The profile modules import this package's submodule ``share``, so they load after it.
    from probe.compliance.profiles import (  # noqa: PLC0415
        cn_miit,
        custom,
        de_bnetza,
        eu_berec,
        uk_ofcom,
        us_fcc,
    )

    specs = (cn_miit.PROFILE, de_bnetza.PROFILE, eu_berec.PROFILE, uk_ofcom.PROFILE,
             us_fcc.PROFILE, custom.PROFILE)
    return {spec.name: spec for spec in specs}


PROFILES: dict[str, ProfileSpec] = _load()
