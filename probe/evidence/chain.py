"""The hash chain over stored records.

Each stored record becomes an *entry* — the full record (raw samples included) and the labels
it was stored with — and its digest covers the digest before it::

    digest_n = SHA-256( bytes.fromhex(digest_{n-1}) || canonical_json(entry_n) )
    digest_0's predecessor = GENESIS (64 zeros)

``canonical_json`` is JSON with sorted keys, no whitespace, UTF-8, numbers as Python writes
them (shortest round-trip form). Changing any number, deleting, inserting or reordering a
record breaks the chain at the first such record. Voids (hygiene's "this record is not
evidence" marks) are outside the chain: a void never changes a chained record, and a pack
lists voids separately, covered by the signature but not by the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

GENESIS: Final = "0" * 64
ALGORITHM: Final = ("sha256(prev_digest || canonical_json(entry)); "
                   "canonical: sorted keys, no spaces, UTF-8")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_of(record: Mapping[str, Any], *, probe_id: str, subscriber_id: str | None,
             contract_ref: str | None, verdict: str | None, stored_at_us: int) -> dict[str, Any]:
    """What the chain covers for one stored record."""
    return {"record": dict(record), "probe_id": probe_id, "subscriber_id": subscriber_id,
            "contract_ref": contract_ref, "verdict": verdict, "stored_at_us": stored_at_us}


def link_digest(prev_digest: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev_digest) + canonical_json(entry)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainedEntry:
    """One link as stored or exported: the entry, the digest before it, and its own."""

    entry: Mapping[str, Any]
    prev_digest: str
    digest: str

    @property
    def measurement_id(self) -> str:
        record = self.entry.get("record")
        return str(record.get("id", "?")) if isinstance(record, Mapping) else "?"

    def to_json_dict(self) -> dict[str, Any]:
        return {"prev_digest": self.prev_digest, "digest": self.digest, "entry": self.entry}


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place the chain does not hold: 1-based position, record id, what is wrong."""

    position: int
    measurement_id: str
    message: str


def check_chain(links: Sequence[ChainedEntry], anchor: str, head: str | None = None,
                count: int | None = None) -> ChainProblem | None:
    """None when ``links`` form an unbroken chain from ``anchor`` (to ``head``)."""
    expected_prev = anchor
    for i, link in enumerate(links, start=1):
        mid = link.measurement_id
        if link.prev_digest != expected_prev:
            if i == 1:
                why = ("does not continue from the signed anchor: the first record(s) of the "
                       "pack were deleted or replaced")
            else:
                why = (f"does not follow record {i - 1}: a record before it was deleted, "
                       "inserted or reordered")
            return ChainProblem(i, mid, f"record {i} (id {mid}) {why}")
        try:
            actual = link_digest(link.prev_digest, link.entry)
        except (ValueError, TypeError):
            return ChainProblem(i, mid, f"record {i} (id {mid}) is malformed")
        if actual != link.digest:
            return ChainProblem(i, mid, f"record {i} (id {mid}) was altered: its content does "
                                        "not match its digest")
        expected_prev = link.digest
    if count is not None and len(links) != count:
        last = links[-1].measurement_id if links else "-"
        return ChainProblem(len(links), last, f"the pack holds {len(links)} records but was "
                                              f"signed with {count}: records were removed "
                                              "from or added at its end")
    if head is not None and expected_prev != head:
        last = links[-1].measurement_id if links else "-"
        return ChainProblem(len(links), last, "the chain does not end at the signed head: "
                                              "records were removed from or added at its end")
    return None
