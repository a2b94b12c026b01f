"""``probe check`` end to end in the namespace lab: the client's link is shaped with tbf to
100 Mbit/s, and what its port negotiated is injected as a sysfs tree (a veth has no negotiated
speed to read; PROBE_HOSTFACTS_ROOT makes every fact name the injected file as its source).

A 300/30 plan over a 100 Mbit/s port: the test misses the bar, the port rule explains it, and
the ISP's verdict is inconclusive (exit 5). The same link with a gigabit port: a shortfall on
the line (exit 4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.netlab import Lab
from tests.support import ROOT

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CONTRACT = ROOT / "contracts" / "cn-ftth-300.toml"


def fake_port(tmp_path: Path, interface: str, speed_mbps: int) -> Path:
    base = tmp_path / "hostroot" / "sys" / "class" / "net" / interface
    (base / "device").mkdir(parents=True)
    (base / "type").write_text("1\n")
    (base / "speed").write_text(f"{speed_mbps}\n")
    (base / "duplex").write_text("full\n")
    # Only the port's speed is injected: the byte counters are the real ones (resolved inside
    # the client namespace, whose /sys shows its own interfaces). /proc/stat is left out: the
    # lab's server and every other process on this shared machine would count as load.
    (base / "statistics").symlink_to(f"/sys/class/net/{interface}/statistics")
    return tmp_path / "hostroot"


def check_in_lab(the_lab: Lab, url: str, root: Path, state: Path,
                 *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROBE_HOSTFACTS_ROOT": str(root), "PROBE_STATE_DIR": str(state),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "check", "--contract", str(CONTRACT),
            "--server", url, "--duration", "4", "--json", *args]),
        capture_output=True, text=True, timeout=180, check=False, env=env, cwd=ROOT)


class TestAttributionInTheLab:
    def test_100_mbit_port_under_a_300_plan(self, shaped_lab: Lab, lab_server: str,
                                           tmp_path: Path) -> None:
        shaped_lab.shape(down_mbps=100, up_mbps=100)
        root = fake_port(tmp_path, shaped_lab.client_dev, 100)
        proc = check_in_lab(shaped_lab, lab_server, root, tmp_path / "state")
        assert proc.returncode == 5, proc.stderr
        out = json.loads(proc.stdout)
        assert out["verdict"] == "shortfall"
        assert out["measurement"]["download_mbps"] == pytest.approx(100 * 1448 / 1514, rel=0.05)
        attribution = out["attribution"]
        assert (attribution["isp_verdict"], attribution["cause"]) == ("inconclusive", "device")
        port = attribution["findings"][0]
        assert port["rule"] == "port-speed"
        speed = port["facts"][1]
        assert speed["value"] == 100
        assert speed["source"] == str(root / "sys/class/net" / shaped_lab.client_dev / "speed")
        env = {f["name"]: f for f in out["environment"]}
        # The route is the kernel's own answer inside the client namespace.
        assert env["route.interface"]["value"] == shaped_lab.client_dev
        assert env["route.interface"]["source"].startswith("ip -o route get")
        # Nothing else used the link: the counters account for the test's own bytes.
        assert 0 <= env["link.cross_traffic_bytes_s"]["value"] < 25_000
        assert env["host.cpu_load_share"]["value"] is None
        # The self-test ran on the namespace's loopback and is far above 100 Mbit/s.
        assert env["client.ceiling_down_mbps"]["value"] > 300

    def test_gigabit_port_leaves_the_shortfall_on_the_line(
            self, shaped_lab: Lab, lab_server: str, tmp_path: Path) -> None:
        shaped_lab.shape(down_mbps=100, up_mbps=100)
        root = fake_port(tmp_path, shaped_lab.client_dev, 1000)
        proc = check_in_lab(shaped_lab, lab_server, root, tmp_path / "state",
                            "--self-test", "skip")
        assert proc.returncode == 4, proc.stderr
        attribution = json.loads(proc.stdout)["attribution"]
        assert (attribution["isp_verdict"], attribution["cause"]) == ("shortfall", "line")
        assert [f["rule"] for f in attribution["findings"]] == ["line"]
