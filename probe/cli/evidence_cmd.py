"""``probe evidence export|key`` and ``probe verify``: signed evidence packs.

The probe's Ed25519 key lives beside the store (``evidence.key``, mode 0600, created on first
use; ``evidence.pub`` in minisign's format). A pack is checked without this project by
``minisign -Vm SHA256SUMS -P <public key> && sha256sum -c SHA256SUMS`` inside it, and with it
by ``probe verify PACK``, which also walks the hash chain and names the first tampered record.
See docs/evidence.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probe.errors import EXIT_FAILURE, EXIT_OK, ConfigError, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from probe.evidence.minisig import PublicKey

KEY_NAME = "evidence.key"
PUB_NAME = "evidence.pub"

EXPORT_HELP = """\
Write an evidence pack: every stored record (full record with raw samples, and its labels)
from the first one started at or after --since to the newest, with its hash-chain links, the
void marks of those records, optionally a report directory (--include, e.g. from probe check
--report), a manifest, SHA256SUMS and its minisign signature by this probe's key.

Check it anywhere:  cd PACK && minisign -Vm SHA256SUMS -P <key> && sha256sum -c SHA256SUMS
(the key is what `probe evidence key` prints; hand it over separately from the pack).
"""
VERIFY_HELP = """\
Check an evidence pack: the minisign signature (against --key/--pubkey, else this probe's own
key, else - saying so - the key inside the pack), every file's SHA-256, and the hash chain
record by record. Names the first tampered record. Exit 0 intact, 1 tampered or unsigned.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probe.cli.store_cmd import DB_HELP

    evidence = subparsers.add_parser("evidence", help="signed, hash-chained evidence packs",
                                     description="Signed evidence packs of stored results.")
    sub = evidence.add_subparsers(title="commands", metavar="COMMAND")
    export = sub.add_parser("export", help="write a signed evidence pack", description=EXPORT_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--since", metavar="WHEN",
                        help="first record: an ISO 8601 time or an age (7d, 24h); default all")
    export.add_argument("-o", "--output", required=True, type=Path, metavar="PACK",
                        help="directory to create (must not exist, or be empty)")
    export.add_argument("--include", type=Path, metavar="DIR",
                        help="also pack the files of DIR under report/ (e.g. report.html/pdf)")
    export.add_argument("--db", metavar="PATH", help=DB_HELP)
    export.add_argument("--json", action="store_true", help="print a JSON summary")
    export.set_defaults(handler=export_handler)
    key = sub.add_parser("key", help="print this probe's public key (creating it if needed)",
                         description="Print the public key packs are signed with, in minisign's "
                                     "format; hand it to whoever will verify packs.")
    key.add_argument("--db", metavar="PATH", help=DB_HELP)
    key.set_defaults(handler=key_handler)
    evidence.set_defaults(handler=lambda args: _help(evidence))

    verify = subparsers.add_parser("verify", help="check an evidence pack's signature and chain",
                                   description=VERIFY_HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("pack", type=Path, metavar="PACK")
    trust = verify.add_mutually_exclusive_group()
    trust.add_argument("--key", type=Path, metavar="FILE",
                       help="the trusted public key file (minisign .pub)")
    trust.add_argument("--pubkey", metavar="BASE64", help="the trusted public key (RW...)")
    verify.add_argument("--db", metavar="PATH", help=DB_HELP)
    verify.add_argument("--json", action="store_true", help="print a JSON result")
    verify.set_defaults(handler=verify_handler)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _require_crypto() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigError("evidence packs need the evidence extra: pip install "
                          "'broadband-probe[evidence]'") from None


def key_paths(db: str | None) -> tuple[Path, Path]:
    from probe.cli.store_cmd import resolve_db

    folder = resolve_db(db).parent
    return folder / KEY_NAME, folder / PUB_NAME


def load_or_create_key(db: str | None) -> tuple[Ed25519PrivateKey, bytes, Path]:
    """This probe's signing key and key id; created (0600) on first use."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from probe.evidence.minisig import public_key_of

    path, pub_path = key_paths(db)
    if not path.exists():
        secret = Ed25519PrivateKey.generate()
        key_id = secrets.token_bytes(8)
        seed = secret.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        body = json.dumps({"format": "probe-evidence-key/1", "algorithm": "Ed25519",
                           "key_id": key_id.hex(), "seed": base64.b64encode(seed).decode()})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body + "\n")
            pub_path.write_text(public_key_of(secret, key_id).file_text(), encoding="utf-8")
        except FileExistsError:
            pass  # another process created it meanwhile: use that one
        except OSError as exc:
            raise ConfigError(f"cannot create the evidence key {path}: "
                              f"{exc.strerror or exc}") from None
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"the evidence key {path} is readable by others; "
                              f"chmod 600 {path}")
        data = json.loads(path.read_text(encoding="utf-8"))
        secret = Ed25519PrivateKey.from_private_bytes(base64.b64decode(data["seed"]))
        key_id = bytes.fromhex(data["key_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the evidence key {path}: {exc}") from None
    if len(key_id) != 8:
        raise ConfigError(f"the evidence key {path} has a malformed key id")
    return secret, key_id, path


def key_handler(args: argparse.Namespace) -> int:
    _require_crypto()
    from probe.evidence.minisig import public_key_of

    secret, key_id, _ = load_or_create_key(args.db)
    print(public_key_of(secret, key_id).file_text(), end="")
    return EXIT_OK


def export_handler(args: argparse.Namespace) -> int:
    _require_crypto()
    from probe.cli.store_cmd import default_probe_id, open_store, resolve_db
    from probe.cli.timeargs import parse_when
    from probe.evidence.pack import build_pack

    since = parse_when(args.since, "--since")
    out: Path = args.output
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"-o {out}: exists and is not an empty directory")
    extra = _included(args.include)
    path = resolve_db(args.db)
    if not path.exists():
        raise ConfigError(f"no result store at {path} (measure first, or pass --db PATH)")
    secret, key_id, _ = load_or_create_key(args.db)
    with open_store(path) as store:
        links = store.chain_links(since)
        voids = store.void_marks([link.measurement_id for link in links])
    if not links:
        raise UsageError(f"no stored records started at or after {args.since} in {path}")
    meta = {"probe_id": default_probe_id(), "created_at": datetime.now(UTC).isoformat(),
            "since": None if since is None else since.isoformat(), "store": str(path)}
    files = build_pack(links, voids, extra, meta=meta, secret=secret, key_id=key_id)
    try:
        for name, data in files.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"-o {out}: cannot write the pack: {exc.strerror or exc}") from None
    summary = {"pack": str(out), "records": len(links), "voids": len(voids),
               "head": links[-1].digest, "files": len(files)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {out}: {len(links)} records, {len(voids)} voids, {len(files)} files, "
              f"chain head {links[-1].digest[:16]}")
        print(f"check:  cd {out} && minisign -Vm SHA256SUMS -p probe.pub && "
              "sha256sum -c SHA256SUMS   (or: probe verify PACK)")
    return EXIT_OK


def _included(directory: Path | None) -> dict[str, bytes]:
    if directory is None:
        return {}
    if not directory.is_dir():
        raise UsageError(f"--include {directory}: not a directory")
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        files[f"report/{path.relative_to(directory).as_posix()}"] = path.read_bytes()
    return files


def verify_handler(args: argparse.Namespace) -> int:
    _require_crypto()
    from probe.evidence.minisig import SignatureError
    from probe.evidence.pack import verify_pack

    pack: Path = args.pack
    if not pack.is_dir():
        raise UsageError(f"{pack}: not an evidence pack directory")
    files = {p.relative_to(pack).as_posix(): p.read_bytes()
             for p in sorted(pack.rglob("*")) if p.is_file()}
    try:
        trusted = _trusted_key(args)
    except SignatureError as exc:
        raise ConfigError(f"the trusted key: {exc}") from None
    result = verify_pack(files, trusted)
    if args.json:
        print(json.dumps({"ok": result.ok, "signer": result.signer,
                          "first_tampered": result.first_tampered,
                          "problems": result.problems, "checks": result.lines}))
    else:
        print("\n".join(result.lines))
        print(f"{pack}: {'INTACT' if result.ok else 'TAMPERED OR UNSIGNED'}")
    return EXIT_OK if result.ok else EXIT_FAILURE


def _trusted_key(args: argparse.Namespace) -> PublicKey | None:
    from probe.evidence.minisig import PublicKey

    if args.key is not None:
        try:
            return PublicKey.parse(args.key.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--key {args.key}: {exc.strerror or exc}") from None
    if args.pubkey is not None:
        return PublicKey.parse(args.pubkey)
    _, pub_path = key_paths(args.db)
    if pub_path.exists():
        return PublicKey.parse(pub_path.read_text(encoding="utf-8"))
    return None
