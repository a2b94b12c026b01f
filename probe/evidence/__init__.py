"""Evidence integrity (sans-I/O): the hash chain over stored records, minisign-compatible
Ed25519 signatures, and the evidence pack's manifest and checks. Bytes in, verdicts out; the
store and the CLI do the reading and writing."""
