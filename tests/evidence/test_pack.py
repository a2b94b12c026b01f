"""Evidence packs: exported from a real store, checked by ``probe verify`` and by the real
``minisign`` (Debian). Tampering — one number changed, a record deleted, two reordered, the
key swapped — is each detected with a message naming the first tampered record."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from probe.evidence import minisig
from probe.evidence.chain import link_digest
from probe.store import SqliteStore
from tests.store.builders import make_measurement
from tests.support import run_cli

pytest.importorskip("cryptography")


@pytest.fixture
def store_db(tmp_path: Path) -> Path:
    db = tmp_path / "state" / "probe.db"
    with SqliteStore.open(db) as store:
        for i in range(5):
            store.save(make_measurement(i), probe_id="cpe-1", subscriber_id="CN-GD-000001",
                       contract_ref="cn-ftth-300", verdict="pass")
    return db


@pytest.fixture
def pack(store_db: Path, tmp_path: Path) -> Path:
    out = tmp_path / "pack"
    proc = run_cli(["evidence", "export", "--db", str(store_db), "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "5 records" in proc.stdout
    return out


def verify(pack: Path, store_db: Path, *extra: str) -> tuple[int, dict]:
    proc = run_cli(["verify", str(pack), "--db", str(store_db), "--json", *extra])
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def lines(pack: Path) -> list[dict]:
    return [json.loads(x) for x in (pack / "records.jsonl").read_text().splitlines()]


def write_lines(pack: Path, items: list[dict]) -> None:
    (pack / "records.jsonl").write_text("".join(
        json.dumps(i, sort_keys=True, separators=(",", ":")) + "\n" for i in items))


def record_id(item: dict) -> str:
    return item["entry"]["record"]["id"]


class TestIntact:
    def test_probe_verify(self, pack: Path, store_db: Path) -> None:
        code, out = verify(pack, store_db)
        assert code == 0, out
        assert out["ok"] is True
        assert out["first_tampered"] is None
        assert any("hash chain of 5 records intact" in c for c in out["checks"])

    def test_pack_holds_raw_samples_and_labels(self, pack: Path) -> None:
        first = lines(pack)[0]["entry"]
        assert len(first["record"]["samples"]["download"]) == 100
        assert first["subscriber_id"] == "CN-GD-000001"
        manifest = json.loads((pack / "manifest.json").read_text())
        assert manifest["records"] == 5
        assert manifest["chain"]["head"] == lines(pack)[-1]["digest"]

    @pytest.mark.skipif(shutil.which("minisign") is None, reason="Debian minisign not installed")
    def test_real_minisign_and_sha256sum(self, pack: Path) -> None:
        manifest = json.loads((pack / "manifest.json").read_text())
        proc = subprocess.run(["minisign", "-Vm", "SHA256SUMS", "-P", manifest["public_key"]],
                              cwd=pack, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "Signature and comment signature verified" in proc.stdout
        sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=pack, capture_output=True,
                              text=True, check=False)
        assert sums.returncode == 0, sums.stdout

    def test_key_is_private(self, pack: Path, store_db: Path) -> None:
        mode = stat.S_IMODE((store_db.parent / "evidence.key").stat().st_mode)
        assert mode == 0o600


class TestTampering:
    def test_one_number_changed(self, pack: Path, store_db: Path) -> None:
        items = lines(pack)
        items[2]["entry"]["record"]["download_mbps"] = 300.0
        write_lines(pack, items)
        code, out = verify(pack, store_db)
        assert code == 1
        assert out["first_tampered"] == record_id(items[2])
        assert f"record 3 (id {record_id(items[2])}) was altered" in " ".join(out["problems"])
        assert "records.jsonl was changed after signing" in " ".join(out["problems"])
        if shutil.which("sha256sum"):
            sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=pack,
                                  capture_output=True, text=True, check=False)
            assert sums.returncode != 0  # the third-party check catches it too

    def test_number_changed_and_its_digest_recomputed(self, pack: Path, store_db: Path) -> None:
        items = lines(pack)
        items[2]["entry"]["record"]["upload_mbps"] = 30.0
        items[2]["digest"] = link_digest(items[2]["prev_digest"], items[2]["entry"])
        write_lines(pack, items)
        code, out = verify(pack, store_db)
        assert code == 1
        # The edited record is self-consistent now; the next one no longer follows it.
        assert out["first_tampered"] == record_id(items[3])
        assert "record 4" in " ".join(out["problems"])

    def test_record_deleted(self, pack: Path, store_db: Path) -> None:
        items = lines(pack)
        del items[1]
        write_lines(pack, items)
        code, out = verify(pack, store_db)
        assert code == 1
        assert out["first_tampered"] == record_id(items[1])
        text = " ".join(out["problems"])
        assert "record 2" in text
        assert "deleted, inserted or reordered" in text

    def test_last_record_deleted(self, pack: Path, store_db: Path) -> None:
        items = lines(pack)[:-1]
        write_lines(pack, items)
        code, out = verify(pack, store_db)
        assert code == 1
        assert "signed with 5" in " ".join(out["problems"])

    def test_two_reordered(self, pack: Path, store_db: Path) -> None:
        items = lines(pack)
        items[1], items[2] = items[2], items[1]
        write_lines(pack, items)
        code, out = verify(pack, store_db)
        assert code == 1
        assert out["first_tampered"] == record_id(items[1])
        assert "record 2" in " ".join(out["problems"])

    def test_key_swapped(self, pack: Path, store_db: Path) -> None:
        """Someone edits a record and re-signs everything with their own key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        items = lines(pack)
        items[0]["entry"]["record"]["download_mbps"] = 999.0
        prev = items[0]["prev_digest"]
        for item in items:  # a consistent forged chain
            item["prev_digest"] = prev
            item["digest"] = prev = link_digest(prev, item["entry"])
        write_lines(pack, items)
        manifest = json.loads((pack / "manifest.json").read_text())
        manifest["chain"]["head"] = prev
        (pack / "manifest.json").write_text(json.dumps(manifest))
        sums = "".join(f"{hashlib.sha256((pack / n).read_bytes()).hexdigest()}  {n}\n"
                       for n in sorted(("manifest.json", "records.jsonl", "voids.jsonl")))
        (pack / "SHA256SUMS").write_text(sums)
        forger = Ed25519PrivateKey.generate()
        (pack / "SHA256SUMS.minisig").write_text(
            minisig.sign(sums.encode(), forger, b"\x01" * 8, trusted_comment="forged"))
        (pack / "probe.pub").write_text(minisig.public_key_of(forger, b"\x01" * 8).file_text())
        code, out = verify(pack, store_db)  # trusts this probe's own key
        assert code == 1
        assert "signed by key 0101010101010101, not by the trusted key" in out["problems"][0]
        # Without a trusted key the forgery is self-consistent; verify says whose key it used.
        proc = run_cli(["verify", str(pack), "--db", str(pack / "nowhere.db")])
        assert "no trusted key given" in proc.stdout

    def test_file_added_after_signing(self, pack: Path, store_db: Path) -> None:
        (pack / "extra.txt").write_text("x")
        code, out = verify(pack, store_db)
        assert code == 1
        assert "extra.txt is not covered by the signature" in out["problems"][0]


class TestExportErrors:
    def test_existing_output(self, pack: Path, store_db: Path) -> None:
        proc = run_cli(["evidence", "export", "--db", str(store_db), "-o", str(pack)])
        assert proc.returncode == 2
        assert proc.stderr.startswith("probe: error: -o ")

    def test_nothing_since(self, store_db: Path, tmp_path: Path) -> None:
        proc = run_cli(["evidence", "export", "--db", str(store_db), "-o", str(tmp_path / "p"),
                        "--since", "2099-01-01T00:00Z"])
        assert proc.returncode == 2
        assert "no stored records" in proc.stderr

    def test_since_takes_a_contiguous_stretch(self, store_db: Path, tmp_path: Path) -> None:
        out = tmp_path / "p"
        proc = run_cli(["evidence", "export", "--db", str(store_db), "-o", str(out),
                        "--since", "2026-03-01T12:30Z"])
        assert proc.returncode == 0, proc.stderr
        assert len(lines(out)) == 3  # measurements 2, 3, 4 (15 min apart from 12:00)
        code, result = verify(out, store_db)
        assert code == 0, result
