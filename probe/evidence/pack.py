"""The evidence pack: what it holds, how it is signed, and how it is checked.

A pack is a directory::

    records.jsonl        one chained entry per line (record with raw samples + labels,
                         prev_digest, digest), oldest first
    voids.jsonl          void marks (outside the chain; see chain.py)
    report/...           optional: the field report (HTML, PDF) handed over with it
    manifest.json        format, probe id, key id, time window, chain anchor and head, count
    SHA256SUMS           sha256sum lines for every file above
    SHA256SUMS.minisig   minisign signature of SHA256SUMS
    probe.pub            the signing key (convenience only: trust the key you were given)

Anyone can check it without this project::

    minisign -Vm SHA256SUMS -P <public key> && sha256sum -c SHA256SUMS
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probe.evidence import minisig
from probe.evidence.chain import ALGORITHM, GENESIS, ChainedEntry, check_chain

FORMAT: Final = "probe-evidence/1"
RECORDS: Final = "records.jsonl"
VOIDS: Final = "voids.jsonl"
MANIFEST: Final = "manifest.json"
SUMS: Final = "SHA256SUMS"
SIGNATURE: Final = "SHA256SUMS.minisig"
PUBLIC_KEY: Final = "probe.pub"
UNSIGNED: Final = frozenset({SUMS, SIGNATURE, PUBLIC_KEY})


def jsonl(items: Sequence[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(i, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                               allow_nan=False).encode("utf-8") + b"\n" for i in items)


def build_pack(links: Sequence[ChainedEntry], voids: Sequence[Mapping[str, Any]],
               extra: Mapping[str, bytes], *, meta: Mapping[str, Any],
               secret: Ed25519PrivateKey, key_id: bytes) -> dict[str, bytes]:
    """Every file of the pack, signed; ``extra`` adds files (e.g. ``report/report.pdf``)."""
    files: dict[str, bytes] = {RECORDS: jsonl([ln.to_json_dict() for ln in links]),
                               VOIDS: jsonl(voids), **extra}
    public = minisig.public_key_of(secret, key_id)
    manifest = {
        "format": FORMAT, **meta, "key_id": public.key_id_hex, "public_key": public.base64(),
        "records": len(links), "voids": len(voids),
        "chain": {"algorithm": ALGORITHM,
                  "anchor": links[0].prev_digest if links else GENESIS,
                  "head": links[-1].digest if links else GENESIS},
        "verify": f"minisign -Vm {SUMS} -P {public.base64()} && sha256sum -c {SUMS}",
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    sums = "".join(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n"
                   for name in sorted(files))
    files[SUMS] = sums.encode("utf-8")
    head = links[-1].digest if links else GENESIS
    comment = (f"probe evidence pack {meta.get('probe_id', '')} {len(links)} records "
               f"head {head[:16]}")
    files[SIGNATURE] = minisig.sign(files[SUMS], secret, key_id,
                                    trusted_comment=comment).encode("utf-8")
    files[PUBLIC_KEY] = public.file_text().encode("utf-8")
    return files


@dataclass
class PackCheck:
    """What ``probe verify`` found: each check's line, and the first tampered record."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    first_tampered: str | None = None
    signer: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def good(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def bad(self, text: str) -> None:
        self.lines.append(f"FAIL  {text}")
        self.problems.append(text)


def verify_pack(files: Mapping[str, bytes], trusted: minisig.PublicKey | None) -> PackCheck:
    """Check signature, file hashes and chain; ``trusted`` None uses the pack's own key."""
    out = PackCheck()
    key = trusted
    if key is None:
        try:
            key = minisig.PublicKey.parse(files.get(PUBLIC_KEY, b"").decode("utf-8", "replace"))
        except minisig.SignatureError as exc:
            out.bad(f"no trusted key given and the pack's own {PUBLIC_KEY}: {exc}")
            key = None
        else:
            out.lines.append(f"note  no trusted key given: using the pack's own key "
                             f"{key.key_id_hex}, which proves integrity, not who signed it")
    sums = files.get(SUMS)
    if sums is None or SIGNATURE not in files:
        out.bad(f"{SUMS} or {SIGNATURE} is missing: the pack is not signed")
    elif key is not None:
        try:
            verified = minisig.verify(sums, files[SIGNATURE].decode("utf-8", "replace"), key)
            out.signer = verified.key_id_hex
            out.good(f"signature by key {verified.key_id_hex} ({verified.trusted_comment})")
        except minisig.SignatureError as exc:
            out.bad(f"signature: {exc}")
    listed = _check_sums(sums or b"", files, out)
    manifest = _manifest(files, out)
    _check_records(files, manifest, out)
    if listed and not out.problems:
        out.good(f"{len(listed)} files match {SUMS}")
    return out


def _check_sums(sums: bytes, files: Mapping[str, bytes], out: PackCheck) -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in sums.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        if name:
            listed[name] = digest
    for name, digest in listed.items():
        if name not in files:
            out.bad(f"{name} is listed in {SUMS} but missing from the pack")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            out.bad(f"{name} was changed after signing (its SHA-256 differs from {SUMS})")
    for name in sorted(set(files) - set(listed) - UNSIGNED):
        out.bad(f"{name} is not covered by the signature (added after signing)")
    return listed


def _manifest(files: Mapping[str, bytes], out: PackCheck) -> Mapping[str, Any]:
    try:
        manifest = json.loads(files.get(MANIFEST, b"{}"))
    except ValueError:
        out.bad(f"{MANIFEST} is not JSON")
        return {}
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        out.bad(f"{MANIFEST}: not a {FORMAT} pack")
        return {}
    return manifest


def _check_records(files: Mapping[str, bytes], manifest: Mapping[str, Any],
                   out: PackCheck) -> None:
    links = []
    for n, line in enumerate(files.get(RECORDS, b"").splitlines(), start=1):
        try:
            item = json.loads(line)
            links.append(ChainedEntry(item["entry"], str(item["prev_digest"]),
                                      str(item["digest"])))
        except (ValueError, KeyError, TypeError):
            out.bad(f"{RECORDS} line {n} is not a chained record")
            out.first_tampered = out.first_tampered or f"line {n}"
            return
    chain = manifest.get("chain") if isinstance(manifest.get("chain"), dict) else {}
    anchor = str(chain.get("anchor", GENESIS)) if chain else GENESIS
    head = str(chain["head"]) if chain and "head" in chain else None
    count = manifest.get("records") if isinstance(manifest.get("records"), int) else None
    problem = check_chain(links, anchor, head, count)
    if problem is None:
        out.good(f"hash chain of {len(links)} records intact (anchor {anchor[:12]}, "
                 f"head {(head or '?')[:12]})")
        return
    out.first_tampered = problem.measurement_id
    out.bad(f"first tampered record: {problem.message}")
