#!/usr/bin/env python3
"""Self-test of attest_impl.py against public known answers and hand-written cases.

Run: python3 selftest.py   (last line: "N passed, M failed"; exit 1 on any failure)

External vectors are read from ../../../Tests/ExternalVectors/ when
that directory exists, else from /work/shared/external (override with
ATTEST_EXTERNAL_VECTORS=<dir>). Both have the layout described in shared/external's
README: rfc-values.json, jcs/, wycheproof/, cctv-ed25519/.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import attest_impl as impl  # noqa: E402

IMPL = HERE / "attest_impl.py"


def vectors_dir() -> Path:
    if os.environ.get("ATTEST_EXTERNAL_VECTORS"):
        return Path(os.environ["ATTEST_EXTERNAL_VECTORS"])
    local = HERE / "../../../Tests/ExternalVectors"
    return local.resolve() if local.is_dir() else Path("/work/shared/external")


VECTORS = vectors_dir()
passed = 0
failures: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    global passed
    if ok:
        passed += 1
    else:
        failures.append(f"{name}: {detail}" if detail else name)


def call(op: str, inp: dict, context: dict | None = None) -> dict:
    return impl.handle(op, {"context": context or {}, "input": inp})


def expect_invalid(name: str, op: str, inp: dict, code: str, context: dict | None = None) -> None:
    got = call(op, inp, context)
    got.pop("message", None)  # optional free text
    check(name, got == {"result": "invalid", "error": code}, f"expected {code}, got {got}")


def expect_valid(name: str, op: str, inp: dict, output: dict | None = None, context: dict | None = None) -> dict:
    got = call(op, inp, context)
    ok = got.get("result") == "valid" and (output is None or got.get("output") == output)
    check(name, ok, f"expected valid {output}, got {got}")
    return got.get("output", {})


def load_json(relative: str):
    return json.loads((VECTORS / relative).read_bytes())


# --- RFC 8032 §7.1 and RFC 8037 Appendix A ---------------------------------------------


def test_rfc_values() -> None:
    rfc = load_json("rfc-values.json")
    for t in rfc["rfc8032_section_7_1"]:
        out = call("signature.sign", {"alg": "Ed25519", "seed": t["secret_key_hex"], "message": t["message_hex"]})
        check(f"{t['id']} sign", out.get("output") == {
            "public_key": t["public_key_hex"], "signature": t["signature_hex"], "signed_bytes": t["message_hex"]}, str(out))
        inp = {"alg": "Ed25519", "public_key": t["public_key_hex"], "message": t["message_hex"], "signature": t["signature_hex"]}
        expect_valid(f"{t['id']} verify", "signature.verify", inp, {})
        tampered = dict(inp, message=t["message_hex"] + "00")
        expect_invalid(f"{t['id']} verify tampered", "signature.verify", tampered, "SIG_INVALID")

    a = {e["id"]: e for e in rfc["rfc8037_appendix_a"]}
    a3 = a["rfc8037-A.3"]
    expect_valid("rfc8037-A.3 thumbprint", "jwk.thumbprint", {"jwk": a["rfc8037-A.2"]["jwk"]},
                 {"thumbprint": a3["thumbprint"], "canonical": a3["canonical_json"].encode().hex()})
    check("rfc8037-A.3 sha256", impl.hashlib.sha256(a3["canonical_json"].encode()).hexdigest() == a3["sha256_hex"])
    expect_invalid("rfc8037-A.1 private JWK", "jwk.thumbprint", {"jwk": a["rfc8037-A.1"]["jwk"]}, "JWK_PRIVATE_MATERIAL")


# --- RFC 8785 (cyberphone testdata and the ES6 number file) ----------------------------


def test_jcs_testdata() -> None:
    for path in sorted((VECTORS / "jcs/testdata/input").glob("*.json")):
        expected = (VECTORS / "jcs/testdata/output" / path.name).read_bytes()
        data = path.read_bytes().hex()
        expect_valid(f"jcs {path.name} json.parse", "json.parse", {"data": data}, {"canonical": expected.hex()})
        expect_valid(f"jcs {path.name} jcs.canonicalize", "jcs.canonicalize", {"data": data},
                     {"canonical": expected.hex(), "sha256": impl.hashlib.sha256(expected).hexdigest()})


def test_es6_numbers() -> None:
    # One check for the whole file: each line "hex-bits,expected". The double must
    # serialize to `expected`, and parsing `expected` must give it back.
    path = VECTORS / "jcs/es6testfile100k.txt"
    bad = []
    lines = 0
    with path.open() as f:
        for line in f:
            bits, expected = line.rstrip("\n").split(",")
            value = struct.unpack(">d", int(bits, 16).to_bytes(8, "big"))[0]
            lines += 1
            if impl.canonicalize(value).decode() != expected:
                bad.append(line.strip())
            elif impl.canonicalize(impl.parse_strict_json(expected.encode())).decode() != expected:
                bad.append("reparse " + line.strip())
    check(f"es6testfile100k ({lines} numbers)", not bad and lines == 100000, f"{len(bad)} wrong, first {bad[:3]}")


# --- Ed25519 policy: Wycheproof and CCTV ------------------------------------------------


def backends() -> list[tuple[str, bool]]:
    # Both Ed25519 backends must give libsodium's verdicts; PyNaCl only if installed.
    return ([("pynacl", True)] if impl.HAVE_NACL else []) + [("pyca+checks", False)]


def test_wycheproof() -> None:
    data = load_json("wycheproof/testvectors_v1/ed25519_test.json")
    for group in data["testGroups"]:
        pk = group["publicKey"]["pk"]
        for t in group["tests"]:
            want_valid = t["result"] == "valid"
            got = call("signature.verify", {"alg": "Ed25519", "public_key": pk, "message": t["msg"], "signature": t["sig"]})
            check(f"wycheproof tc{t['tcId']} op", (got["result"] == "valid") == want_valid, str(got))
            sig = bytes.fromhex(t["sig"])
            if len(sig) == 64:  # the op rejects other lengths before any backend runs
                for name, use_nacl in backends():
                    ok = impl.ed25519_verify_libsodium_policy(bytes.fromhex(pk), bytes.fromhex(t["msg"]), sig, use_nacl)
                    check(f"wycheproof tc{t['tcId']} {name}", ok == want_valid)


def test_cctv() -> None:
    vectors = load_json("cctv-ed25519/ed25519vectors.json")
    verdicts = {v["number"]: v["libsodium"] for v in load_json("cctv-ed25519/libsodium-verdicts.json")["vectors"]}
    check("cctv vector count", len(vectors) == 914 and len(verdicts) == 914)
    for v in vectors:
        want = verdicts[v["number"]] == "accept"
        msg = v["msg"].encode("utf-8")  # msg is text, not hex
        got = call("signature.verify", {"alg": "Ed25519", "public_key": v["key"], "message": msg.hex(), "signature": v["sig"]})
        check(f"cctv {v['number']} op", (got["result"] == "valid") == want, f"{v['flags']} {got}")
        for name, use_nacl in backends():
            ok = impl.ed25519_verify_libsodium_policy(bytes.fromhex(v["key"]), msg, bytes.fromhex(v["sig"]), use_nacl)
            check(f"cctv {v['number']} {name}", ok == want, str(v["flags"]))


# --- Strict JSON: hand-written cases ------------------------------------------------------


def j(text: str | bytes) -> dict:
    return {"data": (text.encode("utf-8") if isinstance(text, str) else text).hex()}


def test_json_errors() -> None:
    cases = [
        # (name, data, code, context)
        ("too large", "[1,2]", "JSON_TOO_LARGE", {"max_bytes": 4}),
        ("too large beats BOM", b"\xef\xbb\xbf{}", "JSON_TOO_LARGE", {"max_bytes": 4}),
        ("BOM", b"\xef\xbb\xbf{}", "JSON_BYTE_ORDER_MARK", None),
        ("BOM beats bad UTF-8", b"\xef\xbb\xbf\xff", "JSON_BYTE_ORDER_MARK", None),
        ("encoded surrogate", b'["\xed\xa0\x80"]', "JSON_LONE_SURROGATE", None),
        ("encoded low surrogate", b'"\xed\xbf\xbf"', "JSON_LONE_SURROGATE", None),
        ("truncated encoded surrogate", b'"\xed\xa0', "JSON_INVALID_UTF8", None),
        ("overlong", b'"\xc0\xaf"', "JSON_INVALID_UTF8", None),
        ("overlong 3-byte", b'"\xe0\x80\xaf"', "JSON_INVALID_UTF8", None),
        ("above U+10FFFF", b'"\xf4\x90\x80\x80"', "JSON_INVALID_UTF8", None),
        ("truncated 3-byte", b'"\xe2\x82"', "JSON_INVALID_UTF8", None),
        ("stray continuation", b'"\x80"', "JSON_INVALID_UTF8", None),
        ("byte FF", b"[\xff]", "JSON_INVALID_UTF8", None),
        ("bad UTF-8 first wins", b'["\xc0\xaf", "\xed\xa0\x80"]', "JSON_INVALID_UTF8", None),
        ("surrogate first wins", b'["\xed\xa0\x80", "\xc0\xaf"]', "JSON_LONE_SURROGATE", None),
        ("UTF-8 beats syntax", b"}\xff", "JSON_INVALID_UTF8", None),
        ("empty", "", "JSON_SYNTAX", None),
        ("only whitespace", " \n", "JSON_SYNTAX", None),
        ("trailing comma array", "[1,]", "JSON_SYNTAX", None),
        ("trailing comma object", '{"a":1,}', "JSON_SYNTAX", None),
        ("leading zero", "01", "JSON_SYNTAX", None),
        ("negative leading zero", "-01", "JSON_SYNTAX", None),
        ("lone minus", "-", "JSON_SYNTAX", None),
        ("plus sign", "+1", "JSON_SYNTAX", None),
        ("bare fraction", ".5", "JSON_SYNTAX", None),
        ("dot without digits", "1.", "JSON_SYNTAX", None),
        ("dot then exponent", "1.e5", "JSON_SYNTAX", None),
        ("exponent without digits", "1e", "JSON_SYNTAX", None),
        ("exponent sign only", "1e+", "JSON_SYNTAX", None),
        ("NaN", "NaN", "JSON_SYNTAX", None),
        ("Infinity", "-Infinity", "JSON_SYNTAX", None),
        ("hex number", "0x10", "JSON_SYNTAX", None),
        ("missing comma", "[1 2]", "JSON_SYNTAX", None),
        ("raw tab in string", '"a\tb"', "JSON_SYNTAX", None),
        ("raw NUL in string", '"a\x00"', "JSON_SYNTAX", None),
        ("bad escape", '"\\x41"', "JSON_SYNTAX", None),
        ("bad \\u digit", '"\\u12G4"', "JSON_SYNTAX", None),
        ("\\u with sign", '"\\u+123"', "JSON_SYNTAX", None),
        ("truncated \\u", '"\\u00', "JSON_SYNTAX", None),
        ("unterminated string", '"abc', "JSON_SYNTAX", None),
        ("single quotes", "'a'", "JSON_SYNTAX", None),
        ("unquoted name", "{a:1}", "JSON_SYNTAX", None),
        ("missing colon", '{"a" 1}', "JSON_SYNTAX", None),
        ("truncated literal", "tru", "JSON_SYNTAX", None),
        ("wrong literal", "nul1", "JSON_SYNTAX", None),
        ("capital literal", "True", "JSON_SYNTAX", None),
        ("trailing data", "[1]x", "JSON_SYNTAX", None),
        ("two documents", "{} {}", "JSON_SYNTAX", None),
        ("unclosed array", "[1,2", "JSON_SYNTAX", None),
        ("NBSP is not whitespace", "\u00a0[]", "JSON_SYNTAX", None),
        ("form feed is not whitespace", "[\x0c]", "JSON_SYNTAX", None),
        ("comment", "[] // x", "JSON_SYNTAX", None),
        ("65 levels", "[" * 65 + "]" * 65, "JSON_TOO_DEEP", None),
        ("object depth", '{"a":{"b":{}}}', "JSON_TOO_DEEP", {"max_depth": 2}),
        ("depth 0 allows no container", "[]", "JSON_TOO_DEEP", {"max_depth": 0}),
        ("too deep before the syntax error", "[1,[[", "JSON_TOO_DEEP", {"max_depth": 2}),
        ("syntax before the depth", "[x,[[[", "JSON_SYNTAX", {"max_depth": 2}),
        ("deep unclosed", "[" * 100000, "JSON_TOO_DEEP", None),
        ("duplicate", '{"a":1,"a":2}', "JSON_DUPLICATE_MEMBER", None),
        ("duplicate after unescaping", '{"a":1,"\\u0061":2}', "JSON_DUPLICATE_MEMBER", None),
        ("duplicate before missing colon", '{"a":1,"a" 2}', "JSON_DUPLICATE_MEMBER", None),
        ("duplicate nested", '[{"x":{"k":1,"k":1}}]', "JSON_DUPLICATE_MEMBER", None),
        ("syntax before duplicate", '{"a":01,"a":2}', "JSON_SYNTAX", None),
        ("lone high escape", '"\\uD800"', "JSON_LONE_SURROGATE", None),
        ("lone low escape", '"\\uDC00"', "JSON_LONE_SURROGATE", None),
        ("high then letter", '"\\uD800x"', "JSON_LONE_SURROGATE", None),
        ("high then non-low escape", '"\\uD800\\u0041"', "JSON_LONE_SURROGATE", None),
        ("high then high", '"\\uDBFF\\uDBFF"', "JSON_LONE_SURROGATE", None),
        ("high then truncated escape", '"\\uD800\\u00', "JSON_SYNTAX", None),
        ("lone surrogate in a name", '{"\\uDFFF":1}', "JSON_LONE_SURROGATE", None),
        ("overflow", "1e309", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("negative overflow", "[-1E400]", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("overflow just above max", "1.7976931348623159e308", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("long integer overflow", "1" + "0" * 400, "JSON_NUMBER_OUT_OF_RANGE", None),
        ("underflow", "1e-400", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("negative underflow", "-0.0000001e-330", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("underflow below half the least subnormal", "2e-324", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("syntax inside number wins over range", "9" * 400 + "e", "JSON_SYNTAX", None),
        ("range before trailing data", "1e999x", "JSON_NUMBER_OUT_OF_RANGE", None),
        ("number before surrogate", '[1e999,"\\uD800"]', "JSON_NUMBER_OUT_OF_RANGE", None),
        ("surrogate before number", '["\\uD800",1e999]', "JSON_LONE_SURROGATE", None),
    ]
    for name, data, code, context in cases:
        expect_invalid(f"json {name}", "json.parse", j(data), code, context)
        expect_invalid(f"jcs {name}", "jcs.canonicalize", j(data), code, context)


def test_json_valid() -> None:
    cases = [
        # (name, data, canonical, context)
        ("exactly max_bytes", "[1,2]", "[1,2]", {"max_bytes": 5}),
        ("64 levels", "[" * 64 + "]" * 64, "[" * 64 + "]" * 64, None),
        ("depth limit from context", "[[]]", "[[]]", {"max_depth": 2}),
        ("scalar top level", " 42 ", "42", None),
        ("string top level", '"x"', '"x"', None),
        ("literals", "[true,false,null]", "[true,false,null]", None),
        ("sorted members", '{"b":1,"a":[]}', '{"a":[],"b":1}', None),
        ("whitespace", ' \t\r\n{ "a" : [ 1 , 2 ] }\n', '{"a":[1,2]}', None),
        ("1.0", "1.0", "1", None),
        ("-0", "-0", "0", None),
        ("zero with huge exponent", "0e-999999", "0", None),
        ("zero with digits", "-0.000e+5", "0", None),
        ("exponent", "1E2", "100", None),
        ("1e21", "1e21", "1e+21", None),
        ("1e-7", "0.0000001", "1e-7", None),
        ("big integer", "123456789012345678901234", "1.2345678901234569e+23", None),
        ("2^53+1 rounds", "9007199254740993", "9007199254740992", None),
        ("max double", "1.7976931348623157e308", "1.7976931348623157e+308", None),
        ("just below overflow midpoint", "1.7976931348623158e308", "1.7976931348623157e+308", None),
        ("least subnormal", "4.9e-324", "5e-324", None),
        ("escapes", '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\"\\\\/\\b\\f\\n\\r\\t"', None),
        ("control escapes", '"\\u0000\\u001f\\u007f"', '"\\u0000\\u001f\x7f"', None),
        ("unicode escape", '"\\u00e9"', '"\u00e9"', None),
        ("surrogate pair", '"\\uD83D\\uDE00"', '"\U0001F600"', None),
        ("noncharacters", '"\\uFFFF\\uFDD0\U0010FFFF"', '"\uffff\ufdd0\U0010ffff"', None),
        ("no normalization", '{"\u00e9":1,"e\u0301":2}', '{"e\u0301":2,"\u00e9":1}', None),
        # U+1F600 sorts before U+FF01 by UTF-16 code units (D83D < FF01), not by code point.
        ("UTF-16 member order", '{"\uff01":1,"\U0001F600":2}', '{"\U0001F600":2,"\uff01":1}', None),
    ]
    for name, data, canonical, context in cases:
        expect_valid(f"json valid {name}", "json.parse", j(data), {"canonical": canonical.encode().hex()}, context)
    big = "[" + ",".join(["1.5"] * 200000) + "]"  # about 800 kB, under the 1 MiB default
    expect_valid("json 800 kB array", "json.parse", j(big), {"canonical": big.encode().hex()})


# --- base64url, sha256 -------------------------------------------------------------------------


def test_base64url() -> None:
    valid = [("", ""), ("AA", "00"), ("AAA", "0000"), ("AAAA", "000000"), ("AQ", "01"), ("AAE", "0001"),
             ("-w", "fb"), ("_w", "ff"), ("_-8", "ffef"), ("SGVsbG8", "48656c6c6f")]
    for encoded, hexbytes in valid:
        expect_valid(f"b64 decode {encoded!r}", "base64url.decode", {"encoded": encoded}, {"bytes": hexbytes})
        expect_valid(f"b64 encode {hexbytes!r}", "base64url.encode", {"bytes": hexbytes}, {"encoded": encoded})
    invalid = [
        ("AA==", "B64_PADDING"), ("A A", "B64_WHITESPACE"), ("AA\n", "B64_WHITESPACE"), ("\tAA", "B64_WHITESPACE"),
        ("AA\r", "B64_WHITESPACE"), ("A+", "B64_INVALID_CHARACTER"), ("A/", "B64_INVALID_CHARACTER"),
        ("A\u00e9", "B64_INVALID_CHARACTER"), ("A.", "B64_INVALID_CHARACTER"),
        ("A=+", "B64_PADDING"), ("+=", "B64_INVALID_CHARACTER"), (" =", "B64_WHITESPACE"),
        ("=", "B64_PADDING"), ("A", "B64_INVALID_LENGTH"), ("AAAAA", "B64_INVALID_LENGTH"),
        ("AAAAB", "B64_INVALID_LENGTH"), ("AB", "B64_NONZERO_TRAILING_BITS"), ("AAB", "B64_NONZERO_TRAILING_BITS"),
        ("-_", "B64_NONZERO_TRAILING_BITS"), ("AAAAAR", "B64_NONZERO_TRAILING_BITS"),
    ]
    for encoded, code in invalid:
        expect_invalid(f"b64 decode {encoded!r}", "base64url.decode", {"encoded": encoded}, code)
    for n in range(0, 40):  # round trip over every length mod 3
        data = bytes(range(200, 200 + n % 56))
        enc = call("base64url.encode", {"bytes": data.hex()})["output"]["encoded"]
        check(f"b64 round trip {n}", call("base64url.decode", {"encoded": enc})["output"]["bytes"] == data.hex()
              and "=" not in enc)


def test_sha256() -> None:
    expect_valid("sha256 empty", "sha256.digest", {"data": ""},
                 {"digest": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
    expect_valid("sha256 abc", "sha256.digest", {"data": "616263"},
                 {"digest": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"})


# --- signature.verify / signature.sign ----------------------------------------------------


TEST1_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
TEST1_PK = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
# TEST1_PK with its first byte changed from d7 to da: 32 bytes that encode no curve point (SIG-008).
OFF_CURVE_PK = "da" + TEST1_PK[2:]
TEST2_PK = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"


def test_signatures() -> None:
    msg = b"payload".hex()
    signed = call("signature.sign", {"alg": "Ed25519", "seed": TEST1_SEED, "message": msg, "domain": "test"})["output"]
    want_bytes = (b"MCP-ATTEST-v1:test\x00payload").hex()
    check("domain signed_bytes", signed["signed_bytes"] == want_bytes, signed["signed_bytes"])
    base = {"alg": "Ed25519", "public_key": TEST1_PK, "message": msg, "signature": signed["signature"]}
    expect_valid("verify with domain", "signature.verify", dict(base, domain="test"), {})
    expect_invalid("verify without domain", "signature.verify", base, "SIG_INVALID")
    expect_invalid("verify other domain", "signature.verify", dict(base, domain="receipt"), "SIG_INVALID")
    expect_invalid("verify empty domain", "signature.verify", dict(base, domain=""), "SIG_INVALID")
    expect_valid("verify raw signed bytes", "signature.verify", dict(base, message=want_bytes), {})
    expect_invalid("unknown alg", "signature.verify", dict(base, alg="EdDSA"), "ALG_UNSUPPORTED")
    expect_invalid("alg not a string", "signature.verify", dict(base, alg=["Ed25519"]), "ALG_UNSUPPORTED")
    expect_invalid("alg before key", "signature.verify", dict(base, alg="ed25519", public_key="00"), "ALG_UNSUPPORTED")
    expect_invalid("short key", "signature.verify", dict(base, public_key=TEST1_PK[:-2]), "KEY_INVALID")
    expect_invalid("key before sig length", "signature.verify", dict(base, public_key="", signature="00"), "KEY_INVALID")
    check("off-curve fixture decodes to no point", not impl.ed25519_key_decodes(bytes.fromhex(OFF_CURVE_PK)))
    expect_invalid("off-curve key", "signature.verify", dict(base, public_key=OFF_CURVE_PK), "KEY_INVALID")
    expect_invalid("off-curve key before sig length", "signature.verify", dict(base, public_key=OFF_CURVE_PK, signature="00"), "KEY_INVALID")
    expect_invalid("long sig", "signature.verify", dict(base, signature=signed["signature"] + "00"), "SIG_LENGTH")
    expect_invalid("empty sig", "signature.verify", dict(base, signature=""), "SIG_LENGTH")
    expect_invalid("sign unknown alg", "signature.sign", {"alg": "Ed448", "seed": TEST1_SEED, "message": ""}, "ALG_UNSUPPORTED")
    expect_invalid("sign short seed", "signature.sign", {"alg": "Ed25519", "seed": "00" * 31, "message": ""}, "KEY_INVALID")
    # S + L is the same scalar mod L: libsodium (and the protocol) reject it as non-canonical.
    sig = bytes.fromhex(signed["signature"])
    s_plus_l = (int.from_bytes(sig[32:], "little") + impl.attest_core._L).to_bytes(32, "little")
    expect_invalid("non-canonical S", "signature.verify", dict(base, domain="test", signature=(sig[:32] + s_plus_l).hex()), "SIG_INVALID")


def test_mldsa() -> None:
    if not impl.HAVE_MLDSA:
        got = None
        try:
            call("signature.sign", {"alg": "ML-DSA-65", "seed": "00" * 32, "message": ""})
        except impl.Unsupported:
            got = "unsupported"
        check("ML-DSA-65 unsupported without the library", got == "unsupported")
        return
    seed = bytes(range(32)).hex()
    msg = b"hello".hex()
    out = call("signature.sign", {"alg": "ML-DSA-65", "seed": seed, "message": msg, "domain": "test"})["output"]
    check("mldsa key length", len(out["public_key"]) == 2 * 1952)
    check("mldsa sig length", len(out["signature"]) == 2 * 3309)
    # Known answer for xi = 00 01 .. 1f: SHA-256 of the public key, from pyca/cryptography
    # 48.0.0 and, independently, dilithium-py 1.5.1's ML_DSA_65.key_derive (equal keys;
    # each verified the other's signatures).
    check("mldsa key from seed (known answer)", impl.hashlib.sha256(bytes.fromhex(out["public_key"])).hexdigest()
          == "d666806e11cee19a7c989f7445f90dd419cf4d2d51db8c0fdb4c0f0a542238c9")
    again = call("signature.sign", {"alg": "ML-DSA-65", "seed": seed, "message": msg})["output"]
    check("mldsa key from seed is deterministic", again["public_key"] == out["public_key"])
    base = {"alg": "ML-DSA-65", "public_key": out["public_key"], "message": msg, "signature": out["signature"], "domain": "test"}
    expect_valid("mldsa verify", "signature.verify", base, {})
    nodomain = {k: v for k, v in base.items() if k != "domain"}
    expect_valid("mldsa verify no domain", "signature.verify", dict(nodomain, signature=again["signature"]), {})
    expect_invalid("mldsa wrong domain", "signature.verify", nodomain, "SIG_INVALID")
    flipped = bytearray.fromhex(out["signature"])
    flipped[100] ^= 1
    expect_invalid("mldsa tampered", "signature.verify", dict(base, signature=flipped.hex()), "SIG_INVALID")
    expect_invalid("mldsa short key", "signature.verify", dict(base, public_key=out["public_key"][:-2]), "KEY_INVALID")
    expect_invalid("mldsa Ed25519-sized key", "signature.verify", dict(base, public_key=TEST1_PK), "KEY_INVALID")
    expect_invalid("mldsa sig length", "signature.verify", dict(base, signature=out["signature"][:-2]), "SIG_LENGTH")
    expect_invalid("mldsa Ed25519-sized sig", "signature.verify", dict(base, signature="00" * 64), "SIG_LENGTH")
    expect_invalid("mldsa short seed", "signature.sign", {"alg": "ML-DSA-65", "seed": "00", "message": ""}, "KEY_INVALID")
    # And its JWK form.
    pub = impl.b64url_encode(bytes.fromhex(out["public_key"]))
    canonical = json.dumps({"alg": "ML-DSA-65", "kty": "AKP", "pub": pub}, separators=(",", ":")).encode()
    tp = impl.b64url_encode(impl.hashlib.sha256(canonical).digest())
    expect_valid("AKP thumbprint", "jwk.thumbprint", {"jwk": {"kty": "AKP", "alg": "ML-DSA-65", "pub": pub}},
                 {"thumbprint": tp, "canonical": canonical.hex()})
    expect_valid("AKP with kid/use/key_ops", "jwk.thumbprint", {"jwk": {
        "kty": "AKP", "alg": "ML-DSA-65", "pub": pub, "kid": tp, "use": "sig", "key_ops": ["verify"]}})
    expect_invalid("AKP short pub", "jwk.thumbprint", {"jwk": {"kty": "AKP", "alg": "ML-DSA-65", "pub": pub[:-4]}},
                   "JWK_INVALID_MEMBER")


# --- JWK / JWKS ------------------------------------------------------------------------------


X1 = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
TP1 = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
X2 = impl.b64url_encode(bytes.fromhex(TEST2_PK))
X_OFF_CURVE = impl.b64url_encode(bytes.fromhex(OFF_CURVE_PK))


def okp(**extra) -> dict:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": X1}
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


def test_jwk() -> None:
    expect_valid("jwk all optional members", "jwk.thumbprint",
                 {"jwk": okp(kid=TP1, use="sig", key_ops=["verify"], alg="Ed25519")})
    invalid = [
        ("not an object", ["x"], "JWK_INVALID_MEMBER"),
        ("d", okp(d="AA"), "JWK_PRIVATE_MATERIAL"),
        ("priv beats unknown", okp(priv="AA", foo=1), "JWK_PRIVATE_MATERIAL"),
        ("k without kty", {"k": "AA"}, "JWK_PRIVATE_MATERIAL"),
        ("no kty", {"crv": "Ed25519", "x": X1}, "JWK_MISSING_MEMBER"),
        ("kty not a string", okp(kty=1), "JWK_INVALID_MEMBER"),
        ("kty RSA", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "JWK_UNSUPPORTED_KEY_TYPE"),
        ("kty EC", {"kty": "EC"}, "JWK_UNSUPPORTED_KEY_TYPE"),
        ("crv X25519", okp(crv="X25519"), "JWK_UNSUPPORTED_KEY_TYPE"),
        ("no crv", okp(crv=None), "JWK_MISSING_MEMBER"),
        ("crv not a string", okp(crv=["Ed25519"]), "JWK_INVALID_MEMBER"),
        ("no x", okp(x=None), "JWK_MISSING_MEMBER"),
        ("x not a string", okp(x=5), "JWK_INVALID_MEMBER"),
        ("x padded", okp(x=X1 + "="), "JWK_INVALID_MEMBER"),
        ("x standard alphabet", okp(x=X1.replace("_", "/")), "JWK_INVALID_MEMBER"),
        ("x trailing bits", okp(x=X1[:-1] + "p"), "JWK_INVALID_MEMBER"),
        ("x bad before unknown", okp(x="A", foo=1), "JWK_INVALID_MEMBER"),
        ("unknown member", okp(foo=1), "JWK_UNKNOWN_MEMBER"),
        ("x5c is unknown", okp(x5c=[]), "JWK_UNKNOWN_MEMBER"),
        ("pub in OKP", okp(pub=X1), "JWK_UNKNOWN_MEMBER"),
        ("unknown beats alg", okp(alg="EdDSA", foo=1), "JWK_UNKNOWN_MEMBER"),
        ("unknown beats length", okp(x="AAAA", foo=1), "JWK_UNKNOWN_MEMBER"),
        ("alg EdDSA", okp(alg="EdDSA"), "JWK_INVALID_MEMBER"),
        ("alg not a string", okp(alg=1), "JWK_INVALID_MEMBER"),
        ("use enc", okp(use="enc"), "JWK_INVALID_MEMBER"),
        ("use not a string", okp(use=["sig"]), "JWK_INVALID_MEMBER"),
        ("key_ops sign", okp(key_ops=["sign"]), "JWK_INVALID_MEMBER"),
        ("key_ops two", okp(key_ops=["verify", "verify"]), "JWK_INVALID_MEMBER"),
        ("key_ops string", okp(key_ops="verify"), "JWK_INVALID_MEMBER"),
        ("key_ops empty", okp(key_ops=[]), "JWK_INVALID_MEMBER"),
        ("x 31 bytes", okp(x=impl.b64url_encode(bytes(31))), "JWK_INVALID_MEMBER"),
        ("x 33 bytes", okp(x=impl.b64url_encode(bytes(33))), "JWK_INVALID_MEMBER"),
        ("wrong kid", okp(kid=TP1[:-1] + "A"), "JWK_INVALID_MEMBER"),
        ("kid not a string", okp(kid=1), "JWK_INVALID_MEMBER"),
        ("length beats kid", okp(x="AAAA", kid="x"), "JWK_INVALID_MEMBER"),
        ("x off the curve", okp(x=X_OFF_CURVE), "JWK_INVALID_MEMBER"),
        ("off the curve beats kid", okp(x=X_OFF_CURVE, kid="x"), "JWK_INVALID_MEMBER"),
        ("kty OKP with a Kelvin sign", okp(kty="O\u212aP"), "JWK_UNSUPPORTED_KEY_TYPE"),
        ("kid with a Kelvin sign", okp(kid=TP1.replace("K", "\u212a")), "JWK_INVALID_MEMBER"),
        ("AKP without alg", {"kty": "AKP", "pub": X1}, "JWK_MISSING_MEMBER"),
        ("AKP ML-DSA-44", {"kty": "AKP", "alg": "ML-DSA-44", "pub": X1}, "JWK_UNSUPPORTED_KEY_TYPE"),
        ("AKP without pub", {"kty": "AKP", "alg": "ML-DSA-65"}, "JWK_MISSING_MEMBER"),
        ("AKP with x", {"kty": "AKP", "alg": "ML-DSA-65", "pub": X1, "x": X1}, "JWK_UNKNOWN_MEMBER"),
        ("AKP short pub", {"kty": "AKP", "alg": "ML-DSA-65", "pub": X1}, "JWK_INVALID_MEMBER"),
    ]
    for name, jwk, code in invalid:
        expect_invalid(f"jwk {name}", "jwk.thumbprint", {"jwk": jwk}, code)


def test_jwks() -> None:
    tp2 = call("jwk.thumbprint", {"jwk": okp(x=X2)})["output"]["thumbprint"]
    expect_valid("jwks two keys", "jwks.parse", {"jwks": {"keys": [okp(), okp(x=X2, kid=tp2)]}}, {"kids": [TP1, tp2]})
    expect_valid("jwks empty", "jwks.parse", {"jwks": {"keys": []}}, {"kids": []})
    sixty_four = [okp(x=impl.b64url_encode(impl.ed25519_sign(bytes([i]) * 32, b"")[0])) for i in range(64)]
    check("jwks 64 keys", len(call("jwks.parse", {"jwks": {"keys": sixty_four}})["output"]["kids"]) == 64)
    invalid = [
        ("not an object", [okp()], "JWK_MISSING_MEMBER"),
        ("no keys", {}, "JWK_MISSING_MEMBER"),
        ("no keys, other member", {"foo": []}, "JWK_MISSING_MEMBER"),
        ("extra member", {"keys": [], "foo": 1}, "JWK_UNKNOWN_MEMBER"),
        ("keys not an array", {"keys": okp()}, "JWK_INVALID_MEMBER"),
        ("65 keys", {"keys": sixty_four + [okp()]}, "JWKS_TOO_MANY_KEYS"),
        ("65 bad keys", {"keys": [1] * 65}, "JWKS_TOO_MANY_KEYS"),
        ("bad key", {"keys": [okp(), okp(use="enc")]}, "JWK_INVALID_MEMBER"),
        ("key off the curve", {"keys": [okp(), okp(x=X_OFF_CURVE)]}, "JWK_INVALID_MEMBER"),
        ("key not an object", {"keys": [okp(), "x"]}, "JWK_INVALID_MEMBER"),
        ("duplicate", {"keys": [okp(), okp(x=X2), okp(kid=TP1)]}, "JWKS_DUPLICATE_KID"),
        ("bad key after duplicate wins", {"keys": [okp(), okp(), okp(d="AA")]}, "JWK_PRIVATE_MATERIAL"),
    ]
    for name, jwks, code in invalid:
        expect_invalid(f"jwks {name}", "jwks.parse", {"jwks": jwks}, code)


ISS = "https://issuer.example"
META_URL = ISS + "/.well-known/agent-attestation-issuer"
JWKS_URL = "https://keys.issuer.example/jwks.json"
DOWN = {"transport_error": True}


def metadata(**extra) -> dict:
    doc = {"issuer": ISS, "jwks_uri": JWKS_URL, "token_types": ["agent-attestation+jwt"]}
    doc.update(extra)
    return {"body": json.dumps({k: v for k, v in doc.items() if v is not None})}


def key_set(*keys, **response) -> dict:
    return {"body": json.dumps({"keys": list(keys) or [okp()]}), **response}


def discovery(responses: dict, *lookups) -> dict:
    return {"issuer": ISS, "responses": responses,
            "lookups": [{"kid": TP1, **lookup} for lookup in lookups] or [{"kid": TP1, "at": 0}]}


def test_discovery() -> None:
    lifetimes = [
        (None, 3600), ("", 3600), ("public", 3600), ("max-age=600", 600), ("MAX-AGE=600", 600),
        ("max-age=0", 300), ("max-age=99999999999999999999", 86400), ("max-age=", 3600),
        ("max-age", 3600), ("max-age = 600", 600), ("max-age=+600", 3600),
        ("max-age=\u0661\u0662\u0663", 3600), ("max-age=x, max-age=600", 3600),
        ("No-Store", 300), ("no-cache=\"Set-Cookie\"", 300), ("max-age=900, no-cache", 300),
    ]
    for header, seconds in lifetimes:
        got = impl.cache_lifetime(header)
        check(f"cache lifetime {header!r}", got == seconds, f"expected {seconds}, got {got}")
    urls = [("https://a.example", True), ("HTTPS://a.example/x", False), ("https://a.example:8443", True),
            ("https://", False), ("https:///path", False), ("https://a.example:port", False),
            ("https://[::1", False), ("http://a.example", False), ("a.example", False), (None, False)]
    for url, ok in urls:
        check(f"https url {url!r}", impl.is_https_url(url) == ok)

    good = {META_URL: [metadata()], JWKS_URL: [key_set()]}
    expect_valid("discovery base", "keys.discovery", discovery(good),
                 {"lookups": [{"fetched": [META_URL, JWKS_URL], "found": True, "error": None}]})
    # A relative Location resolves against the URL that answered with it.
    chain = {META_URL: [{"status": 303, "location": "https://b.example/x/y"}],
             "https://b.example/x/y": [{"status": 307, "location": "z"}],
             "https://b.example/x/z": [metadata()], JWKS_URL: [key_set()]}
    expect_valid("discovery relative redirect", "keys.discovery", discovery(chain))
    four = {META_URL: [{"status": 301, "location": "/1"}], ISS + "/1": [{"status": 301, "location": "/2"}],
            ISS + "/2": [{"status": 301, "location": "/3"}]}
    big = "x" * 16385
    invalid = [
        ("untrusted issuer", good, {"iss": "https://other.example"}, "TOK_ISSUER_UNTRUSTED"),
        ("unknown kid", good, {"kid": "A" * 43}, "TOK_KID_UNKNOWN"),
        ("unlisted url", {}, {}, "DISC_TRANSPORT"),
        ("status 500", {META_URL: [{"status": 500}]}, {}, "DISC_HTTP_STATUS"),
        ("status 304", {META_URL: [{"status": 304}]}, {}, "DISC_HTTP_STATUS"),
        ("redirect, empty location", {META_URL: [{"status": 302, "location": ""}]}, {}, "DISC_HTTP_STATUS"),
        # Choice: a fourth redirect without a Location fails on its Location first.
        ("fourth redirect, no location", {**four, ISS + "/3": [{"status": 301}]}, {}, "DISC_REDIRECT_LIMIT"),
        ("fourth redirect, to http", {**four, ISS + "/3": [{"status": 301, "location": "http://a.example"}]},
         {}, "DISC_REDIRECT_LIMIT"),
        ("large redirect body", {META_URL: [{"status": 301, "location": "/1", "body": big}]}, {}, "DISC_TOO_LARGE"),
        ("large 404 body", {META_URL: [{"status": 404, "pad_to": 16385}]}, {}, "DISC_TOO_LARGE"),
        ("metadata duplicate member", {META_URL: [{"body": '{"issuer":"a","issuer":"b"}'}]}, {},
         "JSON_DUPLICATE_MEMBER"),
        ("metadata issuer not a string", {META_URL: [metadata(issuer=[ISS])]}, {}, "DISC_METADATA_INVALID"),
        ("mismatch before bad jwks_uri", {META_URL: [metadata(issuer=ISS + "/", jwks_uri=1)]}, {},
         "DISC_ISSUER_MISMATCH"),
        ("jwks_uri not a string", {META_URL: [metadata(jwks_uri=None)]}, {}, "DISC_METADATA_INVALID"),
        ("http jwks_uri before token_types", {META_URL: [metadata(jwks_uri="http://k.example", token_types=None)]},
         {}, "DISC_NOT_HTTPS"),
        ("token_types with a number", {META_URL: [metadata(token_types=["agent-attestation+jwt", 1])]}, {},
         "DISC_METADATA_INVALID"),
        ("token_types a string", {META_URL: [metadata(token_types="agent-attestation+jwt")]}, {},
         "DISC_METADATA_INVALID"),
        ("key set 65537 bytes", {**good, JWKS_URL: [key_set(pad_to=65537)]}, {}, "DISC_TOO_LARGE"),
        ("key set not JSON", {**good, JWKS_URL: [{"body": '{"keys":[]} x'}]}, {}, "JSON_SYNTAX"),
        ("key set duplicate kid", {**good, JWKS_URL: [key_set(okp(), okp())]}, {}, "JWKS_DUPLICATE_KID"),
    ]
    for name, responses, lookup, code in invalid:
        expect_invalid(f"discovery {name}", "keys.discovery", discovery(responses, {"at": 0, **lookup}), code)

    def outcome(fetched: list, error=None) -> dict:
        return {"fetched": fetched, "found": error is None and bool(fetched), "error": error}

    # Pauses of 30, then 60 seconds; the success at 92 is the first fetch allowed after it.
    down, ok, shut = outcome([META_URL], "DISC_TRANSPORT"), outcome([META_URL, JWKS_URL]), outcome([], "DISC_CIRCUIT_OPEN")
    times = [0, 1, 2, 31, 32, 91, 92]
    expect_valid("discovery pauses", "keys.discovery",
                 discovery({META_URL: [DOWN] * 4 + [metadata()], JWKS_URL: [key_set()]}, *({"at": t} for t in times)),
                 {"lookups": [down, down, down, shut, down, shut, ok]})
    pauses = [30, 60, 120, 240, 480, 600, 600]
    times, t = [0, 1], 2
    for pause in pauses:
        times += [t, t + pause - 1]
        t += pause
    times.append(t)
    expect_valid("discovery pause cap", "keys.discovery",
                 discovery({META_URL: [DOWN] * (2 + len(pauses)) + [metadata()], JWKS_URL: [key_set()]},
                           *({"at": t} for t in times)),
                 {"lookups": [down, down] + [down, shut] * len(pauses) + [ok]})
    # A success resets the count: two failures after it do not pause.
    cached = {META_URL: [DOWN, DOWN, metadata(), DOWN, DOWN, metadata()],
              JWKS_URL: [key_set(cache_control="max-age=300")]}
    expect_valid("discovery success resets failures", "keys.discovery",
                 discovery(cached, *({"at": t} for t in (0, 1, 2, 302, 303, 304))),
                 {"lookups": [down, down, ok, down, down, ok]})


# --- Receipt logs: Merkle trees, checkpoints, receipts (impl_log.py) ----------------------

import base64 as _b64  # noqa: E402
import hashlib as _hashlib  # noqa: E402

import impl_log  # noqa: E402


def _sha(data: bytes) -> bytes:
    return _hashlib.sha256(data).digest()


def _std64(text) -> bytes:
    return _b64.b64decode(text) if text else b""


def test_merkle() -> None:
    """transparency-dev/merkle: the reference tree, and every inclusion and consistency
    probe as it is (verification fails exactly when the probe says wantErr)."""
    base = VECTORS / "transparency-dev-merkle"
    tree = load_json("transparency-dev-merkle/reference-tree.json")
    leaves = [bytes.fromhex(x) for x in tree["leaf_inputs_hex"]]
    for entry in tree["roots_by_size"]:
        n = entry["size"]
        out = call("merkle.root", {"leaves": [x.hex() for x in leaves[:n]]})
        check(f"reference root {n}", out.get("output") == {"root": entry["root_hex"]}, str(out))
    incremental = impl_log.MerkleTree()
    for n in range(70):  # the incremental tree against the recursive definition
        data = n.to_bytes(2, "big")
        check(f"incremental root {n}", incremental.root() == _mth([i.to_bytes(2, "big") for i in range(n)]))
        incremental.append(data)
    for kind in ("inclusion", "consistency"):
        for path in sorted((base / "testdata" / kind).rglob("*.json")):
            probe = json.loads(path.read_bytes())
            try:
                if kind == "inclusion":
                    impl_log.verify_inclusion(probe["leafIdx"], probe["treeSize"], _std64(probe["leafHash"]),
                                              [_std64(x) for x in probe["proof"] or []], _std64(probe["root"]))
                else:
                    impl_log.verify_consistency(probe["size1"], probe["size2"], _std64(probe["root1"]),
                                                _std64(probe["root2"]), [_std64(x) for x in probe["proof"] or []])
                failed = False
            except impl.OpError:
                failed = True
            check(f"transparency-dev {kind} {path.parent.name}/{path.name}", failed == probe["wantErr"],
                  f"wantErr {probe['wantErr']}")


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return _sha(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _sha(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def test_merkle_order() -> None:
    h = _sha(b"h").hex()
    expect_invalid("inclusion: the index before hash lengths", "merkle.inclusion",
                   {"index": 7, "tree_size": 7, "leaf_hash": "00", "proof": ["00"], "root": "00"}, "MRK_INDEX_OUT_OF_RANGE")
    expect_invalid("inclusion: size 0", "merkle.inclusion",
                   {"index": 0, "tree_size": 0, "leaf_hash": h, "proof": [], "root": h}, "MRK_INDEX_OUT_OF_RANGE")
    expect_invalid("consistency: sizes before hash lengths", "merkle.consistency",
                   {"size1": 0, "size2": 3, "root1": "00", "root2": h, "proof": ["00"]}, "MRK_SIZE_ORDER")
    expect_invalid("consistency: 0 to 0", "merkle.consistency",
                   {"size1": 0, "size2": 0, "root1": h, "root2": h, "proof": []}, "MRK_SIZE_ORDER")
    expect_valid("consistency: equal sizes compare roots of any length", "merkle.consistency",
                 {"size1": 1, "size2": 1, "root1": "0102", "root2": "0102", "proof": []})
    expect_invalid("consistency: equal sizes, a short element", "merkle.consistency",
                   {"size1": 1, "size2": 1, "root1": h, "root2": h, "proof": ["00"]}, "MRK_CONSISTENCY_INVALID")
    expect_invalid("consistency: a short element between different sizes", "merkle.consistency",
                   {"size1": 1, "size2": 2, "root1": h, "root2": h, "proof": ["00"]}, "MRK_HASH_LENGTH")


class _LogKey:
    def __init__(self, byte: int):
        self.seed = bytes([byte]) * 32
        self.pk = impl.ed25519_sign(self.seed, b"")[0]

    def sign(self, message: bytes) -> bytes:
        return impl.ed25519_sign(self.seed, message)[1]

    def key_id(self, name: str) -> bytes:
        return _sha(name.encode() + b"\n\x01" + self.pk)[:4]

    def vkey(self, name: str) -> str:
        blob = _b64.b64encode(b"\x01" + self.pk).decode()
        return f"{name}+{self.key_id(name).hex()}+{blob}"

    def line(self, name: str, body: str, signature: bytes | None = None) -> str:
        signature = self.sign(body.encode()) if signature is None else signature
        return f"\u2014 {name} {_b64.b64encode(self.key_id(name) + signature).decode()}\n"

    @property
    def thumbprint(self) -> str:
        jwk = {"crv": "Ed25519", "kty": "OKP", "x": impl.b64url_encode(self.pk)}
        return impl.b64url_encode(_sha(impl.canonicalize(jwk)))


LOG_KEY, OTHER_KEY = _LogKey(0xB1), _LogKey(0xB2)
LOG_ORIGIN = "log.example/a"


def _body(size: int, root: bytes, origin: str = LOG_ORIGIN, extra: str = "") -> str:
    return f"{origin}\n{size}\n{_b64.b64encode(root).decode()}\n{extra}"


def _note(body: str, *signers) -> str:
    signers = signers or ((LOG_KEY, LOG_ORIGIN),)
    return body + "\n" + "".join(key.line(name, body) for key, name in signers)


def test_checkpoint_order() -> None:
    root = _sha(b"root")
    trusted = [LOG_KEY.vkey(LOG_ORIGIN)]

    def verify(note: str, origin=LOG_ORIGIN, keys=None) -> dict:
        inp = {"note": note, "trusted": trusted if keys is None else keys}
        if origin is not None:
            inp["origin"] = origin
        return inp

    good = _note(_body(7, root))
    expect_valid("checkpoint", "checkpoint.verify", verify(good), {"origin": LOG_ORIGIN, "size": 7, "root": root.hex()})
    expect_valid("checkpoint: an extension line is signed and ignored", "checkpoint.verify",
                 verify(_note(_body(7, root, extra="ext\n"))))
    unsigned_extension = _body(7, root, extra="ext\n") + "\n" + LOG_KEY.line(LOG_ORIGIN, _body(7, root))
    expect_invalid("checkpoint: an extension line is signed", "checkpoint.verify", verify(unsigned_extension),
                   "CKP_SIGNATURE_INVALID")
    other = _body(7, root, origin="log.example/b")
    expect_invalid("checkpoint: the origin before the signature lines", "checkpoint.verify",
                   verify(other + "\n" + "\u2014 w !!\n"), "CKP_ORIGIN_MISMATCH")
    expect_invalid("checkpoint: the origin before the final line feed", "checkpoint.verify",
                   verify(_note(other)[:-1]), "CKP_ORIGIN_MISMATCH")
    expect_invalid("checkpoint: the body before the origin", "checkpoint.verify",
                   verify(_note(_body(7, root[:31], origin="log.example/b"))), "CKP_MALFORMED")
    expect_invalid("checkpoint: a NUL byte", "checkpoint.verify",
                   verify(_note(_body(7, root, extra="a\x00\n"))), "CKP_MALFORMED")
    big = _note(_body(7, root, extra="x" * 65536 + "\n"))
    expect_invalid("checkpoint: over 65,536 bytes", "checkpoint.verify", verify(big), "CKP_MALFORMED")
    expect_valid("checkpoint: size 2^64 - 1", "checkpoint.verify", verify(_note(_body(2**64 - 1, root))))
    expect_invalid("checkpoint: size 2^64", "checkpoint.verify", verify(_note(_body(2**64, root))), "CKP_MALFORMED")
    unknown = "\u2014 w " + _b64.b64encode(b"abcde").decode() + "\n"
    expect_valid("checkpoint: an unknown key's 5-byte line is ignored", "checkpoint.verify", verify(good + unknown))
    expect_invalid("checkpoint: a 4-byte line is malformed", "checkpoint.verify",
                   verify(good + "\u2014 w " + _b64.b64encode(b"abcd").decode() + "\n"), "CKP_MALFORMED")
    body = _body(7, root)
    expect_invalid("checkpoint: one bad trusted signature among good ones", "checkpoint.verify",
                   verify(body + "\n" + LOG_KEY.line(LOG_ORIGIN, body, bytes(64)) + LOG_KEY.line(LOG_ORIGIN, body)),
                   "CKP_SIGNATURE_INVALID")
    expect_invalid("checkpoint: signature lines are checked in turn", "checkpoint.verify",
                   verify(body + "\n" + LOG_KEY.line(LOG_ORIGIN, body, bytes(64)) + "garbage\n"),
                   "CKP_SIGNATURE_INVALID")
    expect_invalid("checkpoint: the final line feed before the lines", "checkpoint.verify",
                   verify(body + "\n" + LOG_KEY.line(LOG_ORIGIN, body, bytes(64))[:-1]), "CKP_MALFORMED")
    expect_invalid("checkpoint: a 63-byte trusted signature", "checkpoint.verify",
                   verify(body + "\n" + LOG_KEY.line(LOG_ORIGIN, body, LOG_KEY.sign(body.encode())[:63])),
                   "CKP_SIGNATURE_INVALID")
    expect_valid("checkpoint: without an expected origin", "checkpoint.verify", verify(_note(other), origin=None))
    expect_invalid("checkpoint: the trusted keys before the note", "checkpoint.verify",
                   verify("x", keys=trusted + ["not a key"]), "KEY_INVALID")
    wrong_id = LOG_KEY.vkey(LOG_ORIGIN).replace(LOG_KEY.key_id(LOG_ORIGIN).hex(), "00000000")
    expect_invalid("checkpoint: a key ID not computed from the key", "checkpoint.verify",
                   verify(good, keys=[wrong_id]), "KEY_INVALID")

    def successor(earlier: str, later: str, proof=(), keys=None) -> dict:
        return {"earlier": earlier, "later": later, "consistency": [x.hex() for x in proof],
                "trusted": trusted if keys is None else keys}

    expect_invalid("successor: the earlier checkpoint first", "checkpoint.successor",
                   successor(_note(_body(7, root), (OTHER_KEY, LOG_ORIGIN)), good[:-1]), "CKP_NO_TRUSTED_SIGNATURE")
    expect_invalid("successor: both verify before the rollback", "checkpoint.successor",
                   successor(good, body + "\n" + LOG_KEY.line(LOG_ORIGIN, _body(3, root))), "CKP_SIGNATURE_INVALID")
    expect_valid("successor: equal sizes and roots read no proof", "checkpoint.successor",
                 successor(good, good, [_sha(b"x")]))
    expect_valid("successor: growth from size 0 (the empty root) needs no proof", "checkpoint.successor",
                 successor(_note(_body(0, _sha(b""))), good))
    expect_invalid("successor: growth from size 0 with a proof", "checkpoint.successor",
                   successor(_note(_body(0, _sha(b""))), good, [_sha(b"x")]), "MRK_CONSISTENCY_INVALID")
    expect_invalid("successor: a size-0 checkpoint with another root", "checkpoint.successor",
                   successor(_note(_body(0, _sha(b"x"))), good), "MRK_CONSISTENCY_INVALID")
    expect_invalid("successor: another log's checkpoint", "checkpoint.successor",
                   successor(good, _note(_body(7, root, origin="B"), (LOG_KEY, "B")),
                             keys=trusted + [LOG_KEY.vkey("B")]), "CKP_ORIGIN_MISMATCH")


def _doubles(value):
    if isinstance(value, dict):
        return {k: _doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_doubles(v) for v in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


_SALT1, _SALT2 = b"\x11" * 32, b"\x22" * 32
_REQUEST = {"name": "search", "arguments": {"query": "q", "limit": 5}}
_RESULT = {"content": [{"type": "text", "text": "r"}], "isError": False}


def _commit(salt: bytes, payload) -> str:
    return impl.b64url_encode(_sha(b"MCP-ATTEST-v1:commitment\x00" + salt + impl.canonicalize(_doubles(payload))))


def _denial(code: str) -> dict:
    return {"code": -31000, "message": code, "data": {"code": code}}


def _receipt(decision="ALLOW", key=LOG_KEY, request=_REQUEST, response=_RESULT, **members) -> dict:
    r = {"type": "mcp-attest/receipt/v1", "log": LOG_ORIGIN, "seq": 0, "time": 1760000000,
         "prev": impl.b64url_encode(bytes(32)), "artifact": "art", "session": "s1", "method": "tools/call",
         "tool": "search", "decision": decision}
    if request is not None:
        r["request"] = _commit(_SALT1, request)
    if response is not None:
        r["response"] = _commit(_SALT2, response)
    r.update(members)
    r = {k: v for k, v in r.items() if v is not None}
    signature = key.sign(b"MCP-ATTEST-v1:receipt\x00" + impl.canonicalize(_doubles(r)))
    r["sig"] = {"alg": "Ed25519", "kid": key.thumbprint, "value": impl.b64url_encode(signature)}
    return r


def test_receipt_order() -> None:
    log_key = LOG_KEY.vkey(LOG_ORIGIN)
    good = _receipt()
    canonical = impl.canonicalize(_doubles({k: v for k, v in good.items() if k != "sig"}))
    expect_valid("receipt", "receipt.verify", {"receipt": good, "log_key": log_key},
                 {"canonical": canonical.hex(), "link": _sha(canonical).hex(),
                  "leaf_hash": _sha(b"\x00" + _sha(canonical)).hex()})
    malformed = dict(_receipt(key=OTHER_KEY), extra=1)
    expect_invalid("receipt: the shape before the kid", "receipt.verify", {"receipt": malformed, "log_key": log_key},
                   "RCP_MALFORMED")
    expect_invalid("receipt: the shape before the log key", "receipt.verify",
                   {"receipt": malformed, "log_key": "not a key"}, "RCP_MALFORMED")
    expect_invalid("receipt: the log key before the kid", "receipt.verify",
                   {"receipt": _receipt(key=OTHER_KEY), "log_key": "not a key"}, "KEY_INVALID")
    other = _receipt(key=OTHER_KEY)
    other["sig"]["value"] = impl.b64url_encode(impl.b64url_decode(other["sig"]["value"])[:63])
    expect_invalid("receipt: the kid before the signature", "receipt.verify", {"receipt": other, "log_key": log_key},
                   "RCP_KEY_UNTRUSTED")
    short = _receipt()
    short["sig"]["value"] = impl.b64url_encode(impl.b64url_decode(short["sig"]["value"])[:63])
    expect_invalid("receipt: a 63-byte signature", "receipt.verify", {"receipt": short, "log_key": log_key},
                   "RCP_SIGNATURE_INVALID")
    for name, value in (("session", ""), ("time", 2**53 + 2), ("time", -1), ("seq", 0.5), ("prev", "AAAA")):
        expect_invalid(f"receipt: {name} {value!r}", "receipt.verify",
                       {"receipt": _receipt(**{name: value}), "log_key": log_key}, "RCP_MALFORMED")
    expect_valid("receipt: seq 1.0 is the integer 1", "receipt.verify",
                 {"receipt": _receipt(seq=1.0), "log_key": log_key})

    full = {"request": _REQUEST, "request_salt": impl.b64url_encode(_SALT1),
            "response": _RESULT, "response_salt": impl.b64url_encode(_SALT2)}

    def disclose(receipt, **changes):
        inp = dict(full, receipt=receipt)
        inp.update(changes)
        return {k: v for k, v in inp.items() if v is not None}

    expect_valid("disclosure", "receipt.disclosure", disclose(good))
    listing = {"_meta": {"dev.agent-attestation/operator": "x"}}
    expect_invalid("disclosure: a carrier in any method's request", "receipt.disclosure",
                   disclose(_receipt(method="tools/list", tool=None, request=listing), request=listing),
                   "RCP_DISCLOSURE_MALFORMED")
    denied = _receipt("DENY", code="PTL_RATE_LIMITED", response=_RESULT)
    expect_invalid("disclosure: the commitment before the effect", "receipt.disclosure",
                   disclose(denied, response_salt=impl.b64url_encode(_SALT1)), "RCP_COMMITMENT_MISMATCH")
    renamed = {"name": "other"}
    expect_invalid("disclosure: the tool before the effect", "receipt.disclosure",
                   disclose(_receipt("DENY", code="PTL_RATE_LIMITED", request=renamed), request=renamed),
                   "RCP_COMMITMENT_MISMATCH")
    bare = {"code": -31000, "data": {"code": "PTL_RATE_LIMITED"}}
    expect_valid("disclosure: a denial's other members are not checked", "receipt.disclosure",
                 disclose(_receipt("DENY", code="PTL_RATE_LIMITED", response=bare), response=bare))
    expect_invalid("disclosure: a RESULT with a code answered with a result", "receipt.disclosure",
                   disclose(_receipt("RESULT", seq=2, call=1, request=None, code="PTL_OUTCOME_UNKNOWN"),
                            request=None, request_salt=None), "RCP_EFFECT_MISMATCH")

    leaf = _sha(b"\x00" + _sha(canonical))
    checkpoint = _note(_body(1, leaf))
    inclusion = {"receipt": good, "checkpoint": checkpoint, "proof": [], "log_key": log_key}
    expect_valid("inclusion", "receipt.inclusion", inclusion, {"leaf_hash": leaf.hex(), "tree_size": 1})
    expect_invalid("inclusion: the receipt before the checkpoint", "receipt.inclusion",
                   dict(inclusion, receipt=short, checkpoint=checkpoint[:-1]), "RCP_SIGNATURE_INVALID")
    expect_invalid("inclusion: the checkpoint before the proof", "receipt.inclusion",
                   dict(inclusion, receipt=_receipt(seq=5), checkpoint=checkpoint[:-1]), "CKP_MALFORMED")
    expect_invalid("inclusion: the receipt's log is the origin", "receipt.inclusion",
                   dict(inclusion, receipt=_receipt(log="log.example/b")), "CKP_ORIGIN_MISMATCH")

    audit = {"receipts": [good], "checkpoint": checkpoint, "proofs": [[]], "log_key": log_key}
    expect_valid("audit", "receipt.audit", audit, {"audited": 1})
    expect_invalid("audit: another receipt at the held seq", "receipt.audit",
                   dict(audit, receipts=[_receipt("DENY", code="PTL_RATE_LIMITED")]), "RCP_OMITTED")
    expect_invalid("audit: a held seq beyond the checkpoint", "receipt.audit",
                   dict(audit, receipts=[good, _receipt(seq=5)], proofs=[[], []]), "RCP_NOT_COVERED")
    expect_invalid("audit: every signature before any proof", "receipt.audit",
                   dict(audit, receipts=[_receipt(seq=5), short], proofs=[[], []]), "RCP_SIGNATURE_INVALID")


# --- The stdin/stdout protocol, in both modes ----------------------------------------------


# --- Identity: tokens, operator attestations, proofs, requests, MCP ----------------------
#
# Hand-written cases for the ordering rules of token.md, proof.md and mcp-binding.md that
# the vectors do not pin: each input has two defects, and the code is the one the
# document's order reaches first. Tokens are issued here with fixed seeds.

PROVIDER_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8037 A.1
AGENT_SEED = bytes(range(32))
OPERATOR_SEED = bytes(range(32, 64))
NOW = 1780000000
AUD = "https://tools.example/mcp"


def _identity():
    import impl_identity as ident

    return ident


def _jwk(seed: bytes) -> dict:
    public_key, _ = impl.sign_bytes("Ed25519", seed, b"")
    return _identity().public_jwk("Ed25519", public_key)


def _thumbprint(seed: bytes) -> str:
    return impl.b64url_encode(__import__("hashlib").sha256(impl.canonicalize(_jwk(seed))).digest())


def _claims(**changes) -> dict:
    claims = {
        "iss": "https://provider.example", "sub": "spiffe://agents.provider.example/acme/bot", "aud": AUD,
        "iat": NOW - 300, "exp": NOW + 3300, "jti": "tok-1", "cnf": {"jkt": _thumbprint(AGENT_SEED)},
        "agent": {"provider": "P", "model_family": "m", "model_version": "1", "deployment": "prod",
                  "operator": "https://operator.example"},
    }
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


DROP = object()


def _jws(seed: bytes, header: dict, payload) -> str:
    segments = [impl.b64url_encode(impl.canonicalize(header)),
                impl.b64url_encode(payload if isinstance(payload, bytes) else impl.canonicalize(payload))]
    _, signature = impl.sign_bytes("Ed25519", seed, ".".join(segments).encode())
    return ".".join(segments + [impl.b64url_encode(signature)])


def _token(payload=None, **header_changes) -> str:
    header = {"alg": "Ed25519", "typ": "agent-attestation+jwt", "kid": _thumbprint(PROVIDER_SEED), **header_changes}
    header = {name: value for name, value in header.items() if value is not DROP}
    return _jws(PROVIDER_SEED, header, _claims() if payload is None else payload)


def _context(**extra) -> dict:
    context = {
        "now": NOW, "audience": AUD,
        "issuers": [{"iss": "https://provider.example", "trust_domains": ["agents.provider.example"],
                     "jwks": {"keys": [_jwk(PROVIDER_SEED)]}}],
        "operators": [{"iss": "https://operator.example", "jwks": {"keys": [_jwk(OPERATOR_SEED)]}}],
    }
    context.update(extra)
    return context


def _attestation(token: str, **changes) -> str:
    claims = {"iss": "https://operator.example", "iat": NOW - 60, "deployment": "prod",
              "tkh": _identity().token_hash(token)}
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name)
        else:
            claims[name] = value
    header = {"alg": "Ed25519", "typ": "operator-attestation+jwt", "kid": _thumbprint(OPERATOR_SEED)}
    return _jws(OPERATOR_SEED, header, claims)


PARAMS = {"name": "pay", "arguments": {"to": "acct-1", "amount": 3}}


def _proof(token: str, params=PARAMS, seed: bytes = AGENT_SEED, **changes) -> str:
    claims = {"mth": "tools/call", "ph": _identity().params_hash(params), "aud": AUD, "iat": NOW - 5,
              "jti": "prf-1", "ath": _identity().token_hash(token)}
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name)
        else:
            claims[name] = value
    return _jws(seed, {"alg": "Ed25519", "typ": "agent-proof+jwt", "jwk": _jwk(seed)}, claims)


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_identity() -> None:
    token = _token()
    ctx = _context()
    out = expect_valid("token: issued and verified", "token.verify", {"token": token}, context=ctx)
    check("token: outputs", out.get("kid") == _thumbprint(PROVIDER_SEED) and out.get("exp") == NOW + 3300
          and out.get("jkt") == _thumbprint(AGENT_SEED), str(out))
    issued = expect_valid("token.issue", "token.issue", {"alg": "Ed25519", "seed": PROVIDER_SEED.hex(), "claims": _claims()})
    check("token.issue: the JCS token, kid the thumbprint", issued == {"token": token, "kid": _thumbprint(PROVIDER_SEED)}, str(issued))
    expect_invalid("token.issue: 31-byte seed", "token.issue", {"alg": "Ed25519", "seed": "00" * 31, "claims": {}}, "KEY_INVALID")

    def tok(name, payload, code, **header):
        expect_invalid(f"token: {name}", "token.verify", {"token": _token(payload, **header)}, code, ctx)

    # Envelope: the header is parsed and checked before the payload is parsed.
    bad_payload = b'{"aud":1,"aud":2}'
    segments = [impl.b64url_encode(b"[]"), impl.b64url_encode(bad_payload), ""]
    expect_invalid("token: header not an object before a duplicate in the payload", "token.verify",
                   {"token": ".".join(segments)}, "JWS_MALFORMED", ctx)
    tok("alg none before a missing typ", None, "JWS_ALG_NOT_ALLOWED", alg="none", typ=DROP)
    expect_valid("token: typ APPLICATION/AGENT-ATTESTATION+JWT", "token.verify",
                 {"token": _token(typ="APPLICATION/AGENT-ATTESTATION+JWT")}, context=ctx)
    tok("typ with U+212A (no Unicode case folding)", None, "JWS_TYP_INVALID", typ="agent-attestation+jwt\u212a")
    tok("crit before an unknown header parameter", None, "JWS_CRIT_UNSUPPORTED", crit=["x"], x5c=[])
    # Nesting limit 16 for header and payload (the payload object is depth 1).
    expect_valid("token: payload nested 16 deep", "token.verify", {"token": _token(_claims(extra=_nested(15)))}, context=ctx)
    tok("payload nested 17 deep", _claims(extra=_nested(16)), "JSON_TOO_DEEP")
    # Step 2: https:// and at least one more character.
    tok("iss https:// alone", _claims(iss="https://"), "TOK_CLAIM_INVALID")
    # Step 7: one claim at a time, presence then form.
    tok("sub malformed before aud missing", _claims(sub="spiffe://agents.provider.example/", aud=DROP), "TOK_CLAIM_INVALID")
    tok("aud missing before iat malformed", _claims(aud=DROP, iat="1"), "TOK_CLAIM_MISSING")
    tok("aud array before exp missing", _claims(aud=[AUD], exp=DROP), "TOK_AUDIENCE_NOT_STRING")
    tok("aud empty", _claims(aud=""), "TOK_CLAIM_INVALID")
    tok("cnf a string", _claims(cnf="x"), "TOK_CNF_MISSING")
    tok("cnf.jkt a number", _claims(cnf={"jkt": 5}), "TOK_CLAIM_INVALID")
    tok("iat above 2^53", _claims(iat=2**53 + 2), "TOK_CLAIM_INVALID")
    tok("iat 1.5", _claims(iat=1.5), "TOK_CLAIM_INVALID")
    tok("jti of 257 characters", _claims(jti="j" * 257), "TOK_CLAIM_INVALID")
    expect_valid("token: jti of 256 non-BMP characters (scalar values, not UTF-16 units)", "token.verify",
                 {"token": _token(_claims(jti="\U0001F600" * 256))}, context=ctx)
    agent = dict(_claims()["agent"], provider="p" * 1025)
    tok("agent.provider of 1025 characters", _claims(agent=agent), "TOK_CLAIM_INVALID")
    expect_valid("token: agent.operator need not be https", "token.verify",
                 {"token": _token(_claims(agent=dict(_claims()["agent"], operator="acme")))}, context=ctx)
    tok("trust domain of 256 characters", _claims(sub="spiffe://" + "d" * 256 + "/x"), "TOK_CLAIM_INVALID")
    tok("expired before not yet valid", _claims(exp=NOW - 61, nbf=NOW + 61), "TOK_EXPIRED")
    tok("lifetime before subject domain", _claims(iat=NOW - 86401, exp=NOW, sub="spiffe://other.example/x"), "TOK_LIFETIME_EXCEEDED")

    # Operator attestations: after every token step, in their own order.
    required = _context(require_operator=True)
    expect_valid("operator: required and present", "token.verify",
                 {"token": token, "operator_attestation": _attestation(token)}, context=required)
    expect_invalid("operator: token defect first", "operator.verify",
                   {"token": _token(_claims(aud="https://other.example")), "attestation": _attestation(token)},
                   "TOK_AUDIENCE_MISMATCH", ctx)
    expect_invalid("operator: untrusted before a bad signature", "operator.verify",
                   {"token": token, "attestation": _attestation(token, iss="https://other.example")[:-4] + "AAAA"},
                   "TOK_OPERATOR_UNTRUSTED", ctx)
    expect_invalid("operator: tkh missing before iat in the future", "operator.verify",
                   {"token": token, "attestation": _attestation(token, tkh=DROP, iat=NOW + 61)}, "TOK_CLAIM_MISSING", ctx)
    expect_invalid("operator: iat in the future before the binding", "operator.verify",
                   {"token": token, "attestation": _attestation(token, iat=NOW + 61, deployment="other")},
                   "TOK_IAT_IN_FUTURE", ctx)
    expect_valid("operator: ignored when not required", "token.verify",
                 {"token": token, "operator_attestation": "not a jws"}, context=ctx)

    # Proofs.
    def prf(name, proof, code, params=PARAMS, context=None, method="tools/call"):
        expect_invalid(f"proof: {name}", "proof.verify",
                       {"token": token, "proof": proof, "method": method, "params": params}, code, context or ctx)

    out = expect_valid("proof: valid", "proof.verify",
                       {"token": token, "proof": _proof(token), "method": "tools/call", "params": PARAMS}, context=ctx)
    check("proof: outputs", out == {"jti": "prf-1", "iat": NOW - 5, "replay_expires": NOW + 115,
                                    "iss": "https://provider.example"}, str(out))
    prf("ph malformed, then jti missing: types of all claims first", _proof(token, ph="short", jti=DROP), "PRF_CLAIM_MISSING")
    prf("ph malformed", _proof(token, ph="short"), "PRF_CLAIM_INVALID")
    prf("ath before mth", _proof(token, ath=_identity().token_hash("x"), mth="tools/list"), "PRF_TOKEN_HASH_MISMATCH")
    prf("inexact number before ph", _proof(token, ph=_identity().token_hash("x")),
        "JSON_NUMBER_INEXACT", params={"amount": 100000000000000008191})
    exact = {"amount": 100000000000000000000}
    expect_valid("proof: exact big integer", "proof.verify",
                 {"token": token, "proof": _proof(token, exact), "method": "tools/call", "params": exact}, context=ctx)
    prf("iat in the future before the replay store", _proof(token, iat=NOW + 61), "PRF_IAT_IN_FUTURE",
        context=_context(seen=[{"iss": "https://provider.example", "jti": "prf-1", "expires": NOW + 100}]))
    prf("an entry expiring now is live", _proof(token), "PRF_REPLAY",
        context=_context(seen=[{"iss": "https://provider.example", "jti": "prf-1", "expires": NOW}]))
    expect_valid("proof: an entry expired a second ago is gone", "proof.verify",
                 {"token": token, "proof": _proof(token), "method": "tools/call", "params": PARAMS},
                 context=_context(seen=[{"iss": "https://provider.example", "jti": "prf-1", "expires": NOW - 1}]))
    prf("replay before a full store", _proof(token), "PRF_REPLAY",
        context=_context(replay_capacity=1, seen=[{"iss": "https://provider.example", "jti": "prf-1", "expires": NOW + 1}]))
    prf("a store full of live entries", _proof(token), "PRF_REPLAY_STORE_FULL",
        context=_context(replay_capacity=1, seen=[{"iss": "https://provider.example", "jti": "other", "expires": NOW}]))
    prf("jwk with a wrong kid (keys.md) before the cnf check",
        _jws(AGENT_SEED, {"alg": "Ed25519", "typ": "agent-proof+jwt", "jwk": dict(_jwk(AGENT_SEED), kid="x")}, {}),
        "JWK_INVALID_MEMBER")

    # request.verify and mcp.request.verify.
    def request(meta, method="tools/call", params=None, **message):
        params = dict(PARAMS if params is None else params)
        if meta is not None:
            params["_meta"] = meta
        return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params, **message}

    carried = {"dev.agent-attestation/token": token, "dev.agent-attestation/proof": _proof(token, {**PARAMS, "_meta": {}})}
    optional = _context(policy="optional")
    expect_invalid("request: optional, operator attestation alone", "request.verify",
                   {"request": request({"dev.agent-attestation/operator": "x"})}, "PRF_TOKEN_MISSING", optional)
    expect_invalid("request: a carrier that is not a string before the token", "request.verify",
                   {"request": request({"dev.agent-attestation/proof": 1})}, "MCP_CARRIER_INVALID", optional)
    expect_invalid("request: token defect before a missing proof", "request.verify",
                   {"request": request({"dev.agent-attestation/token": _token(_claims(aud="https://x.example"))})},
                   "TOK_AUDIENCE_MISMATCH", ctx)
    out = expect_valid("request: attested", "request.verify", {"request": request(carried)}, context=ctx)
    check("request: outputs", out.get("attested") is True and out.get("proof_jti") == "prf-1", str(out))

    def mcp(name, message, era, code, context=None):
        expect_invalid(f"mcp: {name}", "mcp.request.verify", {"request": message, "era": era}, code, context or ctx)

    mcp("id above 2^53", request(carried, id=2**53 + 2), "2025-11-25", "MCP_MALFORMED_REQUEST")
    expect_valid("mcp: id 7.0 is an integer", "mcp.request.verify",
                 {"request": request(carried, id=7.0), "era": "2025-11-25"}, context=ctx)
    mcp("carrier before the protocol version", request({"dev.agent-attestation/token": 5}), "2026-07-28", "MCP_CARRIER_INVALID")
    mcp("protocol version before the declaration", request(dict(carried)), "2026-07-28", "MCP_PROTOCOL_VERSION_MISMATCH")
    mcp("declaration that is not an object", request({
        **carried, "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"dev.agent-attestation/v1": True}}}),
        "2026-07-28", "MCP_EXTENSION_UNDECLARED")
    expect_invalid("mcp: strict parser first", "mcp.request.verify",
                   {"data": b'{"jsonrpc":"1.0","jsonrpc":"2.0"}'.hex(), "era": "2025-11-25"}, "JSON_DUPLICATE_MEMBER", ctx)
    expect_valid("mcp: not governed, nothing checked", "mcp.request.verify",
                 {"request": {"jsonrpc": "2.0", "id": {}, "method": "tools/list"}, "era": "2026-07-28"},
                 {"governed": False}, ctx)

    # attach, then verify, in both eras.
    for era in ("2025-11-25", "2026-07-28"):
        attach = {"request": request(None), "era": era, "token": token, "alg": "Ed25519", "seed": AGENT_SEED.hex(),
                  "audience": AUD, "iat": NOW - 5, "jti": f"prf-{era}", "operator_attestation": _attestation(token)}
        attached = expect_valid(f"mcp: attach {era}", "mcp.request.attach", attach).get("request")
        out = expect_valid(f"mcp: attached {era} verifies", "mcp.request.verify",
                           {"request": attached, "era": era}, context=required)
        check(f"mcp: attached {era} outputs", out.get("governed") is True and out.get("proof_jti") == f"prf-{era}"
              and out.get("operator") == {"iss": "https://operator.example", "deployment": "prod"}, str(out))
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    out = expect_valid("mcp: attach leaves other messages", "mcp.request.attach", {**attach, "request": listing})
    check("mcp: attach leaves other messages unchanged", out == {"request": listing}, str(out))
    attach_other = {**attach, "request": request({"io.modelcontextprotocol/protocolVersion": "2025-11-25"})}
    expect_invalid("mcp: attach refuses a request of another revision", "mcp.request.attach", attach_other,
                   "MCP_PROTOCOL_VERSION_MISMATCH")

    # Rejections.
    for code, status, challenge in (
        ("PTL_RATE_LIMITED", 403, 'AgentAttestation error="access_denied", code="PTL_RATE_LIMITED"'),
        ("JSON_NUMBER_INEXACT", 400, None),
        ("PRF_REPLAY_STORE_UNAVAILABLE", 503, None),
        ("JWKS_DUPLICATE_KID", 401, 'AgentAttestation error="invalid_attestation", code="JWKS_DUPLICATE_KID"'),
    ):
        out = expect_valid(f"mcp.error {code}", "mcp.error", {"code": code, "id": "c"})
        check(f"mcp.error {code}: status and challenge", out.get("http_status") == status
              and out.get("www_authenticate") == challenge and out["response"]["error"]["code"] == -31000
              and out["response"]["error"]["message"].startswith(code), str(out))

def test_exact_numbers() -> None:
    # json.md §Exact numbers: the literal's decimal value against its double's JCS form.
    for text, exact in (("1.0", True), ("1e2", True), ("-0.0", True), ("0.1", True), ("1e20", True),
                        ("100000000000000000000.4", False), ("0.30000000000000001", False), ("1e400", False)):
        check(f"exact {text}", impl.number_is_exact(impl.NumberLiteral(text)) == exact)
    for value, exact in ((10**20, True), (100000000000000008191, False), (2**60, False), (-0, True)):
        check(f"exact int {value}", impl.number_is_exact(value) == exact)
    inexact = impl.NumberLiteral("0.30000000000000001")
    check("first inexact in document order",
          impl.first_inexact_number({"a": [1, {"b": inexact}], "c": 10**30}) is inexact)
    check("json equality keeps booleans apart", not impl.json_equal(True, 1) and impl.json_equal(1, 1.0))


SEED_AUTHORITY, SEED_AGENT, SEED_SUB = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32


def public_jwk(seed: bytes) -> dict:
    public_key, _ = impl.ed25519_sign(seed, b"")
    return {"kty": "OKP", "crv": "Ed25519", "x": impl.b64url_encode(public_key)}


def thumb(seed: bytes) -> str:
    return impl.parse_jwk(public_jwk(seed))[0]


def seal(body: dict, seed: bytes) -> dict:
    domain = "mandate" if body["type"] == "mcp-attest/mandate/v1" else "artifact"
    _, signature = impl.ed25519_sign(seed, impl.signed_bytes(impl.canonicalize_value(body), domain))
    return dict(body, sig={"alg": "Ed25519", "jwk": public_jwk(seed), "value": impl.b64url_encode(signature)})


def artifact_body(**changes) -> dict:
    body = {
        "type": "mcp-attest/artifact/v1", "id": "a", "issuer": "https://policy.example",
        "subject": {"sub": "spiffe://example/agent", "jkt": thumb(SEED_AGENT)},
        "not_before": 100, "not_after": 1000,
        "tools": {"search": {"arguments": {"limit": {"type": "integer", "maximum": 50}},
                             "rate_limit": {"max": 3, "window": 60}}},
        "log": {"origins": ["log.example/a"]},
    }
    body.update(changes)
    return body


def mandate_of(parent: dict, seed: bytes, subject_seed: bytes, **changes) -> dict:
    import impl_policy
    body = artifact_body(type="mcp-attest/mandate/v1", id="m", parent=impl_policy.parse_artifact(parent).digest,
                         subject={"sub": "spiffe://example/sub", "jkt": thumb(subject_seed)})
    body.update(changes)
    return seal(body, seed)


def test_policy() -> None:
    import hashlib
    import impl_policy
    authorities = [thumb(SEED_AUTHORITY)]
    root = seal(artifact_body(), SEED_AUTHORITY)

    def verify(chain, trusted=authorities):
        return call("artifact.verify", {"chain": chain, "authorities": trusted})

    body = {k: v for k, v in root.items() if k != "sig"}
    digest = impl.b64url_encode(hashlib.sha256(impl.canonicalize_value({"body": body, "signer": authorities[0]})).digest())
    expect_valid("root", "artifact.verify", {"chain": [root], "authorities": authorities}, {"digest": digest, "id": "a"})
    tampered = dict(root, id="b")
    check("signature before trust", verify([tampered], [])["error"] == "ART_SIGNATURE_INVALID")
    check("empty chain", verify([])["error"] == "MAN_PARENT_MISSING")
    mandate = mandate_of(root, SEED_AGENT, SEED_SUB)
    check("mandate", verify([root, mandate])["result"] == "valid")
    check("chain starting with a mandate", verify([mandate])["error"] == "MAN_PARENT_MISSING")
    check("artifact in a mandate's place", verify([root, root])["error"] == "MAN_PARENT_MISSING")
    forged = mandate_of(root, SEED_SUB, SEED_SUB)
    forged = dict(forged, id="other")
    check("mandate signature before signer", verify([root, forged])["error"] == "MAN_SIGNATURE_INVALID")
    # 16 artifacts in all are accepted, 17 refused (mandate.md).
    chain = [root, mandate_of(root, SEED_AGENT, SEED_SUB)]
    while len(chain) < 17:
        chain.append(mandate_of(chain[-1], SEED_SUB, SEED_SUB))
    check("16 artifacts", verify(chain[:16])["result"] == "valid")
    check("17 artifacts", verify(chain)["error"] == "ART_MALFORMED")
    for name, changes in (
        ("empty enum", {"tools": {"t": {"arguments": {"x": {"type": "integer", "enum": []}}}}}),
        ("empty window", {"not_after": 100}),
        ("negative time", {"not_before": -1}),
        ("empty url", {"upstream": {"transport": "http", "url": "", "spki_sha256": authorities[0]}}),
        ("bool as integer", {"tools": {"t": {"rate_limit": {"max": True, "window": 1}}}}),
    ):
        check(f"malformed: {name}", verify([seal(artifact_body(**changes), SEED_AUTHORITY)])["error"] == "ART_MALFORMED")
    # Narrowing is exact for enumerations: 80 is not a value the mandate itself accepts.
    narrow = {"search": {"arguments": {"limit": {"type": "integer", "enum": [5, 80], "maximum": 50}},
                         "rate_limit": {"max": 3, "window": 60}}}
    check("enumeration narrowed exactly", verify([root, mandate_of(root, SEED_AGENT, SEED_SUB, tools=narrow)])["result"] == "valid")
    wide = {"search": {"arguments": {"limit": {"type": "integer", "enum": [5, 80]}}, "rate_limit": {"max": 3, "window": 60}}}
    check("enumeration wider", verify([root, mandate_of(root, SEED_AGENT, SEED_SUB, tools=wide)])["error"]
          == "MAN_WIDENS_CONSTRAINT")

    # Rate windows are (t - window, t]; a mandate's calls count against its parent too.
    parsed_root = impl_policy.parse_artifact(root)
    parsed_mandate = impl_policy.parse_artifact(mandate)
    rates = impl_policy.RateState()
    decisions = []
    for t, chain_ in ((100, [parsed_root]), (101, [parsed_root, parsed_mandate]), (102, [parsed_root]),
                      (159, [parsed_root]), (160, [parsed_root, parsed_mandate])):
        code = impl_policy.evaluate(chain_, "search", {"limit": 5}, t, rates)
        decisions.append(code)
        if code is None:
            rates.record(chain_, "search", t)
    check("sliding window", decisions == [None, None, None, "PTL_RATE_LIMITED", None], f"{decisions}")
    # Linear: each call enters and leaves a window once, however long the window.
    long_window = impl_policy.parse_artifact(seal(artifact_body(tools={"search": {"rate_limit": {
        "max": 10**9, "window": 10**6}}}, not_after=10**7), SEED_AUTHORITY))
    rates = impl_policy.RateState()
    for t in range(100, 100 + 200_000):
        if impl_policy.evaluate([long_window], "search", impl_policy.NO_ARGUMENTS, t, rates) is None:
            rates.record([long_window], "search", t)
    check("200,000 calls in one window", sum(len(w) for w in rates._windows.values()) == 200_000)
    inexact = {"limit": impl.NumberLiteral("5.00000000000000000001")}
    check("inexact argument", impl_policy.evaluate([parsed_root], "search", inexact, 500, impl_policy.RateState())
          == "JSON_NUMBER_INEXACT")


def test_bundle_streams() -> None:
    # verify_bundle reads each log's files as streams: once, and the receipts a second
    # time only for the recount across logs (step 10).
    import impl_bundle
    import impl_log
    path = HERE / "../../../vectors/bundle.json"
    if not path.is_file():
        return
    vectors = {v["id"]: v for v in json.loads(path.read_bytes())["vectors"]}
    for vector_id, reads in (("bnd-verify", 1), ("bnd-two-logs", 2)):
        vector = vectors[vector_id]
        counts = []

        def stream(data, kind, index=None):
            def read():
                if index is not None:
                    counts[index] += 1
                return impl_bundle.file_lines(bytes.fromhex(data), kind)
            return read

        logs = []
        for i, log in enumerate(vector["input"]["logs"]):
            counts.append(0)
            logs.append(impl_bundle.LogInput(log["origin"], stream(log["receipts"], "receipts", i),
                                             stream(log["checkpoints"], "checkpoints"),
                                             stream(log["payloads"], "payloads") if "payloads" in log else None))
        context = vector["context"]
        artifacts = impl_bundle.file_lines(bytes.fromhex(vector["input"]["artifacts"]), "artifacts")
        report = impl_bundle.verify_bundle(artifacts, logs, set(context["authorities"]),
                                           [impl_log.parse_verifier_key(k) for k in context["log_keys"]], context["now"])
        check(f"{vector_id}: receipts", report.receipts == vector["expected"]["output"]["receipts"])
        check(f"{vector_id}: receipts read {reads} time(s)", counts == [reads] * len(logs), f"{counts}")


def run(args: list[str], stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(IMPL), *args], input=stdin.encode(), capture_output=True, timeout=60)


def test_protocol() -> None:
    req = json.dumps({"context": {}, "input": {"data": "616263"}})
    p = run(["sha256.digest"], req)
    check("process: valid", p.returncode == 0 and json.loads(p.stdout) == {
        "result": "valid", "output": {"digest": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},
        f"{p.returncode} {p.stdout!r} {p.stderr!r}")
    p = run(["json.parse"], json.dumps({"context": {}, "input": {"data": b"[01]".hex()}}))
    check("process: invalid", p.returncode == 0 and {k: v for k, v in json.loads(p.stdout).items() if k != "message"}
          == {"result": "invalid", "error": "JSON_SYNTAX"}, f"{p.returncode} {p.stdout!r}")
    p = run(["json.parse"], json.dumps({"input": {"data": b"[[1]]".hex()}, "context": {"max_depth": 1}}))
    check("process: context", p.returncode == 0 and json.loads(p.stdout)["error"] == "JSON_TOO_DEEP", f"{p.stdout!r}")
    p = run(["no.such.op"], req)
    check("process: unknown op exits 3", p.returncode == 3 and p.stdout == b"", f"{p.returncode} {p.stdout!r}")
    p = run(["sha256.digest"], json.dumps({"input": {"data": "xyz"}}))
    check("process: bad hex is a harness error", p.returncode not in (0, 3), f"{p.returncode}")

    # JSONL: send one line, wait for its answer before sending the next (this fails by
    # timeout if the implementation does not flush after each line).
    proc = subprocess.Popen([sys.executable, str(IMPL), "--jsonl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    lines = [
        ({"op": "sha256.digest", "context": {}, "input": {"data": ""}}, {"result": "valid", "output": {
            "digest": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}),
        ({"op": "no.such.op", "context": {}, "input": {}}, {"unsupported": True}),
        ({"op": "base64url.decode", "context": {}, "input": {"encoded": "AB"}}, {"result": "invalid", "error": "B64_NONZERO_TRAILING_BITS"}),
        ({"op": "json.parse", "context": {"max_bytes": 1}, "input": {"data": "5b5d"}}, {"result": "invalid", "error": "JSON_TOO_LARGE"}),
        ({"op": "sha256.digest", "context": {}, "input": {"data": "0"}}, "error"),  # bad hex: a harness error line
        ({"op": "json.parse", "context": {"max_depth": None}, "input": {"data": "5b5d"}}, {"result": "valid", "output": {"canonical": "5b5d"}}),
        ({"op": "jwk.thumbprint", "context": {}, "input": {"jwk": okp()}}, {"result": "valid", "output": {
            "thumbprint": TP1, "canonical": ('{"crv":"Ed25519","kty":"OKP","x":"%s"}' % X1).encode().hex()}}),
    ]
    for i, (request, expected) in enumerate(lines):
        proc.stdin.write((json.dumps(request) + "\n").encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        answer = json.loads(proc.stdout.readline()) if ready else "timeout"
        if expected == "error" and isinstance(answer, dict):
            answer = answer.get("result")
        if isinstance(answer, dict):
            answer.pop("message", None)
        check(f"jsonl line {i}", answer == expected, f"{answer}")
    proc.stdin.close()
    rest = proc.stdout.read()
    check("jsonl: exit 0 at EOF", proc.wait(timeout=30) == 0 and rest == b"", f"{proc.returncode} {rest!r}")


def main() -> int:
    print(f"vectors: {VECTORS}")
    print(f"Ed25519 backend: {'PyNaCl (libsodium)' if impl.HAVE_NACL else 'pyca/cryptography + libsodium checks'}; "
          f"ML-DSA-65: {'yes' if impl.HAVE_MLDSA else 'unsupported'}")
    for test in (test_rfc_values, test_jcs_testdata, test_es6_numbers, test_wycheproof, test_cctv,
                 test_json_errors, test_json_valid, test_base64url, test_sha256, test_signatures,
                 test_mldsa, test_jwk, test_jwks, test_discovery, test_merkle, test_merkle_order,
                 test_checkpoint_order, test_receipt_order, test_identity, test_exact_numbers, test_policy,
                 test_bundle_streams, test_protocol):
        before_pass, before_fail = passed, len(failures)
        try:
            test()
        except Exception as e:  # a crash in one group is a failure, not the end of the run
            failures.append(f"{test.__name__} crashed: {type(e).__name__}: {e}")
        print(f"  {test.__name__}: {passed - before_pass} passed, {len(failures) - before_fail} failed")
    for failure in failures[:50]:
        print(f"FAIL {failure}")
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
