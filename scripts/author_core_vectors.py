#!/usr/bin/env python3
"""Authoring aid for the core documents' vectors (json, encoding, signatures, keys).

Expected values are computed here with Python libraries that share no code with the
Swift implementation (hashlib, PyNaCl/libsodium, pyca cryptography, rfc8785), so that
`attest check` compares two independent computations. The script rewrites the region
between `<!-- begin vectors: NAME -->` and `<!-- end vectors: NAME -->` in spec/*.md;
the Markdown stays the source of truth and may be edited by hand afterwards.

ML-DSA-65 signing is randomized: a signature already in signatures.md (or in its data
file) that verifies over the same key and message is kept, so a rerun changes nothing.

Large inputs are written to data files under spec/data/ by vectorlib
(scripts/externalize_vectors.py, conventions.md §Data files); no separate step is needed.

Usage: python3 scripts/author_core_vectors.py   (from the repository root)
"""
import base64, hashlib, json, pathlib, re, sys
sys.setrecursionlimit(20000)  # the depth-ceiling vectors nest 1001 arrays

import nacl.bindings
import nacl.exceptions
import rfc8785
from cryptography.hazmat.primitives.asymmetric import mldsa

import vectorlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXT = ROOT / "Tests" / "ExternalVectors"
sections = {}


def valid(section, *args, **kwargs):
    vectorlib.valid(sections, section, *args, **kwargs)


def invalid(section, *args, **kwargs):
    vectorlib.invalid(sections, section, *args, **kwargs)


def h(b: bytes) -> str:
    return b.hex()


b64u = vectorlib.b64u


P25519 = 2**255 - 19
D25519 = (-121665 * pow(121666, P25519 - 2, P25519)) % P25519


def ed25519_decodes(key: bytes) -> bool:
    """Whether 32 bytes decode to a curve point as signatures.md SIG-008 says: y the low 255
    bits modulo p, and (y^2 - 1) / (d y^2 + 1) a square modulo p (RFC 8032 §5.1.3, steps 1-3,
    without the canonical-y and x = 0 checks, which verification makes)."""
    y = (int.from_bytes(key, "little") & ((1 << 255) - 1)) % P25519
    x2 = (y * y - 1) * pow(D25519 * y * y + 1, P25519 - 2, P25519) % P25519
    decodes = x2 == 0 or pow(x2, (P25519 - 1) // 2, P25519) == 1
    try:  # libsodium's point addition decodes its operands the same way
        nacl.bindings.crypto_core_ed25519_add(key, bytes([0x58]) + bytes([0x66]) * 31)
        assert decodes, key.hex()
    except nacl.exceptions.RuntimeError:
        assert not decodes, key.hex()
    return decodes


def off_curve(key: bytes) -> bytes:
    """key with its first byte raised until the 32 bytes are no curve point."""
    for b in range(key[0] + 1, key[0] + 256):
        candidate = bytes([b % 256]) + key[1:]
        if not ed25519_decodes(candidate):
            return candidate
    raise AssertionError("no off-curve neighbour")


def canonical(text: bytes) -> bytes:
    # Integers beyond 2^53 are doubles in I-JSON; rfc8785 refuses Python ints that large.
    as_double = lambda s: float(s) if abs(int(s)) > 2**53 else int(s)
    return rfc8785.dumps(json.loads(text.decode("utf-8"), parse_int=as_double))


# ---------------------------------------------------------------- json.md
def json_case(section, name, code, covers, defective: bytes, control: bytes, mutation, context=None, flags=None):
    base_id = f"json-{name}-control"
    extra = {"context": context} if context else {}
    if flags:
        extra["flags"] = flags
    valid(section, base_id, "json.parse", f"Control for {name}: the same input without the defect parses.",
          covers, {"data": h(control)}, {"canonical": h(canonical(control))}, **extra)
    invalid(section, f"json-{name}", "json.parse", f"Rejected: {mutation}.", covers,
            {"data": h(defective)}, code, base_id, mutation, **extra)


small = {"max_bytes": 17, "max_depth": 3}
S = "json-rejections"
json_case(S, "too-large", "JSON_TOO_LARGE", ["JSON-001"], b'{"a":"0123456789"}', b'{"a":"012345678"}',
          "one more byte than max_bytes", context=small)
json_case(S, "bom", "JSON_BYTE_ORDER_MARK", ["JSON-002"], b"\xef\xbb\xbf{}", b"{}", "UTF-8 byte-order mark prepended")
json_case(S, "utf8-overlong", "JSON_INVALID_UTF8", ["JSON-003"], b'"\xc0\xaf"', b'"/"', "'/' written as the overlong C0 AF")
json_case(S, "utf8-truncated", "JSON_INVALID_UTF8", ["JSON-003"], b'"\xc3"', b'"\xc3\xa9"', "second byte of a 2-byte sequence removed")
json_case(S, "utf8-stray-continuation", "JSON_INVALID_UTF8", ["JSON-003"], b'"\x80"', b'"A"', "'A' replaced by a lone continuation byte")
json_case(S, "utf8-above-max", "JSON_INVALID_UTF8", ["JSON-003"], b'"\xf4\x90\x80\x80"', b'"\xf4\x8f\xbf\xbf"',
          "U+10FFFF replaced by the encoding of U+110000")
json_case(S, "utf8-encoded-surrogate", "JSON_LONE_SURROGATE", ["JSON-003"], b'"\xed\xa0\x80"', b'"\xed\x9f\xbf"',
          "U+D7FF replaced by the UTF-8 form of U+D800")
json_case(S, "escaped-high-surrogate", "JSON_LONE_SURROGATE", ["JSON-006"], b'"\\ud800"', b'"\\ud800\\udc00"',
          "low surrogate escape removed")
json_case(S, "escaped-low-surrogate", "JSON_LONE_SURROGATE", ["JSON-006"], b'"\\udc00x"', b'"\\u00e9x"',
          "escape of U+00E9 replaced by a lone low surrogate")
json_case(S, "surrogate-then-bmp", "JSON_LONE_SURROGATE", ["JSON-006"], b'"\\ud800\\u0041"', b'"\\ud800\\udfff"',
          "low surrogate escape replaced by U+0041")
json_case(S, "duplicate-member", "JSON_DUPLICATE_MEMBER", ["JSON-005"], b'{"a":1,"a":2}', b'{"a":1,"b":2}', "second name changed from b to a")
json_case(S, "duplicate-escaped", "JSON_DUPLICATE_MEMBER", ["JSON-005"], b'{"a":1,"\\u0061":2}', b'{"a":1,"\\u0062":2}',
          "second name's escape changed from b to a")
json_case(S, "number-overflow", "JSON_NUMBER_OUT_OF_RANGE", ["JSON-007"], b"1e309", b"1e308", "exponent raised past the double range")
json_case(S, "number-negative-overflow", "JSON_NUMBER_OUT_OF_RANGE", ["JSON-007"], b"-1.8e308", b"-1.7e308", "magnitude raised past the double range")
json_case(S, "number-underflow", "JSON_NUMBER_OUT_OF_RANGE", ["JSON-007"], b"1e-400", b"0e-400", "zero significand replaced by 1")
json_case(S, "too-deep", "JSON_TOO_DEEP", ["JSON-008"], b"[[[[]]]]", b"[[[]]]", "one more level than max_depth", context=small)
json_case(S, "depth-ceiling", "JSON_TOO_DEEP", ["JSON-014"], b"[" * 1001 + b"]" * 1001, b"[" * 1000 + b"]" * 1000,
          "1001 levels where the caller allows ten million: the ceiling of 1000 holds", context={"max_depth": 10_000_000})
json_case(S, "trailing-comma", "JSON_SYNTAX", ["JSON-004"], b"[1,]", b"[1]", "trailing comma added")
json_case(S, "leading-zero", "JSON_SYNTAX", ["JSON-004"], b"01", b"1", "leading zero added")
json_case(S, "control-character", "JSON_SYNTAX", ["JSON-004"], b'"a\x01"', b'"a\\u0001"', "escape of U+0001 replaced by the raw byte")
json_case(S, "trailing-data", "JSON_SYNTAX", ["JSON-004"], b"{} {}", b"{}  ", "second value after the first")
json_case(S, "nan", "JSON_SYNTAX", ["JSON-004"], b"NaN", b"0", "number replaced by NaN")
json_case(S, "single-quotes", "JSON_SYNTAX", ["JSON-004"], b"'a'", b'"a"', "double quotes replaced by single quotes")
json_case(S, "invalid-escape", "JSON_SYNTAX", ["JSON-004"], b'"\\x41"', b'"\\u0041"', "\\u0041 written as \\x41")
json_case(S, "vertical-tab", "JSON_SYNTAX", ["JSON-004"], b"\x0b1", b" 1", "space before the value replaced by a vertical tab")

S = "json-order"
valid(S, "json-order-base", "json.parse", "Control for the order-of-checks vectors.", ["JSON-010"],
      {"data": h(b'{"a":[1,2]}')}, {"canonical": h(b'{"a":[1,2]}')}, context={"max_bytes": 11})
invalid(S, "json-order-size-before-bom", "json.parse", "Too large and with a byte-order mark: the size check comes first.",
        ["JSON-010", "ERR-002"], {"data": h(b'\xef\xbb\xbf{"a":[1,2]}')}, "JSON_TOO_LARGE", "json-order-base",
        "byte-order mark prepended, which also exceeds max_bytes", context={"max_bytes": 11})
invalid(S, "json-order-utf8-before-grammar", "json.parse", "A syntax error precedes ill-formed UTF-8: the whole-input UTF-8 check comes first.",
        ["JSON-010", "ERR-002"], {"data": h(b'{"a":[1,]\xff')}, "JSON_INVALID_UTF8", "json-order-base",
        "last bytes replaced by a trailing comma, ']' and the byte FF")
invalid(S, "json-order-document-order", "json.parse", "A duplicate member precedes an out-of-range number: document order decides.",
        ["JSON-010", "ERR-002"], {"data": h(b'{"a":1,"a":1e999}')}, "JSON_DUPLICATE_MEMBER", "json-order-base",
        "array replaced by 1 and a second member a with value 1e999")
invalid(S, "json-order-duplicate-at-name", "json.parse",
        "A duplicate name is met at its closing quote: the input ending right after it is a duplicate, not a syntax error.",
        ["JSON-010", "ERR-002"], {"data": h(b'{"a":0,"a"')}, "JSON_DUPLICATE_MEMBER", "json-order-base",
        "array replaced by 0 and a second name a, with which the input ends")
invalid(S, "json-order-high-surrogate-bad-escape", "json.parse",
        "A high-surrogate escape followed by \\u and non-hex digits is a syntax error, met before the surrogate is found lone.",
        ["JSON-010", "ERR-002"], {"data": h(b'{"a":"\\ud800\\u00zz"}')}, "JSON_SYNTAX", "json-order-base",
        "array replaced by a string of a high-surrogate escape and the escape \\u00zz")

S = "json-accept"
valid(S, "json-normalization-distinct", "json.parse", "Names that differ only by Unicode normalisation are two members.",
      ["JSON-009"], {"data": h('{"\u00e9":1,"e\u0301":2}'.encode())}, {"canonical": h(canonical('{"\u00e9":1,"e\u0301":2}'.encode()))})
valid(S, "json-noncharacters", "json.parse", "Noncharacters are Unicode scalar values and are accepted.",
      ["JSON-012"], {"data": h('["\ufdd0","\uffff","\U0010ffff"]'.encode())}, {"canonical": h(canonical('["\ufdd0","\uffff","\U0010ffff"]'.encode()))})
valid(S, "json-noncharacters-escaped", "json.parse", "Noncharacters written as escapes (U+FFFE, U+FDEF, U+10FFFF as a surrogate pair) are accepted too.",
      ["JSON-012"], {"data": h(b'["\\ufffe","\\ufdef","\\udbff\\udfff"]')},
      {"canonical": h(canonical(b'["\\ufffe","\\ufdef","\\udbff\\udfff"]'))})
valid(S, "json-depth-at-limit", "json.parse", "Nesting exactly at the default limit of 64 is accepted.",
      ["JSON-008"], {"data": h(b"[" * 64 + b"]" * 64)}, {"canonical": h(b"[" * 64 + b"]" * 64)})
valid(S, "json-escaped-pair", "json.parse", "An escaped surrogate pair decodes to one astral character.",
      ["JSON-006"], {"data": h(b'"\\ud83d\\ude02"')}, {"canonical": h('"\U0001F602"'.encode())})

S = "jcs"
for name in ["arrays", "french", "structures", "unicode", "values", "weird"]:
    data = (EXT / "jcs" / "testdata" / "input" / f"{name}.json").read_bytes()
    out = (EXT / "jcs" / "testdata" / "output" / f"{name}.json").read_bytes()
    assert canonical(data) == out, name
    valid(S, f"jcs-cyberphone-{name}", "jcs.canonicalize", f"The {name} pair of the cyberphone JCS test data.",
          ["JCS-001", "JCS-002", "JCS-003", "JCS-004"], {"data": h(data)},
          {"canonical": h(out), "sha256": hashlib.sha256(out).hexdigest()},
          source=f"cyberphone/json-canonicalization testdata/input/{name}.json @ 19d51d7fe467")
numbers = [("zero-negative", "-0", "0"), ("exp-21", "1e21", "1e+21"), ("below-exp-21", "1e20", "100000000000000000000"),
           ("small", "0.000001", "0.000001"), ("smaller", "1e-7", "1e-7"), ("min-subnormal", "5e-324", "5e-324"),
           ("max", "1.7976931348623157e308", "1.7976931348623157e+308"), ("shortest", "0.1000000000000000055511151231257827", "0.1"),
           ("integer-2-53", "9007199254740993", "9007199254740992"), ("trailing-zeros", "1.50", "1.5")]
for name, text, expect in numbers:
    assert canonical(text.encode()).decode() == expect, (name, canonical(text.encode()))
    valid(S, f"jcs-number-{name}", "jcs.canonicalize", f"Number {text} serializes as {expect}.", ["JCS-003"],
          {"data": h(text.encode())}, {"canonical": h(expect.encode()), "sha256": hashlib.sha256(expect.encode()).hexdigest()})
sorting = '{"\U0001F600":1,"\ufb33":2,"a":3,"B":4,"\u00e9":5}'.encode()
valid(S, "jcs-sort-utf16", "jcs.canonicalize", "Names sort by UTF-16 code units: U+1F600 (D83D DE00) before U+FB33.",
      ["JCS-002"], {"data": h(sorting)}, {"canonical": h(canonical(sorting)), "sha256": hashlib.sha256(canonical(sorting)).hexdigest()})
escapes = b'"\\u0000\\u001f\\u007f\\"\\\\/\\b\\f\\n\\r\\t\\u00e9"'
valid(S, "jcs-string-escapes", "jcs.canonicalize", "Only quote, backslash and C0 controls are escaped; DEL and / are literal.",
      ["JCS-004"], {"data": h(escapes)}, {"canonical": h(canonical(escapes)), "sha256": hashlib.sha256(canonical(escapes)).hexdigest()})
invalid(S, "jcs-rejects-duplicate", "jcs.canonicalize", "Canonicalization parses strictly first: a duplicate member is rejected.",
        ["JCS-005"], {"data": h(b'{"b":1,"b":2}')}, "JSON_DUPLICATE_MEMBER", "jcs-sort-utf16-strict-base", "a second member b added")
valid(S, "jcs-sort-utf16-strict-base", "jcs.canonicalize", "Control for jcs-rejects-duplicate.", ["JCS-005"],
      {"data": h(b'{"b":1}')}, {"canonical": h(b'{"b":1}'), "sha256": hashlib.sha256(b'{"b":1}').hexdigest()})

# ---------------------------------------------------------------- encoding.md
S = "base64url"
def b64_case(name, code, covers, defective, control, mutation):
    valid(S, f"enc-{name}-control", "base64url.decode", f"Control for {name}.", covers,
          {"encoded": control}, {"bytes": h(base64.urlsafe_b64decode(control + "=" * (-len(control) % 4)))})
    invalid(S, f"enc-{name}", "base64url.decode", f"Rejected: {mutation}.", covers, {"encoded": defective}, code,
            f"enc-{name}-control", mutation)
b64_case("padding", "B64_PADDING", ["ENC-002"], "Zm9vYg==", "Zm9vYg", "padding added")
b64_case("whitespace", "B64_WHITESPACE", ["ENC-003"], "Zm9v Yg", "Zm9vYg", "a space inserted")
b64_case("line-feed", "B64_WHITESPACE", ["ENC-003"], "Zm9v\nYg", "Zm9vYg", "a line feed inserted")
b64_case("form-feed", "B64_INVALID_CHARACTER", ["ENC-003", "ENC-004"], "Zm9v\fYg", "Zm9vYg",
         "a form feed inserted (whitespace, but not one of the four that B64_WHITESPACE names)")
b64_case("no-break-space", "B64_INVALID_CHARACTER", ["ENC-004"], "Zm9v\u00a0Yg", "Zm9vYg", "a U+00A0 NO-BREAK SPACE inserted")
b64_case("plus", "B64_INVALID_CHARACTER", ["ENC-004"], "a+8", "a-8", "'-' replaced by the standard alphabet's '+'")
b64_case("slash", "B64_INVALID_CHARACTER", ["ENC-004"], "a/8", "a_8", "'_' replaced by the standard alphabet's '/'")
b64_case("length", "B64_INVALID_LENGTH", ["ENC-005"], "Zm9vY", "Zm9vYg", "last character removed, leaving 4k+1")
b64_case("trailing-bits-2", "B64_NONZERO_TRAILING_BITS", ["ENC-006"], "Zh", "Zg", "an unused low bit set")
b64_case("trailing-bits-4", "B64_NONZERO_TRAILING_BITS", ["ENC-006"], "Zm9vYh", "Zm9vYg", "an unused low bit set")
invalid(S, "enc-order-character-before-length", "base64url.decode", "A bad character and a bad length: the character scan comes first.",
        ["ENC-007", "ERR-002"], {"encoded": "Zm9v+"}, "B64_INVALID_CHARACTER", "enc-length-control", "last character replaced by '+' after a 4-character group")
for text in ["", "Zg", "Zm8", "Zm9v", "Zm9vYmFy", "_-8"]:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    valid(S, f"enc-roundtrip-{len(raw)}-{text.lower() or 'empty'}".replace("_", "u").replace("--", "-"), "base64url.encode",
          f"{len(raw)} bytes encode without padding.", ["ENC-001"], {"bytes": h(raw)}, {"encoded": text})

# ---------------------------------------------------------------- signatures.md
values = json.loads((EXT / "rfc-values.json").read_text())
S = "sha256"
for name, data in [("empty", b""), ("abc", b"abc"), ("two-blocks", b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")]:
    valid(S, f"sig-sha256-{name}", "sha256.digest", f"SHA-256 of {name!r}.", ["SIG-001"], {"data": h(data)},
          {"digest": hashlib.sha256(data).hexdigest()}, source="FIPS 180-4 examples")

S = "ed25519"
for t in values["rfc8032_section_7_1"]:
    n = t["test"].split()[-1]
    valid(S, f"sig-ed25519-rfc8032-test{n}", "signature.verify", f"RFC 8032 §7.1 {t['test']} verifies.", ["SIG-002"],
          {"alg": "Ed25519", "public_key": t["public_key_hex"], "message": t["message_hex"], "signature": t["signature_hex"]},
          {}, source=f"RFC 8032 section 7.1 {t['test']}")
    valid(S, f"sig-ed25519-rfc8032-test{n}-sign", "signature.sign", f"Signing RFC 8032 {t['test']} reproduces its signature.",
          ["SIG-002"], {"alg": "Ed25519", "seed": t["secret_key_hex"], "message": t["message_hex"]},
          {"public_key": t["public_key_hex"], "signature": t["signature_hex"], "signed_bytes": t["message_hex"]},
          source=f"RFC 8032 section 7.1 {t['test']}")
t1 = values["rfc8032_section_7_1"][0]
sig = bytes.fromhex(t1["signature_hex"])
L = 2**252 + 27742317777372353535851937790883648493
s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
invalid(S, "sig-ed25519-s-not-canonical", "signature.verify", "S + L in place of S (malleability) is rejected.",
        ["SIG-004"], {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": "", "signature": h(sig[:32] + s_plus_l)},
        "SIG_INVALID", "sig-ed25519-rfc8032-test1", "S replaced by S + L", flags=["SignatureMalleability"])
invalid(S, "sig-ed25519-bit-flip", "signature.verify", "One flipped bit in R is rejected.", ["SIG-002"],
        {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": "", "signature": h(bytes([sig[0] ^ 1]) + sig[1:])},
        "SIG_INVALID", "sig-ed25519-rfc8032-test1", "bit 0 of R flipped")
invalid(S, "sig-ed25519-other-message", "signature.verify", "The signature of the empty message does not verify over 0x72.", ["SIG-002"],
        {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": "72", "signature": t1["signature_hex"]},
        "SIG_INVALID", "sig-ed25519-rfc8032-test1", "message changed from empty to 72")
for name, sig_bad, mutation in [("truncated", sig[:63], "last byte removed"), ("extended", sig + b"\x00", "a zero byte appended"),
                                 ("empty", b"", "signature emptied")]:
    invalid(S, f"sig-ed25519-length-{name}", "signature.verify", f"A {len(sig_bad)}-byte signature is rejected before verification.",
            ["SIG-003"], {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": "", "signature": h(sig_bad)},
            "SIG_LENGTH", "sig-ed25519-rfc8032-test1", mutation)
invalid(S, "sig-ed25519-key-length", "signature.verify", "A 31-byte public key is rejected.", ["SIG-008"],
        {"alg": "Ed25519", "public_key": t1["public_key_hex"][:62], "message": "", "signature": t1["signature_hex"]},
        "KEY_INVALID", "sig-ed25519-rfc8032-test1", "last byte of the public key removed")
assert ed25519_decodes(bytes.fromhex(t1["public_key_hex"]))
OFF = off_curve(bytes.fromhex(t1["public_key_hex"]))
invalid(S, "sig-ed25519-key-off-curve", "signature.verify", "A 32-byte public key that is the encoding of no curve point is rejected as a key, before the signature.",
        ["SIG-008"], {"alg": "Ed25519", "public_key": h(OFF), "message": "", "signature": t1["signature_hex"]},
        "KEY_INVALID", "sig-ed25519-rfc8032-test1",
        f"first byte of the public key changed from {t1['public_key_hex'][:2]} to {OFF[:1].hex()}: (y^2-1)/(dy^2+1) has no square root")
invalid(S, "sig-ed25519-order-key-before-signature", "signature.verify", "A short key and a short signature: the key is checked first.",
        ["SIG-008", "ERR-002"], {"alg": "Ed25519", "public_key": t1["public_key_hex"][:62], "message": "", "signature": h(sig[:63])},
        "KEY_INVALID", "sig-ed25519-rfc8032-test1", "last byte of both the key and the signature removed")
invalid(S, "sig-order-alg-before-key", "signature.verify", "An unknown algorithm and a short key: the algorithm is checked first.",
        ["SIG-011", "ERR-002"], {"alg": "EdDSA", "public_key": t1["public_key_hex"][:62], "message": "", "signature": t1["signature_hex"]},
        "ALG_UNSUPPORTED", "sig-ed25519-rfc8032-test1", "alg EdDSA and the last byte of the public key removed")
invalid(S, "sig-alg-lowercase", "signature.verify", "Suite names compare by code points, case included: ed25519 is no suite.",
        ["SIG-011"], {"alg": "ed25519", "public_key": t1["public_key_hex"], "message": "", "signature": t1["signature_hex"]},
        "ALG_UNSUPPORTED", "sig-ed25519-rfc8032-test1", "alg Ed25519 written in lowercase")
invalid(S, "sig-unknown-alg", "signature.verify", "An algorithm outside the suites is rejected.", ["SIG-011"],
        {"alg": "EdDSA", "public_key": t1["public_key_hex"], "message": "", "signature": t1["signature_hex"]},
        "ALG_UNSUPPORTED", "sig-ed25519-rfc8032-test1", "alg Ed25519 replaced by the polymorphic EdDSA")

cctv = {v["number"]: v for v in json.loads((EXT / "cctv-ed25519" / "ed25519vectors.json").read_text())}
def cctv_input(n):
    v = cctv[n]
    return {"alg": "Ed25519", "public_key": v["key"], "message": h(v["msg"].encode()), "signature": v["sig"]}
def nacl_ok(inp):
    try:
        nacl.bindings.crypto_sign_open(bytes.fromhex(inp["signature"]) + bytes.fromhex(inp["message"]), bytes.fromhex(inp["public_key"]))
        return True
    except Exception:
        return False
assert nacl_ok(cctv_input(305)) and nacl_ok(cctv_input(50)) and nacl_ok(cctv_input(7))
valid(S, "sig-ed25519-cctv-305", "signature.verify", "CCTV vector 305 (no flags) verifies.", ["SIG-002"], cctv_input(305), {},
      source="C2SP/CCTV ed25519vectors.json number 305")
valid(S, "sig-ed25519-cctv-low-order-component-a", "signature.verify",
      "A key with a low-order component that is not itself of small order is accepted (cofactorless equation).",
      ["SIG-005"], cctv_input(50), {}, flags=["low_order_component_A"], source="C2SP/CCTV ed25519vectors.json number 50")
valid(S, "sig-ed25519-cctv-low-order-components-a-r", "signature.verify",
      "Low-order components in both A and R, neither of small order, are accepted.",
      ["SIG-005"], cctv_input(7), {}, flags=["low_order_component_A", "low_order_component_R"],
      source="C2SP/CCTV ed25519vectors.json number 7")
for n, name, flags in [(303, "low-order-a", ["low_order_A"]), (304, "low-order-r", ["low_order_R"]),
                       (307, "non-canonical-a", ["low_order_A", "non_canonical_A"]),
                       (316, "non-canonical-r", ["low_order_R", "non_canonical_R"])]:
    assert not nacl_ok(cctv_input(n))
    invalid(S, f"sig-ed25519-cctv-{name}", "signature.verify", f"CCTV vector {n} ({', '.join(flags)}) is rejected.",
            ["SIG-004"], cctv_input(n), "SIG_INVALID", "sig-ed25519-cctv-305",
            f"key, message and signature replaced by CCTV vector {n}", flags=flags,
            source=f"C2SP/CCTV ed25519vectors.json number {n}")

S = "mldsa"
seed = bytes(range(32))
sk = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)
pk = sk.public_key().public_bytes_raw()
msg = b"MCP attestation ML-DSA-65 vector"
msig = sk.sign(msg)
# The committed signature: inline in the block, or in its data file (conventions.md §Data files).
committed_file = ROOT / "spec" / "data" / "signatures" / "sig-mldsa65-verify" / "signature.txt"
if committed_file.is_file():
    committed = re.fullmatch(r"([0-9a-f]+)", committed_file.read_text())
else:
    committed = re.search(r'"id": "sig-mldsa65-verify".*?"signature": "([0-9a-f]+)"', (ROOT / "spec" / "signatures.md").read_text(), re.S)
if committed:
    try:
        sk.public_key().verify(bytes.fromhex(committed.group(1)), msg)
        msig = bytes.fromhex(committed.group(1))
    except Exception:
        pass
assert len(pk) == 1952 and len(msig) == 3309
valid(S, "sig-mldsa65-verify", "signature.verify", "An ML-DSA-65 signature (empty context) verifies.", ["SIG-006"],
      {"alg": "ML-DSA-65", "public_key": h(pk), "message": h(msg), "signature": h(msig)}, {})
valid(S, "sig-mldsa65-keygen", "signature.sign", "The public key derives deterministically from the 32-byte seed; the signature is randomized and not compared.",
      ["SIG-006"], {"alg": "ML-DSA-65", "seed": h(seed), "message": h(msg)}, {"public_key": h(pk), "signed_bytes": h(msg)})
invalid(S, "sig-mldsa65-other-message", "signature.verify", "The signature does not verify over another message.", ["SIG-006"],
        {"alg": "ML-DSA-65", "public_key": h(pk), "message": h(msg + b"!"), "signature": h(msig)}, "SIG_INVALID",
        "sig-mldsa65-verify", "'!' appended to the message")
invalid(S, "sig-mldsa65-length", "signature.verify", "A 3308-byte ML-DSA-65 signature is rejected before verification.", ["SIG-007"],
        {"alg": "ML-DSA-65", "public_key": h(pk), "message": h(msg), "signature": h(msig[:-1])}, "SIG_LENGTH",
        "sig-mldsa65-verify", "last byte of the signature removed")
invalid(S, "sig-mldsa65-key-length", "signature.verify", "A 1951-byte ML-DSA-65 public key is rejected.", ["SIG-008"],
        {"alg": "ML-DSA-65", "public_key": h(pk[:-1]), "message": h(msg), "signature": h(msig)}, "KEY_INVALID",
        "sig-mldsa65-verify", "last byte of the public key removed")
invalid(S, "sig-mldsa65-as-ed25519", "signature.verify", "An ML-DSA-65 key presented as Ed25519 is rejected by length.", ["SIG-008"],
        {"alg": "Ed25519", "public_key": h(pk), "message": h(msg), "signature": h(msig)}, "KEY_INVALID",
        "sig-mldsa65-verify", "alg changed from ML-DSA-65 to Ed25519")

S = "domains"
payload = b'{"seq":1}'
dsk = bytes.fromhex(t1["secret_key_hex"])
def domain_bytes(label, p):
    return b"MCP-ATTEST-v1:" + label.encode() + b"\x00" + p
def ed_sign(seed32, m):
    pk_, sk_ = nacl.bindings.crypto_sign_seed_keypair(seed32)
    return nacl.bindings.crypto_sign(m, sk_)[:64]
dsig = ed_sign(dsk, domain_bytes("receipt", payload))
valid(S, "sig-domain-sign-receipt", "signature.sign", "A receipt signature covers the domain prefix, the label, a zero byte and the payload.",
      ["SIG-009"], {"alg": "Ed25519", "seed": t1["secret_key_hex"], "message": h(payload), "domain": "receipt"},
      {"public_key": t1["public_key_hex"], "signature": h(dsig), "signed_bytes": h(domain_bytes("receipt", payload))})
valid(S, "sig-domain-verify-receipt", "signature.verify", "The receipt signature verifies as a receipt.", ["SIG-009", "SIG-010"],
      {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": h(payload), "signature": h(dsig), "domain": "receipt"}, {})
for other in ["artifact", "mandate", "bundle", "operator-attestation"]:
    invalid(S, f"sig-domain-receipt-as-{other}", "signature.verify", f"A receipt signature presented as a {other} signature is rejected.",
            ["SIG-010"], {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": h(payload), "signature": h(dsig), "domain": other},
            "SIG_INVALID", "sig-domain-verify-receipt", f"domain changed from receipt to {other}")
invalid(S, "sig-domain-stripped", "signature.verify", "A domain-separated signature does not verify over the bare payload.", ["SIG-009"],
        {"alg": "Ed25519", "public_key": t1["public_key_hex"], "message": h(payload), "signature": h(dsig)},
        "SIG_INVALID", "sig-domain-verify-receipt", "domain removed")

# ---------------------------------------------------------------- keys.md
S = "jwk"
x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
tp = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
canon = b'{"crv":"Ed25519","kty":"OKP","x":"' + x.encode() + b'"}'
assert b64u(hashlib.sha256(canon).digest()) == tp
base_jwk = {"kty": "OKP", "crv": "Ed25519", "x": x}
valid(S, "key-jwk-rfc8037", "jwk.thumbprint", "RFC 8037 A.2 key; its thumbprint is RFC 8037 A.3's.", ["KEY-001", "KEY-003"],
      {"jwk": base_jwk}, {"thumbprint": tp, "canonical": h(canon)}, source="RFC 8037 Appendix A.2, A.3")
full = dict(base_jwk, kid=tp, use="sig", alg="Ed25519", key_ops=["verify"])
valid(S, "key-jwk-all-optional-members", "jwk.thumbprint", "kid (the thumbprint), use, alg and key_ops are allowed.",
      ["KEY-001", "KEY-008"], {"jwk": full}, {"thumbprint": tp, "canonical": h(canon)})
def jwk_neg(name, code, covers, jwk, mutation, base="key-jwk-rfc8037"):
    invalid(S, f"key-jwk-{name}", "jwk.thumbprint", f"Rejected: {mutation}.", covers, {"jwk": jwk}, code, base, mutation)
jwk_neg("private-d", "JWK_PRIVATE_MATERIAL", ["KEY-004"], dict(base_jwk, d="nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"), "the private member d added (RFC 8037 A.1)")
jwk_neg("missing-x", "JWK_MISSING_MEMBER", ["KEY-005"], {"kty": "OKP", "crv": "Ed25519"}, "x removed")
jwk_neg("missing-kty", "JWK_MISSING_MEMBER", ["KEY-005"], {"crv": "Ed25519", "x": x}, "kty removed")
jwk_neg("x25519", "JWK_UNSUPPORTED_KEY_TYPE", ["KEY-006"], dict(base_jwk, crv="X25519"), "crv changed to X25519")
jwk_neg("ec", "JWK_UNSUPPORTED_KEY_TYPE", ["KEY-006"], {"kty": "EC", "crv": "Ed25519", "x": x}, "kty changed to EC")
jwk_neg("x5u", "JWK_UNKNOWN_MEMBER", ["KEY-007"], dict(base_jwk, x5u="https://example.com/k"), "an x5u member added")
jwk_neg("kid-not-thumbprint", "JWK_INVALID_MEMBER", ["KEY-003"], dict(base_jwk, kid="key-1"), "a kid that is not the thumbprint added")
jwk_neg("alg-eddsa", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, alg="EdDSA"), "alg EdDSA added")
jwk_neg("use-enc", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, use="enc"), "use enc added")
jwk_neg("key-ops-sign", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, key_ops=["sign"]), "key_ops [sign] added")
jwk_neg("x-padded", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, x=x + "="), "padding appended to x")
jwk_neg("x-short", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, x=x[:-2]), "x shortened to 31 bytes")
ALPH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
assert ALPH.index(x[-1]) % 4 == 0
jwk_neg("x-trailing-bits", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, x=x[:-1] + ALPH[ALPH.index(x[-1]) + 1]),
        "last character of x moved up one place in the alphabet (the same 32 bytes, a non-zero unused bit)")
jwk_neg("x-number", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, x=1), "x replaced by a number")
X_OFF = b64u(off_curve(base64.urlsafe_b64decode(x + "=")))
jwk_neg("x-off-curve", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, x=X_OFF),
        "x replaced by 32 bytes, its first byte changed, that encode no curve point")
KELVIN = "\u212a"
jwk_neg("kty-kelvin", "JWK_UNSUPPORTED_KEY_TYPE", ["KEY-006"], dict(base_jwk, kty="O" + KELVIN + "P"),
        "kty OKP spelled with U+212A KELVIN SIGN for its K (canonically equivalent, other code points)")
tp_kelvin = tp[:tp.rindex("K")] + KELVIN + tp[tp.rindex("K") + 1:]
jwk_neg("kid-kelvin", "JWK_INVALID_MEMBER", ["KEY-003"], dict(base_jwk, kid=tp_kelvin),
        "kid: the thumbprint with its last K spelled as U+212A KELVIN SIGN")
jwk_neg("order-private-before-type", "JWK_PRIVATE_MATERIAL", ["KEY-004", "ERR-002"], {"kty": "oct", "k": "AAAA"},
        "replaced by a symmetric key (unsupported type and private material: private material is checked first)")
jwk_neg("kty-number", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, kty=1), "kty replaced by the number 1 (a wrong type, not an unsupported key type)")
jwk_neg("crv-null", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, crv=None), "crv replaced by null (present, of the wrong type)")
jwk_neg("key-ops-string", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, key_ops="verify"), "key_ops verify added as a string, not an array")
jwk_neg("kid-empty", "JWK_INVALID_MEMBER", ["KEY-003"], dict(base_jwk, kid=""), "an empty kid added")
jwk_neg("kid-number", "JWK_INVALID_MEMBER", ["KEY-008"], dict(base_jwk, kid=7), "a kid that is a number added")
jwk_neg("order-crv-before-x", "JWK_UNSUPPORTED_KEY_TYPE", ["KEY-006", "ERR-002"], {"kty": "OKP", "crv": "Ed448"},
        "crv changed to Ed448 and x removed (the curve is decided before x is looked for)")
jwk_neg("order-unknown-before-alg", "JWK_UNKNOWN_MEMBER", ["KEY-007", "ERR-002"], dict(base_jwk, alg="EdDSA", x5u="https://example.com/k"),
        "alg EdDSA and an x5u member added (members outside the type are checked before the values of alg, use and key_ops)")
jwk_neg("order-base64-before-unknown", "JWK_INVALID_MEMBER", ["KEY-008", "ERR-002"], dict(base_jwk, x=x + "=", x5u="https://example.com/k"),
        "padding appended to x and an x5u member added (the key member's base64url is checked first)")

mpk = b64u(pk)
mcanon = ('{"alg":"ML-DSA-65","kty":"AKP","pub":"' + mpk + '"}').encode()
mtp = b64u(hashlib.sha256(mcanon).digest())
valid(S, "key-jwk-mldsa65", "jwk.thumbprint", "An ML-DSA-65 key as an AKP JWK and its thumbprint over alg, kty and pub.",
      ["KEY-002", "KEY-003"], {"jwk": {"kty": "AKP", "alg": "ML-DSA-65", "pub": mpk}}, {"thumbprint": mtp, "canonical": h(mcanon)})
jwk_neg("akp-mldsa44", "JWK_UNSUPPORTED_KEY_TYPE", ["KEY-006"], {"kty": "AKP", "alg": "ML-DSA-44", "pub": mpk}, "alg changed to ML-DSA-44",
        base="key-jwk-mldsa65")
jwk_neg("akp-priv", "JWK_PRIVATE_MATERIAL", ["KEY-004"], {"kty": "AKP", "alg": "ML-DSA-65", "pub": mpk, "priv": b64u(seed)},
        "the private member priv added", base="key-jwk-mldsa65")

S = "jwks"
other = nacl.bindings.crypto_sign_seed_keypair(bytes(32))[0]
ojwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(other)}
otp = b64u(hashlib.sha256(('{"crv":"Ed25519","kty":"OKP","x":"' + b64u(other) + '"}').encode()).digest())
valid(S, "key-jwks-two", "jwks.parse", "A set of two keys, listed by thumbprint in order.", ["KEY-009"],
      {"jwks": {"keys": [base_jwk, ojwk]}}, {"kids": [tp, otp]})
invalid(S, "key-jwks-duplicate", "jwks.parse", "The same key twice is rejected.", ["KEY-009"],
        {"jwks": {"keys": [base_jwk, dict(base_jwk, kid=tp)]}}, "JWKS_DUPLICATE_KID", "key-jwks-two", "second key replaced by the first with its kid")
invalid(S, "key-jwks-off-curve", "jwks.parse", "A set with one key that encodes no curve point is rejected whole.", ["KEY-008"],
        {"jwks": {"keys": [base_jwk, dict(ojwk, x=b64u(off_curve(other)))]}}, "JWK_INVALID_MEMBER", "key-jwks-two",
        "the second key's x replaced by 32 bytes, its first byte changed, that encode no curve point")
invalid(S, "key-jwks-extra-member", "jwks.parse", "A member beside keys is rejected.", ["KEY-009"],
        {"jwks": {"keys": [base_jwk, ojwk], "issuer": "https://x"}}, "JWK_UNKNOWN_MEMBER", "key-jwks-two", "an issuer member added")
invalid(S, "key-jwks-order-key-before-duplicate", "jwks.parse",
        "The same key twice and then a defective key: every key is parsed before duplicates are looked for.",
        ["KEY-009", "ERR-002"], {"jwks": {"keys": [base_jwk, base_jwk, dict(ojwk, x=b64u(off_curve(other)))]}},
        "JWK_INVALID_MEMBER", "key-jwks-two",
        "the first key inserted a second time, and the last key's x replaced by 32 bytes that encode no curve point")
valid(S, "key-jwks-empty", "jwks.parse", "An empty keys array is a key set that holds no key.", ["KEY-009"],
      {"jwks": {"keys": []}}, {"kids": []})
invalid(S, "key-jwks-keys-object", "jwks.parse", "A keys member that is not an array is rejected.", ["KEY-009"],
        {"jwks": {"keys": {"0": base_jwk}}}, "JWK_INVALID_MEMBER", "key-jwks-empty", "keys replaced by an object holding one key")
many = [{"kty": "OKP", "crv": "Ed25519", "x": b64u(nacl.bindings.crypto_sign_seed_keypair(bytes([i]) * 32)[0])} for i in range(65)]
valid(S, "key-jwks-64", "jwks.parse", "64 keys, the limit, are accepted.", ["KEY-010"], {"jwks": {"keys": many[:64]}}, {})
invalid(S, "key-jwks-65", "jwks.parse", "65 keys exceed the limit.", ["KEY-010"], {"jwks": {"keys": many}}, "JWKS_TOO_MANY_KEYS",
        "key-jwks-64", "a 65th key added")
invalid(S, "key-jwks-order-count-before-keys", "jwks.parse", "65 keys, the last defective: the count is checked before any key is parsed.",
        ["KEY-010", "ERR-002"], {"jwks": {"keys": many[:64] + [dict(many[64], d="AAAA")]}}, "JWKS_TOO_MANY_KEYS",
        "key-jwks-64", "a 65th key added that carries the private member d")


# ---------------------------------------------------------------- write
vectorlib.write(sections, strict=False)
