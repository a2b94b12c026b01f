"""The report's charts as SVG, drawn with matplotlib from the record's raw samples.

- Throughput per direction: the rate of every sample interval (cumulative bytes differenced,
  so nothing is smoothed away), the steady-state window the figure was computed over, the
  measured goodput, and the contract's bar and plan rate.
- Latency: every idle round trip beside every loaded one, per direction.

Text is drawn as outlines (matplotlib's default ``svg.fonttype = path``) in the embedded
subset face, so the charts need no font wherever they are opened.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from probe.fieldreport.fonts import FAMILY, SubsetFont
from probe.measurement import DirectionResult, Measurement

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INK = "#1f2933"
GRID = "#d9dee3"
RATE = "#2f6fb0"
WINDOW = "#e8f0f8"
BAR = "#c0392b"
PLAN = "#7b8794"
GOOD = "#1e8449"


@dataclass(frozen=True, slots=True)
class Line:
    """A labelled horizontal reference line on a throughput chart."""

    mbps: float
    label: str
    color: str
    style: str = "--"


def interval_rates(result: DirectionResult) -> tuple[list[float], list[float]]:
    """(interval end times, Mbit/s over each interval) from the cumulative samples."""
    times, rates = [], []
    samples = result.samples
    for a, b in itertools.pairwise(samples):
        dt = b.t_s - a.t_s
        if dt <= 0:
            continue
        times.append(b.t_s)
        rates.append((b.total_bytes - a.total_bytes) * 8 / dt / 1e6)
    return times, rates


class ChartMaker:
    """Draws the charts with the report's face registered in matplotlib."""

    def __init__(self, fonts: Sequence[SubsetFont]) -> None:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import font_manager

        self._tmp = tempfile.TemporaryDirectory(prefix="probe-report-")
        for font in fonts:
            path = Path(self._tmp.name) / f"{FAMILY}-{font.weight}.otf"
            path.write_bytes(font.data)
            font_manager.fontManager.addfont(str(path))

    def close(self) -> None:
        self._tmp.cleanup()

    def _figure(self, height_in: float = 2.6) -> tuple[Figure, Axes]:
        import matplotlib.pyplot as plt

        plt.rcParams.update({
            "font.family": FAMILY, "font.size": 8.5, "axes.edgecolor": GRID,
            "axes.labelcolor": INK, "xtick.color": INK, "ytick.color": INK,
            "svg.hashsalt": "probe-report", "svg.fonttype": "path",
        })
        fig, ax = plt.subplots(figsize=(7.2, height_in), dpi=100)
        ax.grid(True, color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        return fig, ax

    def throughput(self, result: DirectionResult, title: str, lines: Sequence[Line]) -> str:
        assert result.goodput_mbps is not None  # render() charts only directions with a figure
        fig, ax = self._figure(3.0)
        times, rates = interval_rates(result)
        ax.axvspan(result.window_start_s, result.window_end_s, color=WINDOW, lw=0,
                   label="steady-state window 稳态窗口")
        ax.step(times, rates, where="post", color=RATE, lw=1.1,
                label="per interval 每个采样区间")
        ax.hlines(result.goodput_mbps, result.window_start_s, result.window_end_s,
                  color=GOOD, lw=2.2,
                  label=f"measured 测得 {result.goodput_mbps:,.1f} Mbit/s")
        for line in lines:
            ax.axhline(line.mbps, color=line.color, ls=line.style, lw=1.0,
                       label=f"{line.label} {line.mbps:,.0f} Mbit/s")
        top = max([*rates, *(ln.mbps for ln in lines), result.goodput_mbps, 1.0]) * 1.15
        ax.set_ylim(0, top)
        ax.set_xlim(0, max(times, default=1.0))
        ax.set_title(title, loc="left", fontsize=10, color=INK, fontweight="bold")
        ax.set_xlabel("seconds since the transfer started 传输开始后的秒数")
        ax.set_ylabel("Mbit/s")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=3, fontsize=7,
                  frameon=False)
        return self._svg(fig)

    def latency(self, record: Measurement) -> str:
        fig, ax = self._figure(2.3)
        groups: list[tuple[str, Sequence[float]]] = []
        if record.latency is not None:
            groups.append(("idle\n空闲", record.latency.rtts_ms))
        if record.download is not None:
            groups.append(("loaded: download\n下载时", record.download.loaded_rtts_ms))
        if record.upload is not None:
            groups.append(("loaded: upload\n上传时", record.upload.loaded_rtts_ms))
        for i, (_, values) in enumerate(groups):
            if values:
                offsets = [(k % 7 - 3) * 0.04 for k in range(len(values))]
                ax.scatter([i + o for o in offsets], values, s=9, color=RATE, alpha=0.7)
                ordered = sorted(values)
                median = ordered[len(ordered) // 2] if len(ordered) % 2 else \
                    (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
                ax.hlines(median, i - 0.25, i + 0.25, color=GOOD, lw=2.2)
                ax.annotate(f"median 中位数 {median:.1f} ms", (i + 0.27, median),
                            fontsize=7, va="center", color=INK)
        ax.set_xticks(range(len(groups)), [g[0] for g in groups])
        ax.set_xlim(-0.5, len(groups) - 0.2)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("round trip 往返时延 (ms)")
        ax.set_title("Latency, idle vs loaded 空闲与负载时延", loc="left", fontsize=10,
                     color=INK, fontweight="bold")
        return self._svg(fig)

    def _svg(self, fig: Figure) -> str:
        import matplotlib.pyplot as plt

        buffer = io.StringIO()
        fig.tight_layout()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
        plt.close(fig)
        return buffer.getvalue()
