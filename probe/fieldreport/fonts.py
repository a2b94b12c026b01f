"""The report's one typeface: Noto Sans CJK SC (Debian ``fonts-noto-cjk``), cut down to the
characters the report uses and embedded, so the HTML and the PDF look the same on a machine
with no Chinese fonts.

The collection is 19 MB per weight; a subset of the few hundred characters a report uses is
~50-150 kB. Noto Sans CJK carries Latin, digits and symbols too, so one face sets the whole
page. WenQuanYi Micro Hei (``fonts-wqy-microhei``) is accepted as a fallback.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from probe.errors import ConfigError

# (path, face index of Simplified Chinese in the collection); first found wins.
REGULAR = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
)
BOLD = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"), 2),
)
FAMILY = "ProbeReportSans"
# Always kept: ASCII and the typography the templates use, whatever the text.
BASE_CHARS = ("".join(chr(c) for c in range(0x20, 0x7F))
              + "–—‘’“”…·•×÷±≤≥→✓✗°µ%，。：；（）、！？《》「」")


@dataclass(frozen=True, slots=True)
class SubsetFont:
    """One weight of the subset face as OpenType bytes."""

    weight: int
    data: bytes
    source: str


def _find(candidates: tuple[tuple[Path, int], ...]) -> tuple[Path, int] | None:
    return next(((p, i) for p, i in candidates if p.exists()), None)


def subset_fonts(text: str) -> list[SubsetFont]:
    """Regular (and bold where installed) subset to ``text``; ConfigError when no CJK font."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    regular = _find(REGULAR)
    if regular is None:
        raise ConfigError("the report needs a CJK font: install Debian's fonts-noto-cjk "
                          "(or fonts-wqy-microhei)")
    chars = sorted(set(text) | set(BASE_CHARS))
    out = []
    for weight, found in ((400, regular), (700, _find(BOLD))):
        if found is None:
            continue
        path, index = found
        font = TTFont(str(path), fontNumber=index, lazy=False)
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        options.hinting = False
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(chars))
        subsetter.subset(font)
        _rename(font, weight)
        buffer = io.BytesIO()
        font.save(buffer)
        out.append(SubsetFont(weight, buffer.getvalue(), f"{path} (face {index})"))
    return out


def _rename(font: object, weight: int) -> None:
    """Give the subset its own family name, so nothing installed is mistaken for it."""
    name_table = font["name"]  # type: ignore[index]
    style = "Bold" if weight == 700 else "Regular"
    for record in name_table.names:
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID in (4,):
            record.string = f"{FAMILY} {style}"
        elif record.nameID == 6:
            record.string = f"{FAMILY}-{style}"
