#!/usr/bin/env python3
"""An independent twinvault decryptor, written only from docs/FORMAT.md, run on its test vectors.

For every vector in FORMAT.md section 14 this script parses the header, unwraps the data key
(section 4), re-seals the body (sections 5 and 6) and checks the published bytes, then opens the
body (sections 5.1 and 6.1) and checks the plaintext. It also checks that the tampering of
section 9 is caught.
It shares no code with the gateway: only the `cryptography` package and the spec.

Usage: format_vectors.py [path/to/FORMAT.md]   (default: $TV_FORMAT_MD, else ../../docs/FORMAT.md)
Prints "format vectors: N ok" and exits 0, or exits 1 naming the failing check.
"""

import base64
import hashlib
import os
import struct
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Section 3, frozen constants.
FORMAT_VERSION = 1
HEADER_MAGIC = b"TV"
FLAG_SSE_C = 0x01
SEGMENT_PLAIN = 65536
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = NONCE_LEN + TAG_LEN
SEGMENT_STORED = SEGMENT_PLAIN + OVERHEAD
KEY_LEN = 32
SEGMENT_AAD_PREFIX = b"twinvault/seg/v1"
DEK_AAD_PREFIX = b"twinvault/dek/v1"
SSE_C_INFO = b"twinvault/sse-c/v1"


class FormatError(Exception):
    """A stored object that the spec says to reject."""


def be32(n):
    return struct.pack(">I", n)


def b64url_decode(text):
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# === section 7: sizes ===


def segment_count(p):
    return max(1, -(-p // SEGMENT_PLAIN))


def ciphertext_len(p):
    return p + OVERHEAD * segment_count(p)


def plaintext_len(s):
    full, rest = divmod(s, SEGMENT_STORED)
    if full == 0 and rest == 0:
        return None
    if rest == 0:
        return full * SEGMENT_PLAIN
    if full == 0 and rest == OVERHEAD:
        return 0
    if rest <= OVERHEAD:
        return None
    return full * SEGMENT_PLAIN + rest - OVERHEAD


# === section 4: header and data key ===


def parse_header(raw):
    if raw[:2] != HEADER_MAGIC:
        raise FormatError("header magic")
    if len(raw) < 5:
        raise FormatError("header too short")
    version, flags, id_len = raw[2], raw[3], raw[4]
    if version != FORMAT_VERSION:
        raise FormatError(f"unsupported version {version}")
    if flags & ~FLAG_SSE_C:
        raise FormatError("reserved flag set")
    if not 1 <= id_len <= 64 or len(raw) != 65 + id_len:
        raise FormatError("header length")
    kek_id = raw[5 : 5 + id_len].decode("utf-8")
    rest = raw[5 + id_len :]
    return {"flags": flags, "kek_id": kek_id, "nonce": rest[:NONCE_LEN], "wrapped": rest[NONCE_LEN:]}


def wrapping_key(kek, customer_key):
    if customer_key is None:
        return kek
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=kek, info=SSE_C_INFO)
    return hkdf.derive(customer_key)


def wrap_aad(flags, kek_id, bucket, key):
    aad = DEK_AAD_PREFIX + bytes([FORMAT_VERSION, flags])
    for field in (kek_id.encode(), bucket.encode(), key.encode()):
        aad += be32(len(field)) + field
    return aad


def unwrap_dek(header, keyring, bucket, key, customer_key):
    has_sse_c = bool(header["flags"] & FLAG_SSE_C)
    if has_sse_c != (customer_key is not None):
        raise FormatError("customer key required" if has_sse_c else "customer key not expected")
    kek = keyring[header["kek_id"]]
    aad = wrap_aad(header["flags"], header["kek_id"], bucket, key)
    try:
        return AESGCM(wrapping_key(kek, customer_key)).decrypt(header["nonce"], header["wrapped"], aad)
    except InvalidTag:
        raise FormatError("data key unwrap failed") from None


def wrap_dek(kek_id, kek, dek, bucket, key, customer_key, nonce):
    flags = FLAG_SSE_C if customer_key is not None else 0
    sealed = AESGCM(wrapping_key(kek, customer_key)).encrypt(nonce, dek, wrap_aad(flags, kek_id, bucket, key))
    kek_id_bytes = kek_id.encode()
    return HEADER_MAGIC + bytes([FORMAT_VERSION, flags, len(kek_id_bytes)]) + kek_id_bytes + nonce + sealed


# === section 5: segments ===


def segment_aad(part, index, final):
    return SEGMENT_AAD_PREFIX + be32(part) + be32(index) + bytes([1 if final else 0])


def seal_stream(dek, part, stream_id, plaintext):
    gcm = AESGCM(dek)
    n = segment_count(len(plaintext))
    out = bytearray()
    for i in range(n):
        nonce = stream_id + be32(i)
        chunk = plaintext[i * SEGMENT_PLAIN : (i + 1) * SEGMENT_PLAIN]
        out += nonce + gcm.encrypt(nonce, chunk, segment_aad(part, i, i == n - 1))
    return bytes(out)


def stream_id_for(part, random6):
    return struct.pack(">H", part) + random6


def open_stream(dek, part, stored):
    p = plaintext_len(len(stored))
    if p is None:
        raise FormatError(f"stored length {len(stored)} is impossible")
    gcm = AESGCM(dek)
    n = segment_count(p)
    out = bytearray()
    stream_id = None
    for i in range(n):
        seg = stored[i * SEGMENT_STORED : min((i + 1) * SEGMENT_STORED, len(stored))]
        nonce, sealed = seg[:NONCE_LEN], seg[NONCE_LEN:]
        if stream_id is None:
            stream_id = nonce[:8]
        if nonce[:8] != stream_id:
            raise FormatError(f"segment {i}: foreign stream id")
        if nonce[8:] != be32(i):
            raise FormatError(f"segment {i}: out of place")
        try:
            out += gcm.decrypt(nonce, sealed, segment_aad(part, i, i == n - 1))
        except InvalidTag:
            raise FormatError(f"segment {i} fails authentication") from None
    return bytes(out)


# === section 6: multipart objects ===


def open_parts(dek, stored):
    p = plaintext_len(len(stored))
    if p is None:
        raise FormatError(f"stored length {len(stored)} is impossible")
    gcm = AESGCM(dek)
    n = segment_count(p)
    out = bytearray()
    prev = None  # (part, stream id, index, ended its part)
    for k in range(n):
        seg = stored[k * SEGMENT_STORED : min((k + 1) * SEGMENT_STORED, len(stored))]
        nonce, sealed = seg[:NONCE_LEN], seg[NONCE_LEN:]
        part, index, stream_id = struct.unpack(">H", nonce[:2])[0], struct.unpack(">I", nonce[8:])[0], nonce[:8]
        if prev is None:
            ok = part == 1 and index == 0
        elif prev[3]:
            ok = part == prev[0] + 1 and index == 0
        else:
            ok = part == prev[0] and stream_id == prev[1] and index == prev[2] + 1
        if not ok:
            raise FormatError(f"segment {k}: part {part} index {index} out of place")
        last = k == n - 1
        if not last and len(seg) != SEGMENT_STORED:
            raise FormatError(f"segment {k}: short segment before the end")
        ended = None
        for final in ([True] if last else [False, True]):
            try:
                out += gcm.decrypt(nonce, sealed, segment_aad(part, index, final))
                ended = final
                break
            except InvalidTag:
                pass
        if ended is None:
            raise FormatError(f"segment {k} fails authentication")
        prev = (part, stream_id, index, ended)
    return bytes(out)


# === section 14: the vectors ===


def parse_vectors(text):
    vectors, block = [], None
    for line in text.splitlines():
        line = line.rstrip()
        if block is None:
            if line == "```text":
                block = []
        elif line == "```":
            if block and block[0].startswith("vector:"):
                vectors.append(parse_block(block))
            block = None
        else:
            block.append(line)
    return vectors


VECTOR_FIELDS = {
    "vector", "kek_id", "kek", "customer_key", "dek", "wrap_nonce", "stream_id", "part", "layout", "part_lens",
    "stream_ids", "bucket", "key",
    "plaintext_len", "plaintext_hex", "plaintext_pattern", "plaintext_sha256", "header_hex", "header_metadata",
    "stored_len", "stored_hex", "stored_sha256", "final_segment_hex",
}  # fmt: skip


def parse_block(lines):
    fields = {}
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.partition(":")
        name = name.strip()
        if name not in VECTOR_FIELDS or name in fields:
            raise FormatError(f"unknown or repeated vector field {name!r}")
        fields[name] = value.strip()
    return fields


def vector_streams(v):
    """(part, stream id, plaintext length) of each stream of the body, in stored order."""
    if v.get("layout") == "parts":
        lens = [int(x) for x in v["part_lens"].split(",")]
        ids = [bytes.fromhex(x.strip()) for x in v["stream_ids"].split(",")]
        streams = [(n + 1, sid, ln) for n, (sid, ln) in enumerate(zip(ids, lens, strict=True))]
    else:
        streams = [(int(v["part"]), bytes.fromhex(v["stream_id"]), int(v["plaintext_len"]))]
    for part, sid, _ in streams:
        expect(len(sid) == 8 and sid == stream_id_for(part, sid[2:]), f"stream id of part {part}")
    return streams


def seal_body(dek, streams, plaintext):
    stored, at = b"", 0
    for part, sid, length in streams:
        stored += seal_stream(dek, part, sid, plaintext[at : at + length])
        at += length
    expect(at == len(plaintext), "stream lengths add up to plaintext_len")
    return stored


def open_body(v, dek, stored):
    if v.get("layout") == "parts":
        return open_parts(dek, stored)
    return open_stream(dek, int(v["part"]), stored)


def vector_plaintext(v):
    n = int(v["plaintext_len"])
    if "plaintext_pattern" in v:
        if v["plaintext_pattern"] != "i mod 251":
            raise FormatError(f"unknown pattern {v['plaintext_pattern']!r}")
        data = bytes(i % 251 for i in range(n))
    else:
        data = bytes.fromhex(v["plaintext_hex"])
    expect(len(data) == n, "plaintext_len")
    if "plaintext_sha256" in v:
        expect(hashlib.sha256(data).hexdigest() == v["plaintext_sha256"], "plaintext_sha256")
    return data


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def expect_rejected(what, fn):
    try:
        fn()
    except FormatError:
        return
    raise AssertionError(f"tampering not detected: {what}")


def check_vector(v):
    kek, dek = bytes.fromhex(v["kek"]), bytes.fromhex(v["dek"])
    customer_key = bytes.fromhex(v["customer_key"]) if "customer_key" in v else None
    bucket, key = v["bucket"], v["key"]

    # Reader side: the header as stored in metadata, unwrapped with the keyring.
    raw = b64url_decode(v["header_metadata"])
    expect(raw.hex() == v["header_hex"], "header_metadata decodes to header_hex")
    header = parse_header(raw)
    expect(header["kek_id"] == v["kek_id"], "header kek id")
    keyring = {v["kek_id"]: kek}
    expect(unwrap_dek(header, keyring, bucket, key, customer_key) == dek, "unwrapped data key")

    # Writer side: the same header and body from the inputs alone.
    wrapped = wrap_dek(v["kek_id"], kek, dek, bucket, key, customer_key, bytes.fromhex(v["wrap_nonce"]))
    expect(wrapped.hex() == v["header_hex"], "header_hex from inputs")
    expect(b64url_encode(wrapped) == v["header_metadata"], "header_metadata from inputs")
    plaintext = vector_plaintext(v)
    streams = vector_streams(v)
    stored = seal_body(dek, streams, plaintext)
    expect(len(stored) == int(v["stored_len"]) == ciphertext_len(len(plaintext)), "stored_len")
    if "stored_hex" in v:
        expect(stored.hex() == v["stored_hex"], "stored_hex")
    else:
        expect(hashlib.sha256(stored).hexdigest() == v["stored_sha256"], "stored_sha256")
    if "final_segment_hex" in v:
        last = (segment_count(len(plaintext)) - 1) * SEGMENT_STORED
        expect(stored[last:].hex() == v["final_segment_hex"], "final_segment_hex")

    expect(open_body(v, dek, stored) == plaintext, "opened plaintext")
    check_tampering(v, header, keyring, dek, stored, customer_key)
    if v.get("layout") == "parts":
        check_parts_tampering(dek, streams, plaintext, stored)


def check_tampering(v, header, keyring, dek, stored, customer_key):
    bucket, key = v["bucket"], v["key"]
    expect_rejected("object moved", lambda: unwrap_dek(header, keyring, bucket, key + "x", customer_key))
    expect_rejected("other bucket", lambda: unwrap_dek(header, keyring, bucket + "x", key, customer_key))
    flipped = bytearray(stored)
    flipped[-1] ^= 1
    expect_rejected("flipped tag bit", lambda: open_body(v, dek, bytes(flipped)))
    expect_rejected("one byte appended", lambda: open_body(v, dek, stored + b"\0"))
    if v.get("layout") == "parts":
        expect_rejected("tv-layout removed", lambda: open_stream(dek, 0, stored))
        return
    part = int(v["part"])
    expect_rejected("other part number", lambda: open_stream(dek, part + 1, stored))
    expect_rejected("tv-layout added", lambda: open_parts(dek, stored))
    if len(stored) > SEGMENT_STORED:
        first = stored[:SEGMENT_STORED]
        expect_rejected("cut at a segment boundary", lambda: open_stream(dek, part, first))
        swapped = stored[SEGMENT_STORED:] + first
        expect_rejected("segments reordered", lambda: open_stream(dek, part, swapped))
        foreign = seal_stream(dek, part, stream_id_for(part, b"\xff" * 6), vector_plaintext(v))
        spliced = first + foreign[SEGMENT_STORED:]
        expect_rejected("segment spliced from another stream", lambda: open_stream(dek, part, spliced))


def check_parts_tampering(dek, streams, plaintext, stored):
    """Section 9 for multipart objects: parts moved, renumbered or spliced."""
    (n1, sid1, len1), (n2, sid2, len2) = streams[:2]
    part1 = seal_stream(dek, n1, sid1, plaintext[:len1])
    part2 = stored[len(part1) :]
    expect_rejected("parts swapped", lambda: open_parts(dek, part2 + part1))
    renumbered = seal_stream(dek, n2 + 1, stream_id_for(n2 + 1, sid2[2:]), plaintext[len1 : len1 + len2])
    expect_rejected("part number skipped", lambda: open_parts(dek, part1 + renumbered))
    relabelled = bytearray(part2)
    relabelled[0:2] = struct.pack(">H", n2 + 1)
    expect_rejected("part number in a nonce changed", lambda: open_parts(dek, part1 + bytes(relabelled)))


def main():
    default = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"
    path = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TV_FORMAT_MD", default))
    try:
        vectors = parse_vectors(path.read_text(encoding="utf-8"))
        names = [v["vector"] for v in vectors]
        for required in ("empty", "hello", "pattern-65537", "multipart-2-parts"):
            expect(required in names, f"{path} lacks vector {required}")
    except (AssertionError, FormatError) as err:
        print(f"format vectors: FAILED: {err}", file=sys.stderr)
        return 1
    for v in vectors:
        try:
            check_vector(v)
        except (AssertionError, FormatError, KeyError) as err:
            print(f"vector {v['vector']}: FAILED: {err}", file=sys.stderr)
            return 1
        print(f"vector {v['vector']}: ok")
    print(f"format vectors: {len(vectors)} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
