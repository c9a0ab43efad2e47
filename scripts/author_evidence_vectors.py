#!/usr/bin/env python3
"""Authoring aid for the evidence documents' vectors (merkle, checkpoint, receipt,
artifact, mandate, bundle).

Every expected value is computed here with Python (hashlib, PyNaCl, rfc8785, cbor2) from the
rules written in the spec, sharing no code with the Swift implementation. Expected
decisions and codes follow from how each vector is built (one defect per negative).
Rewrites the regions between `<!-- begin vectors: NAME -->` and `<!-- end vectors: NAME -->`,
and writes data files under spec/data/ through vectorlib (scripts/externalize_vectors.py,
conventions.md §Data files): large inputs, and every bundle.verify vector's files, which are
the exact bytes of the bundle layout (a list of JSON values becomes one JCS line per value;
the exact-bytes vectors give their files as bytes). No separate externalizing step is needed.

Usage: python3 scripts/author_evidence_vectors.py   (from the repository root)
"""
import base64, copy, hashlib, json, pathlib, re, sys

import cbor2
import nacl.bindings
import rfc8785

import externalize_vectors
import vectorlib


ROOT = pathlib.Path(__file__).resolve().parent.parent
sections = {}


def valid(section, *args, **kwargs):
    vectorlib.valid(sections, section, *bundle_form(args), **kwargs)


def invalid(section, *args, **kwargs):
    vectorlib.invalid(sections, section, *bundle_form(args), **kwargs)


SIG_KEPT = "_sig_kept"  # marks a receipt whose bundle line keeps its sig (a vector of BND-040)


def unsigned_receipts(b):
    """A bundle's receipts in their bundle form (bundle.md §Layout, BND-040): without
    sig, except a receipt marked SIG_KEPT, which keeps it (and loses the mark)."""
    b = copy.deepcopy(b)
    for log in b.get("logs", []):
        if isinstance(log, dict) and isinstance(log.get("receipts"), list):
            for r in log["receipts"]:
                if isinstance(r, dict) and not r.pop(SIG_KEPT, False):
                    r.pop("sig", None)
    return b


def bundle_form(args):
    """The arguments of valid()/invalid() with a bundle.verify input's receipts unsigned."""
    args = list(args)
    if len(args) > 4 and args[1] == "bundle.verify" and isinstance(args[4], dict):
        args[4] = unsigned_receipts(args[4])
    return args


def sha(b): return hashlib.sha256(b).digest()
b64u = vectorlib.b64u
def jcs(v): return rfc8785.dumps(v)


class Key:
    def __init__(self, seed_byte):
        self.pk, self.sk = nacl.bindings.crypto_sign_seed_keypair(bytes([seed_byte]) * 32)

    def sign(self, msg): return nacl.bindings.crypto_sign(msg, self.sk)[:64]

    @property
    def jwk(self): return {"kty": "OKP", "crv": "Ed25519", "x": b64u(self.pk)}

    @property
    def thumbprint(self): return b64u(sha(jcs({"crv": "Ed25519", "kty": "OKP", "x": b64u(self.pk)})))

    def vkey(self, name):
        key_id = sha(name.encode() + b"\n\x01" + self.pk)[:4]
        blob = base64.b64encode(b"\x01" + self.pk).decode()
        return f"{name}+{key_id.hex()}+{blob}"

    def note_sig(self, name, body):
        key_id = sha(name.encode() + b"\n\x01" + self.pk)[:4]
        return f"\u2014 {name} {base64.b64encode(key_id + self.sign(body.encode())).decode()}\n"


def domain(label, payload): return b"MCP-ATTEST-v1:" + label.encode() + b"\x00" + payload


# ---------------------------------------------------------------- Merkle (RFC 9162)
def leaf(d): return sha(b"\x00" + d)
def node(l, r): return sha(b"\x01" + l + r)
def split(n):
    k = 1
    while k * 2 < n: k *= 2
    return k
def mth(leaves):
    if not leaves: return sha(b"")
    if len(leaves) == 1: return leaf(leaves[0])
    k = split(len(leaves)); return node(mth(leaves[:k]), mth(leaves[k:]))
def path(m, leaves):
    if len(leaves) <= 1: return []
    k = split(len(leaves))
    return path(m, leaves[:k]) + [mth(leaves[k:])] if m < k else path(m - k, leaves[k:]) + [mth(leaves[:k])]
def subproof(m, leaves, b):
    n = len(leaves)
    if m == n: return [] if b else [mth(leaves)]
    k = split(n)
    return subproof(m, leaves[:k], b) + [mth(leaves[k:])] if m <= k else subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


LEAVES = [bytes([i]) * (i % 5) for i in range(7)]
S = "merkle-inclusion"
valid(S, "mrk-root-7", "merkle.root", "Root of a 7-leaf tree (no duplicated odd node).", ["MRK-001"],
      {"leaves": [l.hex() for l in LEAVES]}, {"root": mth(LEAVES).hex()})
valid(S, "mrk-root-0", "merkle.root", "The empty tree's root is SHA-256 of the empty string.", ["MRK-001"],
      {"leaves": []}, {"root": sha(b"").hex()})
root7 = mth(LEAVES)
def inc(i, n=7, proof=None, leaf_hash=None, root=None):
    return {"index": i, "tree_size": n, "leaf_hash": (leaf_hash or leaf(LEAVES[i])).hex(),
            "proof": [p.hex() for p in (proof if proof is not None else path(i, LEAVES[:n]))], "root": (root or mth(LEAVES[:n])).hex()}
for i in [0, 4, 6]:
    valid(S, f"mrk-inclusion-{i}-of-7", "merkle.inclusion", f"Inclusion proof of leaf {i} in the 7-leaf tree.", ["MRK-002", "MRK-003"], inc(i), {})
invalid(S, "mrk-inclusion-wrong-index", "merkle.inclusion", "The proof of leaf 4 presented for index 5.", ["MRK-003"],
        dict(inc(4), index=5), "MRK_INCLUSION_INVALID", "mrk-inclusion-4-of-7", "index changed from 4 to 5")
invalid(S, "mrk-inclusion-index-at-size", "merkle.inclusion", "An index equal to the tree size is out of range.", ["MRK-004"],
        dict(inc(6), index=7), "MRK_INDEX_OUT_OF_RANGE", "mrk-inclusion-6-of-7", "index changed from 6 to 7")
p = path(4, LEAVES)
invalid(S, "mrk-inclusion-truncated", "merkle.inclusion", "A proof with its last element removed.", ["MRK-003"],
        inc(4, proof=p[:-1]), "MRK_INCLUSION_INVALID", "mrk-inclusion-4-of-7", "last proof element removed")
invalid(S, "mrk-inclusion-extended", "merkle.inclusion", "A proof with an extra element.", ["MRK-003"],
        inc(4, proof=p + [sha(b"x")]), "MRK_INCLUSION_INVALID", "mrk-inclusion-4-of-7", "an element appended")
invalid(S, "mrk-inclusion-short-hash", "merkle.inclusion", "A 31-byte proof element.", ["MRK-005"],
        {**inc(4), "proof": [p[0].hex()[:-2]] + [x.hex() for x in p[1:]]}, "MRK_HASH_LENGTH", "mrk-inclusion-4-of-7", "first element truncated to 31 bytes")
invalid(S, "mrk-inclusion-no-prefix", "merkle.inclusion", "A leaf hashed without the 0x00 prefix does not verify.", ["MRK-001"],
        inc(0, leaf_hash=sha(LEAVES[0])), "MRK_INCLUSION_INVALID", "mrk-inclusion-0-of-7", "leaf hash computed without the 0x00 prefix")

S = "merkle-consistency"
def cons(m, n, proof=None, r1=None, r2=None):
    return {"size1": m, "size2": n, "root1": (r1 or mth(LEAVES[:m])).hex(), "root2": (r2 or mth(LEAVES[:n])).hex(),
            "proof": [x.hex() for x in (proof if proof is not None else subproof(m, LEAVES[:n], True))]}
for m, n in [(1, 7), (3, 7), (4, 7), (6, 7)]:
    valid(S, f"mrk-consistency-{m}-{n}", "merkle.consistency", f"Consistency proof from size {m} to {n}.", ["MRK-002", "MRK-006"], cons(m, n), {})
valid(S, "mrk-consistency-equal", "merkle.consistency", "Equal sizes, equal roots, empty proof.", ["MRK-008"], cons(7, 7), {})
invalid(S, "mrk-consistency-equal-nonempty", "merkle.consistency", "Equal sizes with a non-empty proof.", ["MRK-008"],
        cons(7, 7, proof=[sha(b"x")]), "MRK_CONSISTENCY_INVALID", "mrk-consistency-equal", "a proof element added")
invalid(S, "mrk-consistency-equal-other-root", "merkle.consistency", "Equal sizes with different roots.", ["MRK-008"],
        cons(7, 7, r2=mth(LEAVES[:6])), "MRK_CONSISTENCY_INVALID", "mrk-consistency-equal", "second root replaced by the 6-leaf root")
invalid(S, "mrk-consistency-from-zero", "merkle.consistency", "A proof from size 0 is refused.", ["MRK-007"],
        cons(0, 7, proof=[]), "MRK_SIZE_ORDER", "mrk-consistency-1-7", "first size changed to 0 and the proof emptied")
invalid(S, "mrk-consistency-shrinking", "merkle.consistency", "First size larger than the second.", ["MRK-007"],
        {**cons(3, 7), "size1": 7, "size2": 3}, "MRK_SIZE_ORDER", "mrk-consistency-3-7", "sizes swapped")
invalid(S, "mrk-consistency-forked", "merkle.consistency", "A second root from another history does not verify.", ["MRK-006"],
        cons(3, 7, r2=mth(LEAVES[:6] + [b"forged"])), "MRK_CONSISTENCY_INVALID", "mrk-consistency-3-7", "last leaf of the second tree replaced")
invalid(S, "mrk-consistency-bad-element", "merkle.consistency", "One proof element altered.", ["MRK-006"],
        cons(3, 7, proof=[sha(b"x")] + subproof(3, LEAVES, True)[1:]), "MRK_CONSISTENCY_INVALID", "mrk-consistency-3-7", "first proof element replaced")

# ---------------------------------------------------------------- checkpoints
LOG = Key(0xB1)
ORIGIN = "portal.example/log/vectors"
OTHER = Key(0xB2)
def body(origin, size, root): return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
def note(size, root, signers=((LOG, ORIGIN),), origin=ORIGIN):
    b = body(origin, size, root)
    return b + "\n" + "".join(k.note_sig(n, b) for k, n in signers)
S = "checkpoint-verify"
TRUST = [LOG.vkey(ORIGIN)]
valid(S, "ckp-verify", "checkpoint.verify",
      "A checkpoint signed by the log key; the trusted key's base64 holds a +, so the key text splits at its first two + only.", ["CKP-001", "CKP-014"],
      {"note": note(7, root7), "trusted": TRUST, "origin": ORIGIN}, {"origin": ORIGIN, "size": 7, "root": root7.hex()})
valid(S, "ckp-verify-extra-signature", "checkpoint.verify", "A cosignature by an unknown key is ignored.", ["CKP-004"],
      {"note": note(7, root7, ((LOG, ORIGIN), (OTHER, "witness.example"))), "trusted": TRUST, "origin": ORIGIN},
      {"origin": ORIGIN, "size": 7, "root": root7.hex()})
invalid(S, "ckp-other-key", "checkpoint.verify", "Signed only by a key the verifier does not trust.", ["CKP-004"],
        {"note": note(7, root7, ((OTHER, ORIGIN),)), "trusted": TRUST, "origin": ORIGIN}, "CKP_NO_TRUSTED_SIGNATURE", "ckp-verify",
        "signature replaced by one of another key under the same name")
n = note(7, root7)
invalid(S, "ckp-size-changed", "checkpoint.verify", "The size changed after signing.", ["CKP-005"],
        {"note": n.replace("\n7\n", "\n8\n", 1), "trusted": TRUST, "origin": ORIGIN}, "CKP_SIGNATURE_INVALID", "ckp-verify", "size 7 changed to 8")
invalid(S, "ckp-origin", "checkpoint.verify", "A checkpoint of another log.", ["CKP-003"],
        {"note": note(7, root7, ((LOG, ORIGIN),), origin="portal.example/log/other"), "trusted": TRUST, "origin": ORIGIN},
        "CKP_ORIGIN_MISMATCH", "ckp-verify", "origin line changed")
invalid(S, "ckp-no-blank-line", "checkpoint.verify", "Body and signatures not separated by a blank line.", ["CKP-002"],
        {"note": n.replace("\n\n", "\n", 1), "trusted": TRUST, "origin": ORIGIN}, "CKP_MALFORMED", "ckp-verify", "blank line removed")
invalid(S, "ckp-size-leading-zero", "checkpoint.verify", "A size written with a leading zero is not decimal as required.", ["CKP-002"],
        {"note": n.replace("\n7\n", "\n07\n", 1), "trusted": TRUST, "origin": ORIGIN}, "CKP_MALFORMED", "ckp-verify", "size 7 written 07")

valid(S, "ckp-verify-combining-name", "checkpoint.verify",
      "A cosignature line whose key name starts with a combining mark (U+0301) is an unknown key's, and ignored: lines are bytes, not grapheme clusters.",
      ["CKP-004", "CKP-002"], {"note": note(7, root7, ((LOG, ORIGIN), (OTHER, "\u0301witness.example"))), "trusted": TRUST, "origin": ORIGIN},
      {"origin": ORIGIN, "size": 7, "root": root7.hex()})
invalid(S, "ckp-origin-crlf", "checkpoint.verify", "An origin line ended by CR LF: the origin holds the CR, and is another log's.", ["CKP-003", "CKP-002"],
        {"note": note(7, root7, ((LOG, ORIGIN + "\r"),), origin=ORIGIN + "\r"), "trusted": [LOG.vkey(ORIGIN + "\r")], "origin": ORIGIN},
        "CKP_ORIGIN_MISMATCH", "ckp-verify", "origin line terminated by CR LF and signed so")

S = "checkpoint-successor"
c3, c7 = note(3, mth(LEAVES[:3])), note(7, root7)
proof37 = [x.hex() for x in subproof(3, LEAVES, True)]
valid(S, "ckp-successor", "checkpoint.successor", "A later checkpoint, consistent with the earlier one.", ["CKP-008"],
      {"earlier": c3, "later": c7, "consistency": proof37, "trusted": TRUST}, {})
invalid(S, "ckp-rollback", "checkpoint.successor", "A smaller checkpoint after a larger one.", ["CKP-006"],
        {"earlier": c7, "later": c3, "consistency": [], "trusted": TRUST}, "CKP_ROLLBACK", "ckp-successor", "the two checkpoints swapped")
fork = note(7, mth(LEAVES[:6] + [b"fork"]))
invalid(S, "ckp-equivocation", "checkpoint.successor", "Two checkpoints of one size with different roots: a forked log.", ["CKP-007"],
        {"earlier": c7, "later": fork, "consistency": [], "trusted": TRUST}, "CKP_EQUIVOCATION", "ckp-successor",
        "later checkpoint replaced by one of size 7 over another seventh leaf")
invalid(S, "ckp-successor-bad-proof", "checkpoint.successor", "Growth with a consistency proof that does not verify.", ["CKP-008"],
        {"earlier": c3, "later": fork, "consistency": proof37, "trusted": TRUST}, "MRK_CONSISTENCY_INVALID", "ckp-successor",
        "later checkpoint replaced by the forked one")

# ---------------------------------------------------------------- artifacts and mandates
AUTH, AGENT, SUB = Key(0xC1), Key(0xC2), Key(0xC3)
T0 = 1760000000
def seal(obj, key, label):
    o = {k: v for k, v in obj.items() if k != "sig"}
    o["sig"] = {"alg": "Ed25519", "jwk": dict(key.jwk, kid=key.thumbprint), "value": b64u(key.sign(domain(label, jcs(o))))}
    return o
def thumbprint_of(jwk): return b64u(sha(jcs({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]})))
def digest(o):
    # An artifact's identity: its body (without sig) and the thumbprint of the key that signed it.
    return b64u(sha(jcs({"body": {k: v for k, v in o.items() if k != "sig"}, "signer": thumbprint_of(o["sig"]["jwk"])})))
as_doubles = vectorlib.as_doubles
UPSTREAM = {"transport": "stdio", "executable_sha256": "ab" * 32}
ORIGIN_B = "portal.example/log/replica-b"
LOG_B = Key(0xB3)
ART_UNSIGNED = {
    "type": "mcp-attest/artifact/v1", "id": "art-v1", "issuer": "https://policy.example",
    "subject": {"sub": "spiffe://agents.example/orchestrator", "jkt": AGENT.thumbprint},
    "not_before": T0, "not_after": T0 + 86400,
    "tools": {"search": {"arguments": {"query": {"type": "string", "max_length": 64},
                                        "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                         "required": ["query"], "rate_limit": {"max": 3, "window": 60}},
              "read_file": {"arguments": {"path": {"type": "string", "prefix": "/data/"}}, "required": ["path"]},
              "Kill_job": {"arguments": {"Key": {"type": "string"}}},
              "caf\u00e9": {},
              "transfer": {"arguments": {"amount_wei": {"type": "number", "minimum": 0, "maximum": 1e21}}, "required": ["amount_wei"]}},
    "rate_limit": {"max": 10, "window": 60},
    "upstream": UPSTREAM,
    "log": {"origins": [ORIGIN, ORIGIN_B]},
}
ART = seal(ART_UNSIGNED, AUTH, "artifact")
def mandate(change=None, key=AGENT):
    m = {"type": "mcp-attest/mandate/v1", "id": "man-v1", "issuer": "spiffe://agents.example/orchestrator", "parent": digest(ART),
         "subject": {"sub": "spiffe://agents.example/researcher", "jkt": SUB.thumbprint},
         "not_before": T0, "not_after": T0 + 3600,
         "tools": {"search": {"arguments": {"query": {"type": "string", "max_length": 32, "prefix": "paper:"},
                                             "limit": {"type": "integer", "enum": [5, 10]}},
                              "required": ["query", "limit"], "rate_limit": {"max": 2, "window": 120}}},
         "rate_limit": {"max": 5, "window": 60}, "upstream": UPSTREAM, "log": {"origins": [ORIGIN]}}
    if change: change(m)
    return seal(m, key, "mandate")
MAN = mandate()
AUTHS = [AUTH.thumbprint]
S = "artifact-verify"
valid(S, "art-verify", "artifact.verify", "An artifact sealed by a trusted authority.", ["ART-002", "ART-003"],
      {"chain": [ART], "authorities": AUTHS}, {"digest": digest(ART), "id": "art-v1"})
invalid(S, "art-untrusted", "artifact.verify", "Sealed by a key that is not a trusted authority (its own jwk does not make it trusted).",
        ["ART-003"], {"chain": [seal(ART_UNSIGNED, OTHER, "artifact")], "authorities": AUTHS}, "ART_SIGNER_UNTRUSTED", "art-verify",
        "resealed by another key")
tampered = copy.deepcopy(ART); tampered["tools"]["delete_file"] = {}
invalid(S, "art-tampered", "artifact.verify", "A tool added after sealing.", ["ART-002"],
        {"chain": [tampered], "authorities": AUTHS}, "ART_SIGNATURE_INVALID", "art-verify", "tool delete_file added")
cross = copy.deepcopy(ART); cross["sig"]["value"] = b64u(AUTH.sign(domain("receipt", jcs({k: v for k, v in ART.items() if k != "sig"}))))
invalid(S, "art-receipt-domain", "artifact.verify", "A signature over the same bytes made for a receipt is not an artifact signature.",
        ["ART-002", "SIG-010"], {"chain": [cross], "authorities": AUTHS}, "ART_SIGNATURE_INVALID", "art-verify",
        "signature replaced by one with label receipt")
extra = copy.deepcopy(ART_UNSIGNED); extra["comment"] = "x"
invalid(S, "art-unknown-member", "artifact.verify", "An unknown member.", ["ART-001"],
        {"chain": [seal(extra, AUTH, "artifact")], "authorities": AUTHS}, "ART_MALFORMED", "art-verify", "member comment added")
bad = copy.deepcopy(ART_UNSIGNED); bad["tools"]["search"]["arguments"]["query"]["prefix"] = 5
invalid(S, "art-bad-constraint", "artifact.verify", "A constraint member of the wrong type.", ["ART-001"],
        {"chain": [seal(bad, AUTH, "artifact")], "authorities": AUTHS}, "ART_MALFORMED", "art-verify", "prefix set to a number")
regex = copy.deepcopy(ART_UNSIGNED); regex["tools"]["search"]["arguments"]["query"]["pattern"] = "^a"
invalid(S, "art-no-patterns", "artifact.verify", "Patterns are not part of the constraint language.", ["ART-001"],
        {"chain": [seal(regex, AUTH, "artifact")], "authorities": AUTHS}, "ART_MALFORMED", "art-verify", "a pattern member added")

S = "mandate-verify"
valid(S, "man-verify", "artifact.verify", "A mandate that narrows tools, constraints, time and limits.", ["MAN-001", "MAN-002", "MAN-003"],
      {"chain": [ART, MAN], "authorities": AUTHS}, {"digest": digest(MAN), "id": "man-v1"})
def man_neg(name, code, covers, change, mutation, key=AGENT, chain=None):
    invalid(S, f"man-{name}", "artifact.verify", f"Rejected: {mutation}.", covers,
            {"chain": chain or [ART, mandate(change, key)], "authorities": AUTHS}, code, "man-verify", mutation)
man_neg("parent-missing", "MAN_PARENT_MISSING", ["MAN-001"], lambda m: m.update(parent=b64u(sha(b"other"))), "parent digest changed")
man_neg("not-subject", "MAN_SIGNER_NOT_SUBJECT", ["MAN-003"], None, "signed by the sub-agent instead of the parent's subject", key=SUB)
mt = mandate(); mt["not_after"] = T0 + 7200
man_neg("tampered", "MAN_SIGNATURE_INVALID", ["MAN-002"], None, "not_after changed after signing", chain=[ART, mt])
man_neg("widens-time", "MAN_WIDENS_VALIDITY", ["MAN-004"], lambda m: m.update(not_after=T0 + 90000), "not_after past the parent's")
man_neg("widens-tools", "MAN_WIDENS_TOOLS", ["MAN-005"], lambda m: m["tools"].update(delete_file={}), "tool delete_file added")
man_neg("widens-constraint", "MAN_WIDENS_CONSTRAINT", ["MAN-006"],
        lambda m: m["tools"]["search"]["arguments"]["query"].update(max_length=100), "max_length raised to 100")
man_neg("widens-enum", "MAN_WIDENS_CONSTRAINT", ["MAN-006"],
        lambda m: m["tools"]["search"]["arguments"]["limit"].update(enum=[5, 80]), "enum value 80 outside the parent's maximum")
man_neg("widens-prefix", "MAN_WIDENS_CONSTRAINT", ["MAN-006"],
        lambda m: m["tools"]["search"]["arguments"].update(query={"type": "string", "max_length": 32}), "prefix dropped, which is fine, but the parent has none either: control")
sections["mandate-verify"].pop()  # the line above is not a defect; keep the set honest
man_neg("drops-constraint", "MAN_WIDENS_CONSTRAINT", ["MAN-006"],
        lambda m: m["tools"]["search"]["arguments"].pop("limit") and m["tools"]["search"].update(required=["query"]), "constraint on limit dropped")
man_neg("widens-rate", "MAN_WIDENS_RATE_LIMIT", ["MAN-007"],
        lambda m: m["tools"]["search"]["rate_limit"].update(window=30), "rate window shortened to 30 s")
man_neg("drops-rate", "MAN_WIDENS_RATE_LIMIT", ["MAN-007"], lambda m: m.pop("rate_limit"), "overall rate limit dropped")
man_neg("other-log", "MAN_LOG_MISMATCH", ["MAN-008"], lambda m: m.update(log={"origins": [ORIGIN, "elsewhere"]}), "a log its parent does not name added")
def both(m):
    m.update(not_after=T0 + 90000)
    m["tools"].update(delete_file={})
man_neg("order-validity-first", "MAN_WIDENS_VALIDITY", ["MAN-009", "ERR-002"], both, "not_after past the parent's and a tool added")

S = "artifact-evaluate"
def ev(tool, arguments, t, history=()):
    return {"artifact": ART, "history": [{"tool": h[0], "time": h[1]} for h in history],
            "call": {"tool": tool, "arguments": arguments, "time": t}}
valid(S, "art-eval-allow", "artifact.evaluate", "A call within every rule.", ["ART-004"],
      ev("search", {"query": "cats", "limit": 5}, T0 + 10), {"decision": "ALLOW"})
def eneg(name, code, covers, inp, mutation, base="art-eval-allow"):
    invalid(S, f"art-eval-{name}", "artifact.evaluate", f"Denied: {mutation}.", covers, inp, code, base, mutation)
eneg("before", "PTL_OUTSIDE_VALIDITY", ["ART-004"], ev("search", {"query": "cats", "limit": 5}, T0 - 1), "time one second before not_before")
eneg("at-end", "PTL_OUTSIDE_VALIDITY", ["ART-004"], ev("search", {"query": "cats", "limit": 5}, T0 + 86400), "time equal to not_after")
eneg("tool", "PTL_TOOL_NOT_ALLOWED", ["ART-004"], ev("delete_file", {"query": "cats", "limit": 5}, T0 + 10), "tool changed to delete_file")
eneg("max-length", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("search", {"query": "x" * 65, "limit": 5}, T0 + 10), "query of 65 characters")
eneg("maximum", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("search", {"query": "cats", "limit": 51}, T0 + 10), "limit 51")
eneg("integer", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("search", {"query": "cats", "limit": 5.5}, T0 + 10), "limit 5.5")
eneg("required", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("search", {"limit": 5}, T0 + 10), "query removed")
eneg("additional", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("search", {"query": "cats", "limit": 5, "debug": True}, T0 + 10), "argument debug added")
valid(S, "art-eval-path-allowed", "artifact.evaluate", "A path under the allowed prefix.", ["ART-004"],
      ev("read_file", {"path": "/data/a.txt"}, T0 + 10), {"decision": "ALLOW"})
eneg("prefix", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("read_file", {"path": "/etc/passwd"}, T0 + 10), "path outside /data/", base="art-eval-path-allowed")
hist = [("search", T0 + 1), ("search", T0 + 2), ("search", T0 + 3)]
valid(S, "art-eval-rate-window-passed", "artifact.evaluate",
      "At T0+61 the window (T0+1, T0+61] holds two of the three earlier calls: below the limit of 3.", ["ART-004", "ART-005"],
      ev("search", {"query": "cats", "limit": 5}, T0 + 61, hist), {"decision": "ALLOW"})
eneg("rate", "PTL_RATE_LIMITED", ["ART-004", "ART-005"], ev("search", {"query": "cats", "limit": 5}, T0 + 60, hist),
     "call one second earlier: the window (T0, T0+60] holds all three earlier calls", base="art-eval-rate-window-passed")
many = [("read_file", T0 + i) for i in range(10)]
eneg("rate-overall", "PTL_RATE_LIMITED", ["ART-004"], ev("search", {"query": "cats", "limit": 5}, T0 + 10, many),
     "ten earlier calls of another tool in the window fill the overall limit")
eneg("order-tool-before-time", "PTL_OUTSIDE_VALIDITY", ["ART-004", "ERR-002"], ev("delete_file", {}, T0 - 1),
     "an unknown tool outside the window: the window is checked first")

# ---------------------------------------------------------------- receipts
def denial(code): return {"code": -31000, "message": f"{code}: denied by the portal", "data": {"code": code, "extension": "dev.agent-attestation/v1"}}
def result(seq): return {"content": [{"type": "text", "text": f"r{seq}"}], "isError": False}
def commit(salt, payload): return b64u(sha(b"MCP-ATTEST-v1:commitment\x00" + salt + jcs(as_doubles(payload))))
def receipt(seq, prev, t, decision="ALLOW", tool="search", code=None, req=None, resp=None, salts=(b"\x11" * 32, b"\x22" * 32), art=None, key=LOG,
            origin=ORIGIN, agent=None, method="tools/call", call=None, upstream=None, session="s1", open_call=False, with_request=None,
            tools_sha256=None, shadow=None):
    # A RESULT commits to the response only; an open call (an ALLOW written before forwarding) to the request only.
    with_request = decision != "RESULT" if with_request is None else with_request
    with_response = not open_call
    req = req if req is not None else {"name": tool, "arguments": {"query": f"q{seq}", "limit": 5}}
    resp = resp if resp is not None else (denial(code) if decision in ("DENY", "RESULT") and code else result(seq))
    r = {"type": "mcp-attest/receipt/v1", "log": origin, "seq": seq, "time": t, "prev": b64u(prev),
         "artifact": art or digest(ART), "session": session,
         "agent": agent or {"sub": ART["subject"]["sub"], "jkt": ART["subject"]["jkt"]}, "method": method, "tool": tool,
         "decision": decision,
         "request": commit(salts[0], req),
         "response": commit(salts[1], resp)}
    if tool is None: r.pop("tool")
    if code: r["code"] = code
    if call is not None: r["call"] = call
    if upstream is not None: r["upstream"] = upstream
    if tools_sha256 is not None: r["tools_sha256"] = tools_sha256
    if shadow is not None: r["shadow"] = shadow
    if not with_request: r.pop("request")
    if not with_response: r.pop("response")
    canon = jcs(r)
    r["sig"] = {"alg": "Ed25519", "kid": key.thumbprint, "value": b64u(key.sign(domain("receipt", canon)))}
    payload = {"seq": seq}
    if with_request: payload.update(request=req, request_salt=b64u(salts[0]))
    if with_response: payload.update(response=resp, response_salt=b64u(salts[1]))
    return r, canon, payload
def link(r): return sha(jcs({k: v for k, v in r.items() if k != "sig"}))

S = "receipt-verify"
R0, C0, P0 = receipt(0, b"\x00" * 32, T0 + 5)
valid(S, "rcp-verify", "receipt.verify", "A receipt signed by the log key: canonical form, link and leaf hash.", ["RCP-001", "RCP-004"],
      {"receipt": R0, "log_key": LOG.vkey(ORIGIN)}, {"canonical": C0.hex(), "link": sha(C0).hex(), "leaf_hash": leaf(sha(C0)).hex()})
def rneg(name, code, covers, r, mutation):
    invalid(S, f"rcp-{name}", "receipt.verify", f"Rejected: {mutation}.", covers, {"receipt": r, "log_key": LOG.vkey(ORIGIN)}, code, "rcp-verify", mutation)
t = copy.deepcopy(R0); t["decision"] = "DENY"; t["code"] = "PTL_RATE_LIMITED"
rneg("decision-flipped", "RCP_SIGNATURE_INVALID", ["RCP-004"], t, "decision changed to DENY after signing")
t = receipt(0, b"\x00" * 32, T0 + 5, key=OTHER)[0]; t["sig"]["kid"] = LOG.thumbprint
rneg("other-key", "RCP_SIGNATURE_INVALID", ["RCP-004"], t, "signed by another key, sig.kid still naming the log key")
t = copy.deepcopy(R0); t["sig"]["kid"] = OTHER.thumbprint
rneg("kid-other", "RCP_KEY_UNTRUSTED", ["RCP-005"], t, "kid changed to another key's thumbprint")
t = copy.deepcopy(R0); t["extra"] = 1
rneg("unknown-member", "RCP_MALFORMED", ["RCP-002"], t, "member extra added")
rneg("unsigned", "RCP_MALFORMED", ["RCP-028"], {k: v for k, v in R0.items() if k != "sig"},
     "sig removed, as a bundle's receipt line has it: a receipt handed out alone carries its signature")
rneg("allow-with-code", "RCP_MALFORMED", ["RCP-003"], receipt(0, b"\x00" * 32, T0 + 5, code="PTL_RATE_LIMITED")[0], "a code on an ALLOW")
rneg("deny-without-code", "RCP_MALFORMED", ["RCP-003"], receipt(0, b"\x00" * 32, T0 + 5, decision="DENY")[0], "a DENY without a code")
t = copy.deepcopy(R0); t["seq"] = -1
rneg("negative-seq", "RCP_MALFORMED", ["RCP-002"], t, "seq set to -1")
t = copy.deepcopy(R0); t["sig"]["value"] = b64u(LOG.sign(domain("artifact", C0)))
rneg("artifact-label", "RCP_SIGNATURE_INVALID", ["RCP-001", "RCP-004", "SIG-010"], t,
     "signature replaced by the log key's signature over the same canonical bytes with label artifact (a key that also seals artifacts)")

S = "receipt-disclosure"
valid(S, "rcp-disclosure", "receipt.disclosure", "A disclosed request and response with their salts match the commitments.", ["RCP-007"],
      {"receipt": R0, **{k: v for k, v in P0.items() if k != "seq"}}, {})
def dneg(name, change, mutation, covers=("RCP-007",)):
    d = {"receipt": R0, **copy.deepcopy({k: v for k, v in P0.items() if k != "seq"})}
    change(d)
    invalid(S, f"rcp-disclosure-{name}", "receipt.disclosure", f"Rejected: {mutation}.", list(covers), d, "RCP_COMMITMENT_MISMATCH", "rcp-disclosure", mutation)
dneg("swapped", lambda d: d["request"]["arguments"].update(query="other"), "query argument changed")
dneg("salt", lambda d: d.update(request_salt=b64u(b"\x12" * 32)), "request salt changed")
dneg("response", lambda d: d["response"].update(isError=True), "response isError changed")
def rename(d):
    # A request naming another tool, committed honestly: only the receipt's tool field disagrees.
    d["request"]["name"] = "read_file"
R_other, _, P_other = receipt(0, b"\x00" * 32, T0 + 5, req={"name": "read_file", "arguments": {"path": "/data/x"}})
invalid(S, "rcp-disclosure-tool", "receipt.disclosure", "The committed request calls another tool than the receipt names.", ["RCP-008"],
        {"receipt": R_other, **{k: v for k, v in P_other.items() if k != "seq"}}, "RCP_COMMITMENT_MISMATCH", "rcp-disclosure",
        "request name read_file committed under a receipt whose tool is search")

S = "receipt-inclusion"
chain_rs, prev = [], b"\x00" * 32
for i in range(5):
    r, c, _ = receipt(i, prev, T0 + 10 + 30 * i)
    chain_rs.append((r, c)); prev = link(r)
canons5 = [sha(c) for _, c in chain_rs]  # leaf data: the link hashes
cp5 = note(5, mth(canons5))
def incl(i, proof=None, checkpoint=None, r=None):
    return {"receipt": r or chain_rs[i][0], "checkpoint": checkpoint or cp5,
            "proof": [x.hex() for x in (proof if proof is not None else path(i, canons5))], "log_key": LOG.vkey(ORIGIN)}
valid(S, "rcp-inclusion", "receipt.inclusion", "Receipt 3 of 5, its inclusion proof and the signed checkpoint of size 5.", ["RCP-011"],
      incl(3), {"leaf_hash": leaf(canons5[3]).hex(), "tree_size": 5})
invalid(S, "rcp-inclusion-other-receipt", "receipt.inclusion", "The proof of receipt 3 presented with receipt 2.", ["RCP-011"],
        incl(3, r=chain_rs[2][0]), "MRK_INCLUSION_INVALID", "rcp-inclusion", "receipt 3 replaced by receipt 2")
invalid(S, "rcp-inclusion-other-size", "receipt.inclusion", "A proof for the tree of 4 against the checkpoint of 5.", ["RCP-011"],
        incl(3, proof=path(3, canons5[:4])), "MRK_INCLUSION_INVALID", "rcp-inclusion", "proof computed for a tree of 4")
invalid(S, "rcp-inclusion-checkpoint-key", "receipt.inclusion", "A checkpoint not signed by the log key.", ["RCP-011"],
        incl(3, checkpoint=note(5, mth(canons5), ((OTHER, ORIGIN),))), "CKP_NO_TRUSTED_SIGNATURE", "rcp-inclusion",
        "checkpoint signed by another key")
invalid(S, "rcp-inclusion-beyond", "receipt.inclusion", "Receipt 4 against a checkpoint of size 4.", ["RCP-011"],
        incl(4, proof=[], checkpoint=note(4, mth(canons5[:4]))), "MRK_INDEX_OUT_OF_RANGE", "rcp-inclusion",
        "receipt 4 with the checkpoint of size 4")

S = "receipt-audit"
# A client holds receipts 1, 3 and 4 of the five-receipt log above; the operator proves
# each at its seq under a later checkpoint, or cannot.
HELD = [1, 3, 4]
def resigned_log(entries):
    """Receipts renumbered from 0 and re-chained, each re-signed with the log key, as an
    operator holding the key can: `entries` are receipts (their seq, prev and sig replaced)."""
    out, prev = [], b"\x00" * 32
    for i, r in enumerate(entries):
        body = {k: v for k, v in r.items() if k != "sig"}
        body.update(seq=i, prev=b64u(prev))
        out.append(dict(body, sig={"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(body))))}))
        prev = link(out[-1])
    return out
def audit(log_rs=None, held=None, checkpoint=None, proofs=None):
    """The held receipts (seqs into the honest log, or receipts), the checkpoint of `log_rs`
    (default: the honest log) and the proofs of each held seq in that log's tree."""
    rs = log_rs if log_rs is not None else [r for r, _ in chain_rs]
    leaves = [link(r) for r in rs]
    held_rs = [chain_rs[h][0] if isinstance(h, int) else h for h in (held if held is not None else HELD)]
    default_proofs = [path(r["seq"], leaves) if r["seq"] < len(leaves) else [] for r in held_rs]
    return {"receipts": held_rs, "checkpoint": checkpoint or note(len(rs), mth(leaves)),
            "proofs": [[x.hex() for x in p] for p in (proofs if proofs is not None else default_proofs)], "log_key": LOG.vkey(ORIGIN)}
valid(S, "rcp-audit", "receipt.audit", "A client holds receipts 1, 3 and 4; each is proven at its seq under the checkpoint of size 5.",
      ["RCP-032", "RCP-033"], audit(), {"audited": 3})
def aneg(name, code, covers, inp, mutation):
    invalid(S, f"rcp-audit-{name}", "receipt.audit", f"Rejected: {mutation}.", covers + ["ERR-001"], inp, code, "rcp-audit", mutation)
HONEST = [r for r, _ in chain_rs]
APPENDED = receipt(5, b"\x00" * 32, T0 + 200)[0]  # a later call, so that the rewritten log keeps size 5
aneg("omitted", "RCP_OMITTED", ["RCP-033"], audit(log_rs=resigned_log(HONEST[:3] + HONEST[4:] + [APPENDED])),
     "the log re-signed without receipt 3 (receipt 4 renumbered 3, a later receipt appended: size 5), each held seq proven in that log")
altered = copy.deepcopy(HONEST); altered[3]["tool"] = "read_file"
aneg("altered", "RCP_OMITTED", ["RCP-033"], audit(log_rs=resigned_log(altered)),
     "the log's receipt 3 edited (tool read_file) and the log re-chained and re-signed, each held seq proven in that log")
aneg("short-proof", "RCP_OMITTED", ["RCP-033"], audit(proofs=[path(1, canons5), path(3, canons5[:4]), path(4, canons5)]),
     "held receipt 3 given its proof in the tree of 4: the proof is too short for the checkpoint of 5")
aneg("not-covered", "RCP_NOT_COVERED", ["RCP-034"], audit(log_rs=HONEST[:4]),
     "the checkpoint of size 4, which held receipt 4 is beyond")
other_log = copy.deepcopy(HONEST[3]); other_log.pop("sig"); other_log["log"] = ORIGIN_B
other_log["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(other_log))))}
aneg("other-log", "RCP_LOG_MISMATCH", ["RCP-035"], audit(held=[1, other_log, 4], proofs=[path(1, canons5), path(3, canons5), path(4, canons5)]),
     f"held receipt 3 names log {ORIGIN_B}, signed by the log key")
forged = copy.deepcopy(HONEST[3]); forged["decision"] = "DENY"; forged["code"] = "PTL_RATE_LIMITED"
aneg("forged", "RCP_SIGNATURE_INVALID", ["RCP-032"], audit(held=[1, forged, 4], proofs=[path(1, canons5), path(3, canons5), path(4, canons5)]),
     "held receipt 3's decision changed to DENY after signing")
aneg("checkpoint-key", "CKP_NO_TRUSTED_SIGNATURE", ["RCP-032"], audit(checkpoint=note(5, mth(canons5), ((OTHER, ORIGIN),))),
     "the checkpoint signed by another key")
forged4 = copy.deepcopy(HONEST[4]); forged4["decision"] = "DENY"; forged4["code"] = "PTL_RATE_LIMITED"
aneg("order-signature-first", "RCP_SIGNATURE_INVALID", ["RCP-032", "ERR-002"],
     audit(log_rs=resigned_log(HONEST[:3] + HONEST[4:] + [APPENDED]), held=[1, 3, forged4]),
     "the log re-signed without receipt 3, and held receipt 4's decision changed to DENY after signing: every signature is checked before any proof")
aneg("order-held", "RCP_NOT_COVERED", ["RCP-032", "RCP-034", "ERR-002"], audit(log_rs=resigned_log(HONEST[:3] + HONEST[4:]), held=[1, 4, 3]),
     "the log re-signed without receipt 3 (size 4), receipts held in the order 1, 4, 3: held receipt 4, beyond the size, comes before receipt 3")

S = "receipt-proof"
# receipt.md §Exporting one receipt's proof: receipt 3 of the five-receipt log above, its
# proof in the tree of the checkpoint of size 5, in both formats (cbor2 for the CBOR).
R3, P3 = chain_rs[3][0], path(3, canons5)
def tlog_text(r=R3, index=3, proof=P3, header="c2sp.org/tlog-proof@v1", note_text=cp5):
    lines = [header, "extra " + base64.b64encode(jcs(r)).decode(), f"index {index}"] + [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n\n" + note_text
def cose(index=3, size=5, proof=P3, root=None, protected=None, payload=None, sign_root=None):
    protected = protected if protected is not None else cbor2.dumps({1: -19, 395: 1}, canonical=True)
    root = root if root is not None else mth(canons5)
    to_sign = cbor2.dumps(["Signature1", protected, b"", sign_root if sign_root is not None else root], canonical=True)
    inclusion = cbor2.dumps([size, index, list(proof)], canonical=True)
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {396: {-1: [inclusion]}}, payload, LOG.sign(to_sign)]), canonical=True).hex()
def tlog_input(text): return {"format": "tlog-proof", "proof": text, "log_key": LOG.vkey(ORIGIN)}
def cose_input(hexbytes, r=R3): return {"format": "cose-receipt", "proof": hexbytes, "receipt": r, "log_key": LOG.vkey(ORIGIN)}
valid(S, "rcp-proof-tlog", "receipt.verify-proof", "Receipt 3 of 5 as a c2sp.org/tlog-proof@v1: the receipt in extra, its index, its proof and the checkpoint of size 5.",
      ["RCP-037"], tlog_input(tlog_text()), {"seq": 3, "tree_size": 5})
def tneg(name, code, text, mutation, covers=("RCP-037",)):
    invalid(S, f"rcp-proof-tlog-{name}", "receipt.verify-proof", f"Rejected: {mutation}.", list(covers) + ["ERR-001"], tlog_input(text), code, "rcp-proof-tlog", mutation)
tneg("header", "RCP_PROOF_MALFORMED", tlog_text(header="c2sp.org/tlog-proof@v2"), "the first line names version v2")
tneg("index", "RCP_PROOF_MALFORMED", tlog_text(index=2), "the index line names 2, not the receipt's seq 3")
tneg("index-zero", "RCP_PROOF_MALFORMED", tlog_text().replace("\nindex 3\n", "\nindex 03\n"), "the index written with a leading zero")
tneg("short", "MRK_INCLUSION_INVALID", tlog_text(proof=P3[:-1]), "the last proof line dropped")
forged3 = copy.deepcopy(R3); forged3["decision"] = "DENY"; forged3["code"] = "PTL_RATE_LIMITED"
tneg("receipt-edited", "RCP_SIGNATURE_INVALID", tlog_text(r=forged3), "the receipt in extra changed to a DENY after signing")
tneg("checkpoint-key", "CKP_NO_TRUSTED_SIGNATURE", tlog_text(note_text=note(5, mth(canons5), ((OTHER, ORIGIN),))), "the checkpoint signed by another key")
valid(S, "rcp-proof-cose", "receipt.verify-proof", "Receipt 3 of 5 with its COSE Receipt: alg -19, vds RFC9162_SHA256, the inclusion proof in vdp, the root of the tree of 5 signed by the log key, detached.",
      ["RCP-039", "RCP-046"], cose_input(cose()), {"seq": 3, "root": b64u(mth(canons5))})
valid(S, "rcp-proof-cose-size-unauthenticated", "receipt.verify-proof",
      "The COSE Receipt of rcp-proof-cose with the tree size in its unprotected header changed from 5 to 8: the path of leaf 3 leads to the same signed root, so it verifies and outputs the same seq and root; the size is not authenticated and not output.",
      ["RCP-046"], cose_input(cose(size=8)), {"seq": 3, "root": b64u(mth(canons5))})
def cneg(name, code, inp, mutation, covers=("RCP-039",)):
    invalid(S, f"rcp-proof-cose-{name}", "receipt.verify-proof", f"Rejected: {mutation}.", list(covers) + ["ERR-001"], inp, code, "rcp-proof-cose", mutation)
cneg("eddsa", "RCP_PROOF_MALFORMED", cose_input(cose(protected=cbor2.dumps({1: -8, 395: 1}, canonical=True))),
     "alg -8 (EdDSA, deprecated by RFC 9864), signed validly over that header", covers=("RCP-040",))
cneg("unsorted", "RCP_PROOF_MALFORMED", cose_input(cose(protected=bytes([0xA2, 0x19, 0x01, 0x8B, 0x01, 0x01, 0x32])),),
     "the protected header's keys in another order than the deterministic encoding's (signed over those bytes)")
cneg("attached", "RCP_PROOF_MALFORMED", cose_input(cose(payload=mth(canons5))), "the root attached as the payload")
cneg("index", "RCP_PROOF_MALFORMED", cose_input(cose(index=2)), "the leaf index 2, not the receipt's seq 3")
cneg("other-root", "RCP_PROOF_SIGNATURE_INVALID", cose_input(cose(sign_root=mth(canons5[:4]))), "signed over the root of the tree of 4")
cneg("short", "MRK_INCLUSION_INVALID", cose_input(cose(proof=P3[:-1])), "the last hash of the path dropped")
cneg("receipt-edited", "RCP_SIGNATURE_INVALID", cose_input(cose(), r=forged3), "the receipt given changed to a DENY after signing")

# ---------------------------------------------------------------- bundles
S = "bundle-verify"
def build(n=6, times=None, decisions=None, mutate=None, checkpoints=((3,), (6,)), art_digest=None, tools=None):
    rs, ps, prev = [], [], b"\x00" * 32
    for i in range(n):
        d = (decisions or {}).get(i, "ALLOW")
        r, c, p = receipt(i, prev, (times or {}).get(i, T0 + 10 + 30 * i), decision=d,
                          code=None if d == "ALLOW" else "PTL_RATE_LIMITED", tool=(tools or {}).get(i, "search"),
                          upstream=UPSTREAM if d == "ALLOW" else None,
                          req={"name": (tools or {}).get(i, "search"), "arguments": {"query": f"q{i}", "limit": 5}},
                          salts=(bytes([i]) * 32, bytes([i + 100]) * 32), art=art_digest)
        rs.append(r); ps.append(p); prev = link(r)
    canons = [link(r) for r in rs]  # leaf data: the link hashes
    cps, last = [], None
    for (size,) in checkpoints:
        entry = {"note": note(size, mth(canons[:size]))}
        if last and last < size: entry["consistency"] = [b64u(x) for x in subproof(last, canons[:size], True)]
        cps.append(entry); last = size
    b = {"artifacts": [ART, MAN], "logs": [{"origin": ORIGIN, "receipts": rs, "checkpoints": cps, "payloads": ps}]}
    if mutate: mutate(b)
    return b
CTX = {"authorities": AUTHS, "log_keys": [LOG.vkey(ORIGIN)], "now": T0 + 100000}
valid(S, "bnd-verify", "bundle.verify", "Six receipts, two checkpoints, payloads disclosed: PASS.", ["BND-001", "BND-002", "BND-003", "BND-004", "BND-005"],
      build(), {"receipts": 6}, context=CTX)
def bneg(name, code, covers, b, mutation, context=CTX):
    invalid(S, f"bnd-{name}", "bundle.verify", f"FAIL: {mutation}.", covers, b, code, "bnd-verify", mutation, context=context)
def swap(b): r = b["logs"][0]["receipts"]; r[2], r[3] = r[3], r[2]
bneg("reordered", "RCP_SEQUENCE_GAP", ["BND-002"], build(mutate=swap), "receipts 2 and 3 swapped")
bneg("deleted", "RCP_SEQUENCE_GAP", ["BND-002"], build(mutate=lambda b: b["logs"][0]["receipts"].pop(2)), "receipt 2 deleted")
bneg("duplicated", "RCP_SEQUENCE_DUPLICATE", ["BND-002"], build(mutate=lambda b: b["logs"][0]["receipts"].insert(3, b["logs"][0]["receipts"][2])), "receipt 2 repeated")
def rechain(b):
    # Receipt 4 re-signed by the log key with another session: its link changes, receipt 5's prev no longer matches.
    r = b["logs"][0]["receipts"][4]; r["session"] = "rewritten"; r.pop("sig")
    r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
bneg("chain", "RCP_CHAIN_BROKEN", ["BND-002"], build(mutate=rechain), "receipt 4 rewritten and re-signed by the log key")
def rewrite_before_checkpoint(b):
    r = b["logs"][0]["receipts"][2]; r["session"] = "rewritten"; r.pop("sig")
    r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
bneg("rewritten-before-checkpoint", "BND_ROOT_MISMATCH", ["BND-004", "BND-002"], build(mutate=rewrite_before_checkpoint),
     "receipt 2 rewritten and re-signed: the checkpoint of size 3 is reached before receipt 3's link is checked")
def rechain_from(b, start):
    rs = b["logs"][0]["receipts"]
    for i in range(start, len(rs)):
        r = rs[i]; r["prev"] = b64u(link(rs[i - 1])); r.pop("sig")
        r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
    leaves = [link(r) for r in rs]
    b["logs"][0]["checkpoints"] = [{"note": note(len(rs), mth(leaves))}]
def resign_edit(index, change):
    # The log written with receipt `index` changed: the receipts after it re-chained and the
    # log checkpointed again, as a portal holding the log key would write it.
    def mutate(b):
        r = b["logs"][0]["receipts"][index]; change(r); r.pop("sig")
        r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
        rechain_from(b, index + 1)
    return mutate
bneg("no-agent", "PTL_SUBJECT_MISMATCH", ["BND-003"], build(mutate=resign_edit(1, lambda r: r.pop("agent"))),
     "receipt 1, an ALLOW, re-signed without its agent (an unattested call allowed under an artifact)")
bneg("other-agent", "PTL_SUBJECT_MISMATCH", ["BND-003"],
     build(mutate=resign_edit(1, lambda r: r.update(agent={"sub": "spiffe://agents.example/other", "jkt": OTHER.thumbprint}))),
     "receipt 1, an ALLOW, re-signed for another agent")
bneg("other-log", "RCP_LOG_MISMATCH", ["BND-002"], build(mutate=resign_edit(1, lambda r: r.update(log="portal.example/log/other"))),
     "receipt 1 re-signed as a receipt of another log")
bneg("truncated", "BND_SIZE_MISMATCH", ["BND-005"], build(mutate=lambda b: b["logs"][0]["receipts"].pop()), "last receipt removed")
def wrong_root(b): b["logs"][0]["checkpoints"] = [{"note": note(6, mth([b"x"] * 6))}]
bneg("root", "BND_ROOT_MISMATCH", ["BND-004"], build(mutate=wrong_root), "the only checkpoint carries another root for size 6")
bneg("untrusted-log", "BND_LOG_UNTRUSTED", ["BND-007"], build(), "no key given for the log", context=dict(CTX, log_keys=[OTHER.vkey("another.example/log")]))
bneg("future", "BND_FUTURE_RECEIPT", ["BND-006"], build(), "verification time before the last receipt", context=dict(CTX, now=T0 + 150))
bneg("time-regression", "RCP_TIME_REGRESSION", ["BND-002"], build(times={3: T0}), "receipt 3 dated before receipt 2")
def swap_payload(b): b["logs"][0]["payloads"][1]["request"]["arguments"]["query"] = "other"
bneg("payload-swapped", "RCP_COMMITMENT_MISMATCH", ["BND-002"], build(mutate=swap_payload), "payload 1 changed")
bneg("rate", "PTL_RATE_LIMITED", ["BND-003"], build(decisions={}, times={i: T0 + 10 for i in range(6)}),
     "all six calls at one time: the fourth ALLOW exceeds 3 per 60 s")
bneg("tool", "PTL_TOOL_NOT_ALLOWED", ["BND-003"], build(tools={4: "delete_file"}), "ALLOW for tool delete_file")
bneg("expired", "PTL_OUTSIDE_VALIDITY", ["BND-003"], build(times={5: T0 + 86400}), "the last ALLOW at not_after")
valid(S, "bnd-verify-denied", "bundle.verify", "The same burst with the fourth to sixth calls denied: PASS.", ["BND-003"],
      build(decisions={3: "DENY", 4: "DENY", 5: "DENY"}, times={i: T0 + 10 for i in range(6)}), {"receipts": 6}, context=CTX)
bneg("missing-artifact", "MAN_PARENT_MISSING", ["BND-002", "BND-022"], build(mutate=lambda b: b.update(artifacts=[MAN])), "the artifact left out of the bundle")
bneg("rollback", "CKP_ROLLBACK", ["BND-002"], build(checkpoints=((6,), (3,))), "checkpoints in the order 6, 3")

# ---------------------------------------------------------------- attacks closed by the exact-identity and precise-shape rules
S = "artifact-verify"
def resealed(change):
    # Same body, same key, another `sig` encoding: the digest must not move.
    o = copy.deepcopy(ART); change(o["sig"]["jwk"]); return o
valid(S, "art-digest-no-kid", "artifact.verify", "The artifact with kid dropped from sig.jwk: the signature still verifies and the digest is unchanged, since it covers the body and the signer, not the encoding of sig.",
      ["ART-007"], {"chain": [resealed(lambda j: j.pop("kid"))], "authorities": AUTHS}, {"digest": digest(ART), "id": "art-v1"})
valid(S, "art-digest-use-alg", "artifact.verify", "The artifact with use and alg added to sig.jwk: same digest.",
      ["ART-007"], {"chain": [resealed(lambda j: j.update(use="sig", alg="Ed25519"))], "authorities": AUTHS}, {"digest": digest(ART), "id": "art-v1"})
def art_neg(name, change, mutation):
    o = copy.deepcopy(ART_UNSIGNED); change(o)
    invalid(S, f"art-{name}", "artifact.verify", f"Malformed: {mutation}.", ["ART-001"],
            {"chain": [seal(o, AUTH, "artifact")], "authorities": AUTHS}, "ART_MALFORMED", "art-verify", mutation)
sig_extra = copy.deepcopy(ART); sig_extra["sig"]["comment"] = "unsigned"
invalid(S, "art-sig-extra-member", "artifact.verify", "A member added to sig, which the signature does not cover.", ["ART-001"],
        {"chain": [sig_extra], "authorities": AUTHS}, "ART_MALFORMED", "art-verify", "member comment added to sig")
art_neg("upstream-number", lambda o: o.update(upstream=42), "upstream set to 42")
art_neg("upstream-transport", lambda o: o.update(upstream={"transport": "ftp", "executable_sha256": "ab" * 32}), "upstream transport ftp")
art_neg("upstream-hex", lambda o: o.update(upstream={"transport": "stdio", "executable_sha256": "AB" * 32}), "executable_sha256 in uppercase hex")
UPSTREAM_FILES = dict(UPSTREAM, files_sha256=["cd" * 32, "ef" * 32])
ART_FILES_UNSIGNED = dict(ART_UNSIGNED, upstream=UPSTREAM_FILES)
ART_FILES = seal(ART_FILES_UNSIGNED, AUTH, "artifact")
valid(S, "art-upstream-files", "artifact.verify",
      "A stdio upstream pinned by its executable and the two files its command names (an interpreter's script and a data file).",
      ["ART-001", "ART-014"], {"chain": [ART_FILES], "authorities": AUTHS}, {"digest": digest(ART_FILES), "id": "art-v1"})
def files_neg(name, files, mutation):
    o = copy.deepcopy(ART_FILES_UNSIGNED); o["upstream"] = dict(UPSTREAM, files_sha256=files)
    invalid(S, f"art-upstream-files-{name}", "artifact.verify", f"Malformed: {mutation}.", ["ART-001", "ART-014"],
            {"chain": [seal(o, AUTH, "artifact")], "authorities": AUTHS}, "ART_MALFORMED", "art-upstream-files", mutation)
files_neg("empty", [], "files_sha256 empty (absent is the form for a command naming no file)")
files_neg("seventeen", ["cd" * 32] * 17, "files_sha256 with 17 digests")
files_neg("uppercase", ["cd" * 32, "EF" * 32], "the second file digest in uppercase hex")
files_neg("string", "cd" * 32, "files_sha256 a string, not an array")
art_neg("drift-string", lambda o: o.update(drift="x"), "drift set to \"x\"")
art_neg("drift-action", lambda o: o.update(drift={"on_drift": "ignore"}), "on_drift set to ignore")
art_neg("required-not-array", lambda o: o["tools"]["search"].update(required="query"), "required set to the string \"query\"")
art_neg("required-twice", lambda o: o["tools"]["search"].update(required=["query", "query"]), "query required twice")
art_neg("additional-not-boolean", lambda o: o["tools"]["search"].update(additional_arguments="no"), "additional_arguments set to \"no\"")
art_neg("arguments-array", lambda o: o["tools"]["search"].update(arguments=[]), "arguments set to an empty array")
art_neg("subject-extra-member", lambda o: o["subject"].update(role="admin"), "member role added to subject")
art_neg("subject-jkt", lambda o: o["subject"].update(jkt="not-a-thumbprint"), "subject.jkt not the base64url of 32 bytes")
art_neg("log-extra-member", lambda o: o["log"].update(mirror="x"), "member mirror added to log")
art_neg("log-no-origins", lambda o: o["log"].update(origins=[]), "log.origins empty")
art_neg("log-origin-twice", lambda o: o["log"].update(origins=[ORIGIN, ORIGIN]), "one origin listed twice")
art_neg("log-singular-origin", lambda o: o.update(log={"origin": ORIGIN}), "log written as {origin} instead of {origins}")

S = "mandate-verify"
def man_valid(name, change, description, covers):
    valid(S, f"man-{name}", "artifact.verify", description, covers, {"chain": [ART, mandate(change)], "authorities": AUTHS},
          {"digest": digest(mandate(change)), "id": "man-v1"})
man_valid("kill-job", lambda m: m["tools"].update(Kill_job={"arguments": {"Key": {"type": "string", "max_length": 8}}}),
          "A mandate that keeps tool Kill_job with a narrower constraint on Key.", ["MAN-005", "MAN-006"])
man_neg("kelvin-tool", "MAN_WIDENS_TOOLS", ["MAN-005"],
        lambda m: m["tools"].update({"\u212aill_job": {"arguments": {"Key": {"type": "string", "max_length": 8}}}}),
        "tool \"\u212aill_job\" (KELVIN SIGN, canonically equivalent to Kill_job) added: names compare by code points")
man_neg("drops-upstream", "MAN_WIDENS_CONSTRAINT", ["MAN-010"], lambda m: m.pop("upstream"), "the parent's upstream pin dropped")
man_neg("changes-upstream", "MAN_WIDENS_CONSTRAINT", ["MAN-010"],
        lambda m: m.update(upstream={"transport": "stdio", "executable_sha256": "cd" * 32}), "upstream pinned to another executable")
man_valid("adds-drift", lambda m: m.update(drift={"on_drift": "deny"}), "A mandate that adds a drift rule its parent lacks: narrower, accepted.", ["MAN-012"])

S = "artifact-evaluate"
valid(S, "art-eval-kill-job", "artifact.evaluate", "Tool Kill_job with its argument Key.", ["ART-004"],
      ev("Kill_job", {"Key": "job-1"}, T0 + 10), {"decision": "ALLOW"})
eneg("kelvin-tool", "PTL_TOOL_NOT_ALLOWED", ["ART-004", "ART-008"], ev("\u212aill_job", {"Key": "job-1"}, T0 + 10),
     "tool name spelled with KELVIN SIGN (U+212A), canonically equivalent to Kill_job", base="art-eval-kill-job")
eneg("kelvin-argument", "PTL_CONSTRAINT_VIOLATED", ["ART-004", "ART-008"], ev("Kill_job", {"\u212aey": "job-1"}, T0 + 10),
     "argument name spelled with KELVIN SIGN: an argument without a constraint", base="art-eval-kill-job")
valid(S, "art-eval-cafe", "artifact.evaluate", "Tool caf\u00e9 (precomposed).", ["ART-004"], ev("caf\u00e9", {}, T0 + 10), {"decision": "ALLOW"})
eneg("cafe-decomposed", "PTL_TOOL_NOT_ALLOWED", ["ART-004", "ART-008"], ev("cafe\u0301", {}, T0 + 10),
     "tool name decomposed (e + U+0301), canonically equivalent to the allowed name", base="art-eval-cafe")
valid(S, "art-eval-transfer", "artifact.evaluate", "An amount of 10^20 written exactly.", ["ART-004", "JSON-013"],
      ev("transfer", {"amount_wei": 100000000000000000000}, T0 + 10), {"decision": "ALLOW"})
eneg("inexact-number", "JSON_NUMBER_INEXACT", ["ART-004", "JSON-013"], ev("transfer", {"amount_wei": 100000000000000008191}, T0 + 10),
     "amount 100000000000000008191, which reads as the same double as 10^20", base="art-eval-transfer")
eneg("arguments-array", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("search", [], T0 + 10), "arguments an array, not an object")

S = "receipt-verify"
def rcp_neg(name, change, mutation, covers=("RCP-012",)):
    rneg(name, "RCP_MALFORMED", list(covers), change, mutation)
rcp_neg("method-trailing-space", receipt(0, b"\x00" * 32, T0 + 5, method="tools/call ")[0], "method \"tools/call \" with a trailing space")
rcp_neg("call-without-tool", receipt(0, b"\x00" * 32, T0 + 5, tool=None)[0], "a tools/call without tool")
rcp_neg("list-with-tool", receipt(0, b"\x00" * 32, T0 + 5, method="tools/list")[0], "a tools/list that names a tool")
R_list, C_list, _ = receipt(0, b"\x00" * 32, T0 + 5, method="tools/list", tool=None, req={})
valid(S, "rcp-verify-list", "receipt.verify", "A receipt of a governed tools/list: no tool.", ["RCP-012"],
      {"receipt": R_list, "log_key": LOG.vkey(ORIGIN)}, {"canonical": C_list.hex(), "link": sha(C_list).hex(), "leaf_hash": leaf(sha(C_list)).hex()})

S = "receipt-disclosure"
def dneg_code(name, code, change, mutation, covers):
    d = {"receipt": R0, **copy.deepcopy({k: v for k, v in P0.items() if k != "seq"})}
    change(d)
    invalid(S, f"rcp-disclosure-{name}", "receipt.disclosure", f"Rejected: {mutation}.", covers, d, code, "rcp-disclosure", mutation)
dneg_code("no-salt", "RCP_DISCLOSURE_MALFORMED", lambda d: d.pop("request_salt"), "request_salt removed", ["RCP-013"])
dneg_code("salt-number", "RCP_DISCLOSURE_MALFORMED", lambda d: d.update(response_salt=0), "response_salt set to the number 0", ["RCP-013"])
dneg_code("salt-short", "RCP_DISCLOSURE_MALFORMED", lambda d: d.update(request_salt=b64u(b"\x11" * 31)), "request_salt of 31 bytes", ["RCP-013"])
dneg_code("order-shape-first", "RCP_DISCLOSURE_MALFORMED", lambda d: (d.pop("request_salt"), d["request"].update(name="read_file")),
          "request_salt removed and the request's name changed: the shape is checked first", ["RCP-013", "RCP-015", "ERR-002"])
dneg_code("extra-member", "RCP_DISCLOSURE_MALFORMED", lambda d: d.update(note="x"), "member note added", ["RCP-013"])
R_noname, _, P_noname = receipt(0, b"\x00" * 32, T0 + 5, req={"arguments": {"query": "q", "limit": 5}})
invalid(S, "rcp-disclosure-no-name", "receipt.disclosure", "The committed tools/call request names no tool.", ["RCP-008"],
        {"receipt": R_noname, **{k: v for k, v in P_noname.items() if k != "seq"}}, "RCP_COMMITMENT_MISMATCH", "rcp-disclosure",
        "request committed without name")
R_deny, _, P_deny = receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED")
valid(S, "rcp-disclosure-deny", "receipt.disclosure", "A DENY whose response is the denial carrying its code.", ["RCP-014"],
      {"receipt": R_deny, **{k: v for k, v in P_deny.items() if k != "seq"}}, {})
def deny_with(resp, name, mutation):
    r, _, p = receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED", resp=resp)
    invalid(S, f"rcp-disclosure-{name}", "receipt.disclosure", f"Rejected: {mutation}.", ["RCP-014"],
            {"receipt": r, **{k: v for k, v in p.items() if k != "seq"}}, "RCP_EFFECT_MISMATCH", "rcp-disclosure-deny", mutation)
deny_with(result(0), "deny-result", "the DENY commits to a tool result: the call was forwarded")
deny_with(denial("PTL_TOOL_NOT_ALLOWED"), "deny-other-code", "the DENY's response carries PTL_TOOL_NOT_ALLOWED, the receipt PTL_RATE_LIMITED")

S = "bundle-verify"
def history(calls, origin=ORIGIN, key=LOG, checkpoint=True):
    """A log of `calls` (dicts of receipt() keyword arguments plus t), with one checkpoint over all of them.
    A call with decision REVOKE is a revoke_receipt() of its `revoked` digest, with no payload line."""
    rs, ps, prev = [], [], b"\x00" * 32
    for i, c in enumerate(calls):
        c = dict(c); t = c.pop("t")
        if c.get("decision") == "REVOKE":
            r = revoke_receipt(i, prev, t, c["revoked"], origin=origin, key=key, extra=c.get("extra"))
            rs.append(r); prev = link(r)
            continue
        if c.get("decision", "ALLOW") == "ALLOW": c.setdefault("upstream", UPSTREAM)
        r, _, p = receipt(i, prev, t, salts=(bytes([i]) * 32, bytes([i + 100]) * 32), origin=origin, key=key, **c)
        rs.append(r); ps.append(p); prev = link(r)
    leaves = [link(r) for r in rs]
    return {"origin": origin, "receipts": rs, "checkpoints": [{"note": note(len(rs), mth(leaves), ((key, origin),), origin)}], "payloads": ps}
CTX2 = dict(CTX, log_keys=[LOG.vkey(ORIGIN), LOG_B.vkey(ORIGIN_B)])
burst = lambda n: [{"t": T0 + 10} for _ in range(n)]
valid(S, "bnd-two-logs", "bundle.verify", "Two replicas' logs: two searches in one, one in the other, at one second: three in all, within 3 per 60 s.",
      ["BND-010"], {"artifacts": [ART], "logs": [history(burst(2)), history(burst(1), ORIGIN_B, LOG_B)]}, {"receipts": 3}, context=CTX2)
bneg("two-logs-rate", "PTL_RATE_LIMITED", ["BND-010"], {"artifacts": [ART], "logs": [history(burst(2)), history(burst(2), ORIGIN_B, LOG_B)]},
     "two searches in each log at one second: each log keeps 3 per 60 s alone, together they make four", context=CTX2)
sections[S][-1]["base"] = "bnd-two-logs"
# Merged by time, not log by log: the first log's only call is the one over the limit.
valid(S, "bnd-two-logs-by-time", "bundle.verify", "Two logs merged by time: the first log's only search at 91 s, the second's three at 20, 20 and 30 s: at 91 s none of them is within 60 s.",
      ["BND-010"], {"artifacts": [ART], "logs": [history([{"t": T0 + 91}]), history([{"t": T0 + 20}, {"t": T0 + 20}, {"t": T0 + 30}], ORIGIN_B, LOG_B)]},
      {"receipts": 4}, context=CTX2)
bneg("two-logs-by-time-rate", "PTL_RATE_LIMITED", ["BND-010"],
     {"artifacts": [ART], "logs": [history([{"t": T0 + 70}]), history([{"t": T0 + 20}, {"t": T0 + 20}, {"t": T0 + 30}], ORIGIN_B, LOG_B)]},
     "the first log's only search at 70 s is the fourth within 60 s once the logs are merged by time, though it is first in the manifest and in its log", context=CTX2)
sections[S][-1]["base"] = "bnd-two-logs-by-time"
ORIGIN_C = "portal.example/log/unnamed"; LOG_C = Key(0xB4)
bneg("log-not-in-artifact", "RCP_LOG_NOT_IN_ARTIFACT", ["BND-009"],
     {"artifacts": [ART], "logs": [history(burst(2)), history(burst(1), ORIGIN_C, LOG_C)]},
     "the second log is one the artifact does not name (trusted by the verifier all the same)",
     context=dict(CTX, log_keys=[LOG.vkey(ORIGIN), LOG_C.vkey(ORIGIN_C)]))
sections[S][-1]["base"] = "bnd-two-logs"
bneg("origin-twice", "BND_MALFORMED", ["BND-008"], {"artifacts": [ART], "logs": [history(burst(2)), history([{"t": T0 + 10}] * 2)]},
     "the same origin listed twice in the manifest, with two histories of one size")
sections[S][-1]["base"] = "bnd-two-logs"

M1 = mandate(lambda m: m.update(id="man-sibling-1"))
M2 = mandate(lambda m: m.update(id="man-sibling-2"))
SUB_AGENT = {"sub": "spiffe://agents.example/researcher", "jkt": SUB.thumbprint}
def under(m, n): return [{"t": T0 + 10, "art": digest(m), "agent": SUB_AGENT, "req": {"name": "search", "arguments": {"query": "paper:x", "limit": 5}}} for _ in range(n)]
valid(S, "bnd-siblings", "bundle.verify", "Two sibling mandates of one artifact: two searches under one, one under the other, at one second: three against the parent's 3 per 60 s.",
      ["MAN-011", "BND-003"], {"artifacts": [ART, M1, M2], "logs": [history(under(M1, 2) + under(M2, 1))]}, {"receipts": 3}, context=CTX)
bneg("siblings-rate", "PTL_RATE_LIMITED", ["MAN-011", "BND-003"], {"artifacts": [ART, M1, M2], "logs": [history(under(M1, 2) + under(M2, 2))]},
     "a second search under the second sibling: each mandate keeps its own 2 per 120 s, the parent's 3 per 60 s is exceeded")
sections[S][-1]["base"] = "bnd-siblings"
SELF = seal({**copy.deepcopy({k: v for k, v in ART_UNSIGNED.items()}), "type": "mcp-attest/mandate/v1", "id": "man-self",
             "issuer": "spiffe://agents.example/orchestrator", "parent": digest(ART), "log": {"origins": [ORIGIN]}}, AGENT, "mandate")
AGENT_SELF = {"sub": ART["subject"]["sub"], "jkt": ART["subject"]["jkt"]}
bneg("self-mandate-rate", "PTL_RATE_LIMITED", ["MAN-011", "BND-003"],
     {"artifacts": [ART, SELF], "logs": [history(burst(3) + [{"t": T0 + 10, "art": digest(SELF)}])]},
     "three searches under the artifact and a fourth under a mandate the agent derived for itself with the same limits")

bneg("no-salt", "RCP_DISCLOSURE_MALFORMED", ["RCP-013", "BND-002"], build(mutate=lambda b: b["logs"][0]["payloads"][1].pop("request_salt")),
     "payload 1 without its request salt: it would otherwise stand in for any request")
bneg("salt-null", "RCP_DISCLOSURE_MALFORMED", ["RCP-013", "BND-002"], build(mutate=lambda b: b["logs"][0]["payloads"][1].update(response_salt=None)),
     "payload 1 with a null response salt")
def deny_forwarded(b):
    # Receipt 2 relabelled DENY and re-signed; its response commitment is still the tool's result.
    r = b["logs"][0]["receipts"][2]; r.update(decision="DENY", code="PTL_RATE_LIMITED"); r.pop("sig"); r.pop("upstream")
    r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
    rechain_from(b, 3)
bneg("deny-forwarded", "RCP_EFFECT_MISMATCH", ["RCP-014", "BND-002"], build(mutate=deny_forwarded),
     "receipt 2 relabelled DENY and the log re-signed and re-checkpointed: its disclosed response is the tool's result")
def method_space(b):
    r = b["logs"][0]["receipts"][1]; r["method"] = "tools/call "; r.pop("sig")
    r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
    rechain_from(b, 2)
bneg("method-space", "RCP_MALFORMED", ["RCP-012", "BND-002"], build(mutate=method_space),
     "receipt 1's method rewritten to \"tools/call \" and the log re-signed: it would escape re-evaluation")
def kelvin(b):
    r = b["logs"][0]["receipts"][4]
    r2, _, p2 = receipt(4, b64u_dec(r["prev"]), r["time"], tool="\u212aill_job", req={"name": "\u212aill_job", "arguments": {"Key": "k"}},
                        salts=(bytes([4]) * 32, bytes([104]) * 32), upstream=UPSTREAM)
    b["logs"][0]["receipts"][4] = r2; b["logs"][0]["payloads"][4] = p2
    rechain_from(b, 5)
def b64u_dec(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
bneg("kelvin-tool", "PTL_TOOL_NOT_ALLOWED", ["BND-003", "ART-008"], build(mutate=kelvin),
     "receipt 4 an ALLOW of \"\u212aill_job\" (KELVIN SIGN), which only the canonically equivalent Kill_job would allow")
def arguments_array(b):
    r = b["logs"][0]["receipts"][1]
    r2, _, p2 = receipt(1, b64u_dec(r["prev"]), r["time"], req={"name": "search", "arguments": ["delete", "everything"]},
                        salts=(bytes([1]) * 32, bytes([101]) * 32), upstream=UPSTREAM)
    b["logs"][0]["receipts"][1] = r2; b["logs"][0]["payloads"][1] = p2
    rechain_from(b, 2)
bneg("arguments-array", "PTL_CONSTRAINT_VIOLATED", ["BND-003"], build(mutate=arguments_array),
     "receipt 1 an ALLOW whose disclosed arguments are an array")
def transfer(amount):
    def mutate(b):
        r = b["logs"][0]["receipts"][1]
        r2, _, p2 = receipt(1, b64u_dec(r["prev"]), r["time"], tool="transfer", req={"name": "transfer", "arguments": {"amount_wei": amount}},
                            salts=(bytes([1]) * 32, bytes([101]) * 32), upstream=UPSTREAM)
        b["logs"][0]["receipts"][1] = r2; b["logs"][0]["payloads"][1] = p2
        rechain_from(b, 2)
    return mutate
valid(S, "bnd-verify-transfer", "bundle.verify", "Receipt 1 an ALLOW of transfer with an amount of 10^20 written exactly: PASS.", ["BND-003", "JSON-013"],
      build(mutate=transfer(100000000000000000000)), {"receipts": 6}, context=CTX)
bneg("inexact-number", "JSON_NUMBER_INEXACT", ["BND-003", "JSON-013"], build(mutate=transfer(100000000000000008191)),
     "the disclosed amount written 100000000000000008191: the same commitment as 10^20, another amount")
sections[S][-1]["base"] = "bnd-verify-transfer"
def payloads(change):
    def mutate(b): change(b["logs"][0]["payloads"])
    return mutate
bneg("payload-repeated", "BND_MALFORMED", ["BND-011"], build(mutate=payloads(lambda p: p.insert(3, copy.deepcopy(p[2])))), "payload line 2 repeated")
bneg("payload-order", "BND_MALFORMED", ["BND-011"], build(mutate=payloads(lambda p: p.__setitem__(slice(2, 4), [p[3], p[2]]))), "payload lines 2 and 3 swapped")
bneg("payload-beyond", "BND_MALFORMED", ["BND-011"], build(mutate=payloads(lambda p: p.append(dict(copy.deepcopy(p[5]), seq=6)))),
     "a payload line for seq 6, a receipt the log does not hold")
def receipt_before_payload(b):
    b["logs"][0]["receipts"][3]["decision"] = "DENY"; b["logs"][0]["receipts"][3]["code"] = "PTL_RATE_LIMITED"
    b["logs"][0]["receipts"][3].pop("upstream")
    b["logs"][0]["payloads"][1].pop("seq")
bneg("order-receipt-before-payload", "RCP_CHAIN_BROKEN", ["BND-011", "BND-002", "BND-041", "ERR-002"], build(mutate=receipt_before_payload),
     "payload line 1 without seq and receipt 3 altered after the log was written: the log is authenticated first, "
     "so receipt 4's chain fails before the payload line of receipt 1")
# A receipt line keeps no signature (BND-040): one code whether or not the signature verifies.
def keep_sig(index, value=None):
    def mutate(b):
        r = b["logs"][0]["receipts"][index]; r[SIG_KEPT] = True
        if value is not None: r["sig"] = dict(r["sig"], value=value)
    return mutate
bneg("receipt-signed", "RCP_MALFORMED", ["BND-040", "BND-044"], build(mutate=keep_sig(2)),
     "receipt 2's line carrying its sig, a valid signature by the log key: a receipt line of a bundle has no sig")
bneg("receipt-signed-invalid", "RCP_MALFORMED", ["BND-040", "BND-044"], build(mutate=keep_sig(2, b64u(bytes(64)))),
     "receipt 2's line carrying a sig that does not verify: the same code as a valid one, so no option can change the verdict")
# What a receipt's own signature caught inside a bundle, its checkpoints catch (BND-041).
def tamper_last_tool(b):
    b["logs"][0]["receipts"][5]["tool"] = "delete_file"
bneg("tampered-allow", "BND_ROOT_MISMATCH", ["BND-004", "BND-041"], build(mutate=tamper_last_tool),
     "the last receipt, an ALLOW, rewritten to call delete_file (which the artifact forbids) after the log was written: "
     "no later receipt's chain names it, and the checkpoint of size 6 fails before the ALLOW is re-evaluated")
def append_allow(b):
    log = b["logs"][0]; rs = log["receipts"]
    r, _, p = receipt(6, link(rs[5]), T0 + 10 + 30 * 6, tool="delete_file", upstream=UPSTREAM,
                      req={"name": "delete_file", "arguments": {}}, salts=(bytes([6]) * 32, bytes([106]) * 32))
    rs.append(r); log["payloads"].append(p)
bneg("appended-allow", "BND_SIZE_MISMATCH", ["BND-005", "BND-041"], build(mutate=append_allow),
     "an ALLOW of delete_file (which the artifact forbids) chained after the last receipt, beyond the last checkpoint: "
     "no checkpoint authenticates it, so the log's size fails before the ALLOW is re-evaluated")
copies = [ART, resealed(lambda j: j.pop("kid")), resealed(lambda j: j.update(use="sig")), MAN]
bneg("rate-resealed-copies", "PTL_RATE_LIMITED", ["ART-007", "BND-003"],
     build(times={i: T0 + 10 for i in range(6)}, mutate=lambda b: b.update(artifacts=copies)),
     "three encodings of the artifact's sig in the bundle, six searches at one second: one digest, one budget of 3 per 60 s")


# ---------------------------------------------------------------- forwarded calls: open ALLOW, RESULT, observed upstream
S = "receipt-verify"
def verified(name, description, covers, r, c):
    valid(S, f"rcp-verify-{name}", "receipt.verify", description, covers, {"receipt": r, "log_key": LOG.vkey(ORIGIN)},
          {"canonical": c.hex(), "link": sha(c).hex(), "leaf_hash": leaf(sha(c)).hex()})
def rcp_bad(name, r, mutation, covers, base):
    invalid(S, f"rcp-{name}", "receipt.verify", f"Rejected: {mutation}.", covers, {"receipt": r, "log_key": LOG.vkey(ORIGIN)},
            "RCP_MALFORMED", base, mutation)
R_open, C_open, P_open = receipt(0, b"\x00" * 32, T0 + 5, open_call=True, upstream=UPSTREAM)
verified("open", "An ALLOW written before forwarding: no response, the upstream it was forwarded to.", ["RCP-017", "RCP-018"], R_open, C_open)
R_res, C_res, P_res = receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0)
verified("result", "A RESULT completing the call of seq 0: response only.", ["RCP-016"], R_res, C_res)
R_resf, C_resf, P_resf = receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, code="PTL_UPSTREAM_FAILED")
verified("result-failed", "A RESULT with PTL_UPSTREAM_FAILED: the upstream failed and the client got the denial.", ["RCP-016"], R_resf, C_resf)
R_resu, C_resu, _ = receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, code="PTL_OUTCOME_UNKNOWN")
verified("result-unknown", "A RESULT with PTL_OUTCOME_UNKNOWN, written by recovery.", ["RCP-016"], R_resu, C_resu)
rcp_bad("result-with-request", receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, with_request=True)[0],
        "a request commitment on the RESULT", ["RCP-016"], "rcp-verify-result")
rcp_bad("result-call-at-seq", receipt(1, link(R_open), T0 + 6, decision="RESULT", call=1)[0],
        "call equal to the RESULT's own seq", ["RCP-016"], "rcp-verify-result")
rcp_bad("result-no-call", receipt(1, link(R_open), T0 + 6, decision="RESULT")[0], "the RESULT without call", ["RCP-016"], "rcp-verify-result")
rcp_bad("result-other-code", receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, code="PTL_RATE_LIMITED")[0],
        "a RESULT with code PTL_RATE_LIMITED", ["RCP-016"], "rcp-verify-result-failed")
rcp_bad("result-no-response", receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, open_call=True)[0],
        "the RESULT without its response commitment", ["RCP-016"], "rcp-verify-result")
rcp_bad("allow-with-call", receipt(1, link(R_open), T0 + 6, call=0)[0], "call on an ALLOW", ["RCP-016"], "rcp-verify")
rcp_bad("open-no-request", receipt(0, b"\x00" * 32, T0 + 5, open_call=True, upstream=UPSTREAM, with_request=False)[0],
        "the open ALLOW without its request commitment", ["RCP-017"], "rcp-verify-open")
R_deny_v, C_deny_v, _ = receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED")
verified("deny", "A DENY with its code and both commitments.", ["RCP-003", "RCP-017"], R_deny_v, C_deny_v)
rcp_bad("deny-no-response", receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED", open_call=True)[0],
        "the DENY without its response commitment", ["RCP-017"], "rcp-verify-deny")
rcp_bad("deny-with-upstream", receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED", upstream=UPSTREAM)[0],
        "upstream on a DENY", ["RCP-018"], "rcp-verify-deny")
HTTP_UP = {"transport": "http", "url": "https://tools.example/mcp", "spki_sha256": b64u(sha(b"spki"))}
R_http, C_http, _ = receipt(0, b"\x00" * 32, T0 + 5, upstream=HTTP_UP)
verified("upstream-http", "A one-entry ALLOW with an http upstream.", ["RCP-018"], R_http, C_http)
TOOLS_DIGEST = b64u(sha(jcs([{"name": "search", "inputSchema": {"type": "object"}}])))
R_tools, C_tools, _ = receipt(0, b"\x00" * 32, T0 + 5, open_call=True, upstream=UPSTREAM, tools_sha256=TOOLS_DIGEST)
verified("tools", "An open ALLOW recording the digest of the upstream's tool list the portal observed.", ["RCP-024"], R_tools, C_tools)
rcp_bad("tools-on-deny", receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED", tools_sha256=TOOLS_DIGEST)[0],
        "tools_sha256 on a DENY", ["RCP-024"], "rcp-verify-deny")
rcp_bad("tools-short", receipt(0, b"\x00" * 32, T0 + 5, open_call=True, upstream=UPSTREAM, tools_sha256=b64u(b"\x01" * 16))[0],
        "tools_sha256 the base64url of 16 bytes", ["RCP-024"], "rcp-verify-tools")
rcp_bad("upstream-uppercase", receipt(0, b"\x00" * 32, T0 + 5, open_call=True, upstream={"transport": "stdio", "executable_sha256": "AB" * 32})[0],
        "executable_sha256 of the upstream in uppercase hex", ["RCP-018"], "rcp-verify-open")
rcp_bad("upstream-extra", receipt(0, b"\x00" * 32, T0 + 5, upstream=dict(HTTP_UP, pid=7))[0],
        "member pid added to the http upstream", ["RCP-018"], "rcp-verify-upstream-http")
rcp_bad("upstream-short-spki", receipt(0, b"\x00" * 32, T0 + 5, upstream=dict(HTTP_UP, spki_sha256=b64u(b"x" * 31)))[0],
        "spki_sha256 of 31 bytes", ["RCP-018"], "rcp-verify-upstream-http")

S = "receipt-disclosure"
def disc(r, p, **change):
    d = {"receipt": r, **copy.deepcopy({k: v for k, v in p.items() if k != "seq"})}
    for k, v in change.items():
        if v is None: d.pop(k, None)
        else: d[k] = v
    return d
valid(S, "rcp-disclosure-open", "receipt.disclosure", "An open ALLOW discloses its request and request salt only.", ["RCP-019"], disc(R_open, P_open), {})
invalid(S, "rcp-disclosure-open-with-response", "receipt.disclosure", "Rejected: a response disclosed for an ALLOW that commits to none.",
        ["RCP-019"], disc(R_open, P_open, response=result(0), response_salt=b64u(b"\x22" * 32)), "RCP_DISCLOSURE_MALFORMED",
        "rcp-disclosure-open", "response and response_salt added")
valid(S, "rcp-disclosure-result", "receipt.disclosure", "A RESULT discloses its response and response salt only.", ["RCP-019"], disc(R_res, P_res), {})
invalid(S, "rcp-disclosure-result-with-request", "receipt.disclosure", "Rejected: a request disclosed for a RESULT.",
        ["RCP-019"], disc(R_res, P_res, request={"name": "search", "arguments": {"query": "q0", "limit": 5}}, request_salt=b64u(b"\x11" * 32)),
        "RCP_DISCLOSURE_MALFORMED", "rcp-disclosure-result", "request and request_salt added")
invalid(S, "rcp-disclosure-request-only", "receipt.disclosure", "Rejected: a one-entry ALLOW disclosed without its response.",
        ["RCP-019"], disc(R0, P0, response=None, response_salt=None), "RCP_DISCLOSURE_MALFORMED", "rcp-disclosure", "response and response_salt removed")
valid(S, "rcp-disclosure-result-failed", "receipt.disclosure", "A RESULT with PTL_UPSTREAM_FAILED whose response is that denial.",
      ["RCP-021"], disc(R_resf, P_resf), {})
R_resf2, _, P_resf2 = receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, code="PTL_UPSTREAM_FAILED", resp=result(1))
invalid(S, "rcp-disclosure-result-failed-answered", "receipt.disclosure",
        "Rejected: a RESULT with PTL_UPSTREAM_FAILED committing to a tool result: the client was not answered with the failure.",
        ["RCP-021"], disc(R_resf2, P_resf2), "RCP_EFFECT_MISMATCH", "rcp-disclosure-result-failed", "response committed is the tool's result")
META_REQ = {"name": "search", "arguments": {"query": "q0", "limit": 5}, "_meta": {"progressToken": "p1"}}
R_meta, _, P_meta = receipt(0, b"\x00" * 32, T0 + 5, req=META_REQ)
valid(S, "rcp-disclosure-meta", "receipt.disclosure", "A request whose _meta holds a progress token and no credential.", ["RCP-020"],
      disc(R_meta, P_meta), {})
CARRIER_REQ = copy.deepcopy(META_REQ); CARRIER_REQ["_meta"]["dev.agent-attestation/proof"] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln"
R_car, _, P_car = receipt(0, b"\x00" * 32, T0 + 5, req=CARRIER_REQ)
invalid(S, "rcp-disclosure-carrier", "receipt.disclosure",
        "Rejected: the disclosed request's _meta holds the proof carrier (committed so): a credential in a disclosure.", ["RCP-020"],
        disc(R_car, P_car), "RCP_DISCLOSURE_MALFORMED", "rcp-disclosure-meta", "dev.agent-attestation/proof added to _meta and committed")
CARRIER_TOKEN = copy.deepcopy(META_REQ); CARRIER_TOKEN["_meta"]["dev.agent-attestation/token"] = "eyJ0eXAiOiJhZ2VudCJ9.e30.c2ln"
R_cart, _, P_cart = receipt(0, b"\x00" * 32, T0 + 5, req=CARRIER_TOKEN)
invalid(S, "rcp-disclosure-carrier-order", "receipt.disclosure",
        "Rejected: the token carrier in _meta and the request salt changed: the carrier is a shape defect, checked before the commitment.",
        ["RCP-020", "RCP-015", "ERR-002"], disc(R_cart, P_cart, request_salt=b64u(b"\x12" * 32)), "RCP_DISCLOSURE_MALFORMED",
        "rcp-disclosure-meta", "dev.agent-attestation/token added to _meta, and the request salt changed")

S = "bundle-verify"
def fwd(i, t=T0 + 10, **kw): return dict({"t": t, "open_call": True}, **kw)
def res(call, t=T0 + 11, **kw): return dict({"t": t, "decision": "RESULT", "call": call}, **kw)
PAIRS = [fwd(0), fwd(1), res(1), res(0)]
def pairs(change=None):
    calls = copy.deepcopy(PAIRS)
    if change: change(calls)
    return {"artifacts": [ART], "logs": [history(calls)]}
valid(S, "bnd-forwarded", "bundle.verify", "Two calls forwarded, each an open ALLOW completed by a RESULT: ALLOW a, ALLOW b, RESULT b, RESULT a: PASS.",
      ["BND-014", "RCP-016", "RCP-017", "RCP-019"], pairs(), {"receipts": 4, "open_calls": 0}, context=CTX)
valid(S, "bnd-forwarded-open", "bundle.verify", "The last RESULT missing: the call stays open, which is not a failure, and is counted: PASS.",
      ["BND-015"], pairs(lambda c: c.pop()), {"receipts": 3, "open_calls": 1}, context=CTX)
def fneg(name, code, covers, change, mutation, base="bnd-forwarded"):
    invalid(S, f"bnd-{name}", "bundle.verify", f"FAIL: {mutation}.", covers, pairs(change), code, base, mutation, context=CTX)
fneg("result-closed", "RCP_RESULT_UNMATCHED", ["BND-014"], lambda c: c[3].update(call=1), "the second RESULT names call 1, which the first completed")
fneg("result-other-session", "RCP_RESULT_UNMATCHED", ["BND-014"], lambda c: c[3].update(session="s2"), "the second RESULT names call 0 from another session")
fneg("result-other-tool", "RCP_RESULT_UNMATCHED", ["BND-014"], lambda c: c[3].update(tool="read_file"), "the second RESULT names call 0 with another tool")
fneg("result-names-deny", "RCP_RESULT_UNMATCHED", ["BND-014"],
     lambda c: c.__setitem__(1, {"t": T0 + 10, "decision": "DENY", "code": "PTL_RATE_LIMITED"}), "receipt 1 a DENY, which the first RESULT names")
fneg("result-names-answered", "RCP_RESULT_UNMATCHED", ["BND-014"], lambda c: c[1].pop("open_call"),
     "receipt 1 an ALLOW with its response (one entry), which the first RESULT names")
fneg("result-later-seq", "RCP_MALFORMED", ["RCP-016", "BND-014"], lambda c: c[2].update(call=3),
     "the first RESULT names seq 3, after its own: malformed before it is matched")
valid(S, "bnd-forwarded-failed", "bundle.verify", "The first RESULT records PTL_UPSTREAM_FAILED and discloses that denial: PASS.",
      ["RCP-021", "BND-014"], pairs(lambda c: c[2].update(code="PTL_UPSTREAM_FAILED")), {"receipts": 4, "open_calls": 0}, context=CTX)
fneg("result-failed-answered", "RCP_EFFECT_MISMATCH", ["RCP-021", "BND-014"],
     lambda c: c[2].update(code="PTL_UPSTREAM_FAILED", resp=result(2)),
     "the first RESULT carries PTL_UPSTREAM_FAILED but discloses a tool result", base="bnd-forwarded-failed")
BURST = [fwd(i) for i in range(3)] + [res(i, t=T0 + 10) for i in range(3)]
valid(S, "bnd-forwarded-rate", "bundle.verify",
      "Three searches at one second, each an open ALLOW and a RESULT: six entries, three calls, within 3 per 60 s: RESULTs are not counted.",
      ["BND-014", "BND-003"], {"artifacts": [ART], "logs": [history(BURST)]}, {"receipts": 6, "open_calls": 0}, context=CTX)
bneg("upstream-missing", "PTL_UPSTREAM_DRIFT", ["BND-017"], build(mutate=resign_edit(1, lambda r: r.pop("upstream"))),
     "receipt 1, an ALLOW under an artifact pinning an upstream, re-signed without upstream")
bneg("upstream-other", "PTL_UPSTREAM_DRIFT", ["BND-017"],
     build(mutate=resign_edit(1, lambda r: r.update(upstream={"transport": "stdio", "executable_sha256": "cd" * 32}))),
     "receipt 1, an ALLOW, re-signed with another executable as its upstream")
ART_UNPINNED = seal({k: v for k, v in ART_UNSIGNED.items() if k != "upstream"}, AUTH, "artifact")
valid(S, "bnd-upstream-unpinned", "bundle.verify", "ALLOWs with an upstream under an artifact that pins none, and one without: PASS.", ["BND-017"],
      {"artifacts": [ART_UNPINNED], "logs": [history([{"t": T0 + 10, "art": digest(ART_UNPINNED)}, {"t": T0 + 11, "art": digest(ART_UNPINNED), "upstream": None}])]},
      {"receipts": 2}, context=CTX)

ART_TOOLS = seal(dict({k: v for k, v in ART_UNSIGNED.items() if k != "upstream"}, drift={"on_drift": "deny", "tools_sha256": TOOLS_DIGEST}),
                 AUTH, "artifact")
def tools_history(**kw):
    return {"artifacts": [ART_TOOLS], "logs": [history([dict({"t": T0 + 10, "art": digest(ART_TOOLS), "tools_sha256": TOOLS_DIGEST}, **kw),
                                                      {"t": T0 + 11, "art": digest(ART_TOOLS), "decision": "DENY", "code": "PTL_UPSTREAM_DRIFT"}])]}
valid(S, "bnd-tools-pinned", "bundle.verify", "An ALLOW recording the tool list the artifact pins (drift.tools_sha256), then a DENY: PASS.",
      ["BND-018"], tools_history(), {"receipts": 2}, context=CTX)
invalid(S, "bnd-tools-missing", "bundle.verify", "FAIL: the ALLOW under an artifact pinning the tool list records none.", ["BND-018"],
        tools_history(tools_sha256=None), "PTL_UPSTREAM_DRIFT", "bnd-tools-pinned", "the ALLOW without tools_sha256", context=CTX)
invalid(S, "bnd-tools-other", "bundle.verify", "FAIL: the ALLOW records another tool list than the artifact pins.", ["BND-018"],
        tools_history(tools_sha256=b64u(sha(b"another list"))), "PTL_UPSTREAM_DRIFT", "bnd-tools-pinned",
        "the ALLOW with the digest of another tool list", context=CTX)

def files_history(second=None, first_upstream=UPSTREAM_FILES):
    calls = [{"t": T0 + 10, "art": digest(ART_FILES), "upstream": first_upstream}]
    calls.append(second or {"t": T0 + 11, "art": digest(ART_FILES), "upstream": UPSTREAM_FILES})
    return {"artifacts": [ART_FILES], "logs": [history(calls)]}
valid(S, "bnd-upstream-files", "bundle.verify", "Two ALLOWs recording the executable and the files the artifact pins: PASS.",
      ["BND-017", "ART-014"], files_history(), {"receipts": 2}, context=CTX)
invalid(S, "bnd-upstream-files-other", "bundle.verify", "FAIL: the second ALLOW records another digest for the command's second file.",
        ["BND-017", "ART-014"], files_history(first_upstream=dict(UPSTREAM, files_sha256=["cd" * 32, "01" * 32])),
        "PTL_UPSTREAM_DRIFT", "bnd-upstream-files", "the first ALLOW's second file digest changed", context=CTX)
invalid(S, "bnd-upstream-files-missing", "bundle.verify", "FAIL: an ALLOW records the executable alone under an artifact pinning files too.",
        ["BND-017", "ART-014"], files_history(first_upstream=UPSTREAM), "PTL_UPSTREAM_DRIFT", "bnd-upstream-files",
        "files_sha256 left out of the first ALLOW's upstream", context=CTX)
PHANTOM_CALL = {"t": T0 + 11, "art": digest(ART_FILES), "decision": "PHANTOM", "code": "PTL_UPSTREAM_DRIFT"}
valid(S, "bnd-phantom", "bundle.verify",
      "An ALLOW, then a PHANTOM with PTL_UPSTREAM_DRIFT answered from the sandbox after drift: PASS (a PHANTOM is never a violation).",
      ["BND-003", "POR-024"], files_history(PHANTOM_CALL), {"receipts": 2}, context=CTX)
def relabel(b):
    r = b["logs"][0]["receipts"][1]; r["decision"] = "ALLOW"; r.pop("code")
invalid(S, "bnd-phantom-relabelled", "bundle.verify", "FAIL: the PHANTOM relabelled an ALLOW (code removed) after the log was written.",
        ["BND-002", "BND-041", "POR-024"], (lambda b: (relabel(b), b)[1])(files_history(PHANTOM_CALL)), "BND_ROOT_MISMATCH", "bnd-phantom",
        "receipt 1 relabelled from PHANTOM to ALLOW after the log was written: the checkpoint over it fails before the ALLOW is re-evaluated", context=CTX)
invalid(S, "bnd-phantom-resigned", "bundle.verify",
        "FAIL: the PHANTOM rewritten as an ALLOW and re-signed by the log key: it names no upstream the artifact pins.",
        ["BND-017", "POR-024"], files_history({"t": T0 + 11, "art": digest(ART_FILES), "upstream": None}), "PTL_UPSTREAM_DRIFT",
        "bnd-phantom", "receipt 1 written as an ALLOW without upstream (as the phantom call observed none pinned) and re-signed", context=CTX)

# ---------------------------------------------------------------- edge decisions: one verdict and one code per input
# Merkle: the order of the checks (merkle.md MRK-009).
S = "merkle-inclusion"
invalid(S, "mrk-inclusion-order-index-first", "merkle.inclusion",
        "An index equal to the size and a 31-byte proof element: the index is checked before any length.", ["MRK-004", "MRK-009", "ERR-002"],
        {**inc(6), "index": 7, "proof": [path(6, LEAVES)[0].hex()[:-2]] + [x.hex() for x in path(6, LEAVES)[1:]]},
        "MRK_INDEX_OUT_OF_RANGE", "mrk-inclusion-6-of-7", "index changed from 6 to 7 and the first element truncated to 31 bytes")
valid(S, "mrk-inclusion-size-float", "merkle.inclusion", "The proof of leaf 4 with the tree size written 7.0: an integer by value.",
      ["MRK-003", "JSON-015"], dict(inc(4), tree_size=7.0), {})
S = "merkle-consistency"
invalid(S, "mrk-consistency-equal-short-proof", "merkle.consistency",
        "Equal sizes with a proof of one 31-byte element: the equal-size rule (empty proof) applies before hash lengths.", ["MRK-008", "MRK-009"],
        cons(7, 7, proof=[sha(b"x")[:31]]), "MRK_CONSISTENCY_INVALID", "mrk-consistency-equal", "a 31-byte proof element added")
invalid(S, "mrk-consistency-short-root", "merkle.consistency", "A first root of 31 bytes between different sizes.", ["MRK-005", "MRK-009"],
        cons(3, 7, r1=mth(LEAVES[:3])[:31]), "MRK_HASH_LENGTH", "mrk-consistency-3-7", "first root truncated to 31 bytes")

# Checkpoints: extension lines, signature lines, verifier keys, successive checkpoints.
S = "checkpoint-verify"
def signed_body(text, signers=((LOG, ORIGIN),)):
    return text + "\n" + "".join(k.note_sig(n, text) for k, n in signers)
EXT = body(ORIGIN, 7, root7) + "witness-policy: 2-of-3\n"
valid(S, "ckp-verify-extension", "checkpoint.verify",
      "A checkpoint with an extension line after the root hash (C2SP tlog-checkpoint), covered by the signature.", ["CKP-013"],
      {"note": signed_body(EXT), "trusted": TRUST, "origin": ORIGIN}, {"origin": ORIGIN, "size": 7, "root": root7.hex()})
invalid(S, "ckp-extension-altered", "checkpoint.verify", "An extension line changed after signing: the signature covers it.", ["CKP-013", "CKP-005"],
        {"note": signed_body(EXT).replace("2-of-3", "1-of-3", 1), "trusted": TRUST, "origin": ORIGIN}, "CKP_SIGNATURE_INVALID",
        "ckp-verify-extension", "extension line changed from 2-of-3 to 1-of-3")
invalid(S, "ckp-no-signature-lines", "checkpoint.verify", "A body and its blank line with no signature line after them.", ["CKP-002"],
        {"note": body(ORIGIN, 7, root7) + "\n", "trusted": TRUST, "origin": ORIGIN}, "CKP_MALFORMED", "ckp-verify", "the signature line removed")
invalid(S, "ckp-second-signature-bad", "checkpoint.verify",
        "Two signature lines by the trusted key, the second over another body: every line by a trusted key must verify.", ["CKP-005"],
        {"note": n + LOG.note_sig(ORIGIN, body(ORIGIN, 8, root7)), "trusted": TRUST, "origin": ORIGIN}, "CKP_SIGNATURE_INVALID", "ckp-verify",
        "a second signature line by the log key, made over another body, appended")
invalid(S, "ckp-root-unpadded", "checkpoint.verify", "A root hash in base64 without its padding, signed so.", ["CKP-002"],
        {"note": signed_body(f"{ORIGIN}\n7\n{base64.b64encode(root7).decode().rstrip('=')}\n"), "trusted": TRUST, "origin": ORIGIN},
        "CKP_MALFORMED", "ckp-verify", "root hash written without the trailing =")
invalid(S, "ckp-size-overflow", "checkpoint.verify", "A size of 10^20, beyond 2^64 − 1, which no tree size reaches, signed so.", ["CKP-002"],
        {"note": signed_body(f"{ORIGIN}\n100000000000000000000\n{base64.b64encode(root7).decode()}\n"), "trusted": TRUST, "origin": ORIGIN},
        "CKP_MALFORMED", "ckp-verify", "size 7 replaced by 100000000000000000000")
invalid(S, "ckp-order-origin-first", "checkpoint.verify",
        "A checkpoint of another log signed only by an untrusted key: the origin is checked before the signature lines.",
        ["CKP-012", "CKP-003", "ERR-002"],
        {"note": note(7, root7, ((OTHER, "portal.example/log/other"),), origin="portal.example/log/other"), "trusted": TRUST, "origin": ORIGIN},
        "CKP_ORIGIN_MISMATCH", "ckp-verify", "origin line changed and the note signed by another key under that name")
invalid(S, "ckp-order-lines", "checkpoint.verify",
        "A failing signature by the trusted key, then a line that is not a signature line: lines are checked in order, so the signature fails first.",
        ["CKP-012", "CKP-005", "ERR-002"],
        {"note": body(ORIGIN, 7, root7) + "\n" + LOG.note_sig(ORIGIN, body(ORIGIN, 8, root7)) + "not a signature line\n", "trusted": TRUST,
         "origin": ORIGIN}, "CKP_SIGNATURE_INVALID", "ckp-verify",
        "the signature made over another body, and a line without an em dash appended")
invalid(S, "ckp-signature-empty-name", "checkpoint.verify", "A cosignature line with an empty key name.", ["CKP-002"],
        {"note": note(7, root7, ((LOG, ORIGIN), (OTHER, ""))), "trusted": TRUST, "origin": ORIGIN}, "CKP_MALFORMED",
        "ckp-verify-extra-signature", "the cosigner's name witness.example removed")
upper = LOG.vkey(ORIGIN).split("+", 2)
invalid(S, "ckp-trusted-key-id-uppercase", "checkpoint.verify", "A trusted verifier key whose key ID is written in uppercase hex.", ["CKP-014"],
        {"note": n, "trusted": [f"{upper[0]}+{upper[1].upper()}+{upper[2]}"], "origin": ORIGIN}, "KEY_INVALID", "ckp-verify",
        "the key ID c319c8d3 of the trusted key written C319C8D3")
invalid(S, "ckp-trusted-key-extra-padding", "checkpoint.verify", "A trusted verifier key whose base64 carries one '=' too many: base64 has one spelling.",
        ["CKP-014"], {"note": n, "trusted": [LOG.vkey(ORIGIN) + "="], "origin": ORIGIN}, "KEY_INVALID", "ckp-verify",
        "an '=' appended to the trusted key's base64")
sig_line = LOG.note_sig(ORIGIN, body(ORIGIN, 7, root7))
invalid(S, "ckp-signature-extra-padding", "checkpoint.verify", "A signature line whose base64 carries one '=' too many: base64 has one spelling.",
        ["CKP-002"], {"note": body(ORIGIN, 7, root7) + "\n" + sig_line[:-1] + "=\n", "trusted": TRUST, "origin": ORIGIN}, "CKP_MALFORMED",
        "ckp-verify", "an '=' appended to the signature's base64")
cross_body = body(ORIGIN, 7, root7)
cross_id = sha(ORIGIN.encode() + b"\n\x01" + LOG.pk)[:4]
invalid(S, "ckp-receipt-label", "checkpoint.verify",
        "A signature line of the log key whose signature is the log key's receipt-labelled signature over the body: not a note signature.",
        ["CKP-005", "SIG-010"], {"note": cross_body + "\n\u2014 " + ORIGIN + " " + base64.b64encode(cross_id + LOG.sign(domain("receipt", cross_body.encode()))).decode() + "\n",
                                "trusted": TRUST, "origin": ORIGIN}, "CKP_SIGNATURE_INVALID", "ckp-verify",
        "the signature replaced by one over the same body with the domain label receipt")
S = "checkpoint-successor"
c0 = note(0, sha(b""))
valid(S, "ckp-successor-from-empty", "checkpoint.successor",
      "A checkpoint of size 0 (the empty tree's root) followed by one of size 7, with an empty proof: every tree is consistent with the empty tree.",
      ["CKP-010"], {"earlier": c0, "later": c7, "consistency": [], "trusted": TRUST}, {})
invalid(S, "ckp-successor-from-empty-proof", "checkpoint.successor", "Growth from size 0 with a non-empty consistency proof.", ["CKP-010"],
        {"earlier": c0, "later": c7, "consistency": [sha(b"x").hex()], "trusted": TRUST}, "MRK_CONSISTENCY_INVALID",
        "ckp-successor-from-empty", "a proof element added")
invalid(S, "ckp-successor-from-empty-root", "checkpoint.successor", "A checkpoint of size 0 whose root is not the empty tree's.", ["CKP-010"],
        {"earlier": note(0, sha(b"x")), "later": c7, "consistency": [], "trusted": TRUST}, "MRK_CONSISTENCY_INVALID",
        "ckp-successor-from-empty", "the size-0 checkpoint carries SHA-256(\"x\") as its root")
valid(S, "ckp-successor-same", "checkpoint.successor", "The same checkpoint published twice, with an empty proof.", ["CKP-011"],
      {"earlier": c7, "later": c7, "consistency": [], "trusted": TRUST}, {})
valid(S, "ckp-successor-same-with-proof", "checkpoint.successor",
      "Two checkpoints of one size and root with a non-empty proof: between one tree's checkpoints no proof is read.", ["CKP-011"],
      {"earlier": c7, "later": c7, "consistency": [sha(b"x").hex()], "trusted": TRUST}, {})
ORIGIN2 = "portal.example/log/vectors-b"
TRUST2 = [LOG.vkey(ORIGIN), LOG.vkey(ORIGIN2)]
valid(S, "ckp-successor-two-trusted", "checkpoint.successor", "A later checkpoint of the same log while the verifier trusts two logs.", ["CKP-009"],
      {"earlier": c3, "later": c7, "consistency": proof37, "trusted": TRUST2}, {})
invalid(S, "ckp-successor-other-origin", "checkpoint.successor",
        "The later checkpoint is another trusted log's, of the same size and root: successive checkpoints share one origin.", ["CKP-009"],
        {"earlier": c3, "later": note(7, root7, ((LOG, ORIGIN2),), ORIGIN2), "consistency": proof37, "trusted": TRUST2}, "CKP_ORIGIN_MISMATCH",
        "ckp-successor-two-trusted", "later checkpoint replaced by log vectors-b's checkpoint of size 7 with the same root")

# Receipts: the order of trust and signature, the signature's shape, integers.
S = "receipt-verify"
rneg("order-kid-before-signature", "RCP_KEY_UNTRUSTED", ["RCP-025", "ERR-002"], receipt(0, b"\x00" * 32, T0 + 5, key=OTHER)[0],
     "signed by another key and sig.kid naming that key: the kid is checked before the signature")
t = copy.deepcopy(R0); t["sig"]["value"] = b64u(base64.urlsafe_b64decode(R0["sig"]["value"] + "==")[:63])
rneg("sig-short", "RCP_SIGNATURE_INVALID", ["RCP-004"], t, "signature truncated to 63 bytes")
t = copy.deepcopy(R0); t["sig"]["alg"] = "EdDSA"
rneg("sig-alg", "RCP_MALFORMED", ["RCP-002"], t, "sig.alg EdDSA instead of Ed25519")
R_future, C_future, _ = receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_CODE_OF_A_LATER_REGISTRY")
valid(S, "rcp-verify-deny-unlisted-code", "receipt.verify",
      "A DENY whose code is not in this registry: a receipt's code is not checked against the registry, so receipts of a later registry still verify.",
      ["RCP-003"], {"receipt": R_future, "log_key": LOG.vkey(ORIGIN)},
      {"canonical": C_future.hex(), "link": sha(C_future).hex(), "leaf_hash": leaf(sha(C_future)).hex()})
t = copy.deepcopy(R0); t["time"] = float(R0["time"])
valid(S, "rcp-verify-time-float", "receipt.verify",
      "The time written 1760000005.0: an integer by value (json.md), the same canonical form, link and signature.", ["RCP-002", "JSON-015"],
      {"receipt": t, "log_key": LOG.vkey(ORIGIN)}, {"canonical": C0.hex(), "link": sha(C0).hex(), "leaf_hash": leaf(sha(C0)).hex()})
rneg("time-fraction", "RCP_MALFORMED", ["RCP-002", "JSON-015"], receipt(0, b"\x00" * 32, T0 + 5.5)[0], "time 1760000005.5, signed so")
rneg("seq-beyond-2-53", "RCP_MALFORMED", ["RCP-002", "JSON-015"], receipt(float(2**53 + 2), b"\x00" * 32, T0 + 5)[0],
     "seq 2^53 + 2, signed so")
S = "receipt-disclosure"
R16, _, P16 = receipt(0, b"\x00" * 32, T0 + 5, salts=(b"\x11" * 16, b"\x22" * 32))
invalid(S, "rcp-disclosure-salt-16", "receipt.disclosure",
        "A request committed with a 16-byte salt, and disclosed with it: a verifier accepts only 32-byte salts.", ["RCP-013"],
        disc(R16, P16), "RCP_DISCLOSURE_MALFORMED", "rcp-disclosure", "request salt of 16 bytes, committed with it")
invalid(S, "rcp-disclosure-salt-padded", "receipt.disclosure", "The request salt in base64url with padding.", ["RCP-013"],
        disc(R0, P0, request_salt=P0["request_salt"] + "="), "RCP_DISCLOSURE_MALFORMED", "rcp-disclosure", "= appended to the request salt")

# Artifacts: the window, integers, enumerations, the order of signature and trust.
S = "artifact-verify"
art_neg("window-empty", lambda o: o.update(not_after=o["not_before"]), "not_after equal to not_before")
sections[S][-1]["covers"].insert(1, "ART-009")
art_neg("rate-window-fraction", lambda o: o["rate_limit"].update(window=60.5), "rate_limit.window 60.5")
sections[S][-1]["covers"].insert(1, "JSON-015")
art_neg("enum-empty", lambda o: o["tools"]["search"]["arguments"]["query"].update(enum=[]), "an empty enum on query")
art_neg("max-length-fraction", lambda o: o["tools"]["search"]["arguments"]["query"].update(max_length=64.5), "max_length 64.5")
sections[S][-1]["covers"].insert(1, "JSON-015")
art_neg("sig-alg-mismatch", lambda o: None, "sig.alg ML-DSA-65 on an Ed25519 key")
o = copy.deepcopy(ART); o["sig"]["alg"] = "ML-DSA-65"; sections[S][-1]["input"]["chain"] = [o]
o = copy.deepcopy(ART); o["not_before"] = float(T0); o["rate_limit"]["window"] = 60.0
valid(S, "art-verify-float-times", "artifact.verify",
      "not_before written 1760000000.0 and the overall window 60.0: integers by value, so the signature and digest are unchanged.",
      ["ART-001", "ART-007", "JSON-015"], {"chain": [o], "authorities": AUTHS}, {"digest": digest(ART), "id": "art-v1"})
o = copy.deepcopy(seal(ART_UNSIGNED, OTHER, "artifact")); o["tools"]["delete_file"] = {}
invalid(S, "art-order-signature-before-trust", "artifact.verify",
        "Sealed by an untrusted key and altered after sealing: the signature is checked before the signer's trust.", ["ART-010", "ERR-002"],
        {"chain": [o], "authorities": AUTHS}, "ART_SIGNATURE_INVALID", "art-verify", "resealed by another key and tool delete_file added")
S = "artifact-evaluate"
valid(S, "art-eval-at-start", "artifact.evaluate", "A call at not_before exactly: the window includes its start.", ["ART-004"],
      ev("search", {"query": "cats", "limit": 5}, T0), {"decision": "ALLOW"})
valid(S, "art-eval-arguments-absent", "artifact.evaluate", "A call of caf\u00e9 without arguments: A is {}.", ["ART-004"],
      {"artifact": ART, "history": [], "call": {"tool": "caf\u00e9", "time": T0 + 10}}, {"decision": "ALLOW"})
eneg("arguments-null", "PTL_CONSTRAINT_VIOLATED", ["ART-004"], ev("caf\u00e9", None, T0 + 10),
     "arguments null: a member that is present is not absent, and null is not an object", base="art-eval-cafe")
ZERO = copy.deepcopy(ART_UNSIGNED); ZERO["tools"]["search"]["rate_limit"] = {"max": 0, "window": 60}
eneg("rate-zero", "PTL_RATE_LIMITED", ["ART-004"], dict(ev("search", {"query": "cats", "limit": 5}, T0 + 10), artifact=seal(ZERO, AUTH, "artifact")),
     "the artifact's search limit set to max 0: a well-formed limit that allows no call")

# Mandates: equal bounds, equal pins, the order of signature and signer, the depth of a chain.
S = "mandate-verify"
def same_bounds(m):
    m.update(not_before=T0, not_after=T0 + 86400, rate_limit={"max": 10, "window": 60})
    m["tools"]["search"]["rate_limit"] = {"max": 3, "window": 60}
man_valid("same-bounds", same_bounds, "A mandate whose window and rate limits equal its parent's: equal bounds narrow.", ["MAN-004", "MAN-007"])
man_valid("upstream-reordered", lambda m: m.update(upstream={"executable_sha256": "ab" * 32, "transport": "stdio"}),
          "The parent's upstream pin with its members written in another order: one JCS form, an equal pin.", ["MAN-010"])
mt = mandate(key=SUB); mt["not_after"] = T0 + 7200
man_neg("order-signature-before-signer", "MAN_SIGNATURE_INVALID", ["MAN-014", "ERR-002"], None,
        "signed by the sub-agent and not_after changed after signing: the signature is checked before the signer", chain=[ART, mt])
rooted = seal({k: v for k, v in mandate().items() if k not in ("sig", "parent")} | {"type": "mcp-attest/artifact/v1"}, AGENT, "artifact")
man_neg("artifact-as-child", "MAN_PARENT_MISSING", ["MAN-014"], None,
        "the second element a root artifact (no parent) sealed by the parent's subject", chain=[ART, rooted])
man_neg("parent-not-digest", "ART_MALFORMED", ["MAN-014", "ART-001"], lambda m: m.update(parent="not-a-digest"),
        "parent not the base64url of 32 bytes: a defect of shape, found before any parent is looked for")
man_neg("starts-with-mandate", "MAN_PARENT_MISSING", ["MAN-014", "MAN-001"], None, "the root artifact left out of the chain", chain=[MAN])
DEEP_ROOT = seal({"type": "mcp-attest/artifact/v1", "id": "art-deep", "issuer": "https://policy.example",
                  "subject": {"sub": "spiffe://agents.example/orchestrator", "jkt": AGENT.thumbprint},
                  "not_before": T0, "not_after": T0 + 86400, "tools": {"search": {}}, "log": {"origins": [ORIGIN]}}, AUTH, "artifact")
deep = [DEEP_ROOT]
for i in range(1, 17):
    deep.append(seal({"type": "mcp-attest/mandate/v1", "id": f"man-deep-{i}", "issuer": "spiffe://agents.example/researcher",
                      "parent": digest(deep[-1]), "subject": {"sub": "spiffe://agents.example/researcher", "jkt": SUB.thumbprint},
                      "not_before": T0, "not_after": T0 + 86400, "tools": {"search": {}}, "log": {"origins": [ORIGIN]}},
                     AGENT if i == 1 else SUB, "mandate"))
valid(S, "man-chain-16", "artifact.verify", "A chain of 16 artifacts: the root and 15 mandates, the longest a verifier accepts.", ["MAN-013"],
      {"chain": deep[:16], "authorities": AUTHS}, {"digest": digest(deep[15]), "id": "man-deep-15"})
invalid(S, "man-chain-17", "artifact.verify", "A chain of 17 artifacts: one mandate more than the limit.", ["MAN-013"],
        {"chain": deep, "authorities": AUTHS}, "ART_MALFORMED", "man-chain-16", "a 16th mandate appended")

# Bundles: integers, salts, time edges, empty and repeated checkpoints, trust before signature, unused artifacts.
S = "bundle-verify"
valid(S, "bnd-payload-seq-float", "bundle.verify", "Payload line 1 with its seq written 1.0: an integer by value.", ["BND-011", "JSON-015"],
      build(mutate=payloads(lambda p: p[1].update(seq=1.0))), {"receipts": 6}, context=CTX)
def salt16(b):
    r = b["logs"][0]["receipts"][1]
    r2, _, p2 = receipt(1, b64u_dec(r["prev"]), r["time"], salts=(b"\x01" * 16, bytes([101]) * 32), upstream=UPSTREAM)
    b["logs"][0]["receipts"][1] = r2; b["logs"][0]["payloads"][1] = p2
    rechain_from(b, 2)
bneg("salt-16", "RCP_DISCLOSURE_MALFORMED", ["RCP-013", "BND-002"], build(mutate=salt16),
     "receipt 1 committed with a 16-byte request salt and disclosed with it, the log re-signed and re-checkpointed")
valid(S, "bnd-now-at-last", "bundle.verify", "The verification time equal to the last receipt's time: not a future receipt.", ["BND-006"],
      build(), {"receipts": 6}, context=dict(CTX, now=T0 + 160))
bneg("no-logs", "BND_MALFORMED", ["BND-008"], build(mutate=lambda b: b.update(logs=[])), "the manifest lists no log")
ORPHAN = mandate(lambda m: m.update(id="man-orphan", parent=b64u(sha(b"absent"))))
valid(S, "bnd-unused-orphan", "bundle.verify", "A mandate whose parent is absent, named by no receipt: parsed, never chained: PASS.", ["BND-021"],
      build(mutate=lambda b: b["artifacts"].append(ORPHAN)), {"receipts": 6}, context=CTX)
valid(S, "bnd-checkpoints-from-empty", "bundle.verify", "Checkpoints of sizes 0 (the empty root), 3 and 6: growth from the empty tree needs no proof.",
      ["CKP-010", "BND-004"], build(checkpoints=((0,), (3,), (6,))), {"receipts": 6}, context=CTX)
def empty_root(b): b["logs"][0]["checkpoints"][0] = {"note": note(0, sha(b"x"))}
invalid(S, "bnd-checkpoint-empty-root", "bundle.verify", "FAIL: the checkpoint of size 0 carries another root than the empty tree's.",
        ["CKP-010"], build(checkpoints=((0,), (3,), (6,)), mutate=empty_root), "MRK_CONSISTENCY_INVALID", "bnd-checkpoints-from-empty",
        "the size-0 checkpoint's root replaced by SHA-256(\"x\")", context=CTX)
valid(S, "bnd-checkpoints-repeated", "bundle.verify", "The checkpoint of size 3 published twice, then 6: PASS.", ["CKP-011", "BND-004"],
      build(checkpoints=((3,), (3,), (6,))), {"receipts": 6}, context=CTX)
def empty_log(root):
    return {"artifacts": [ART], "logs": [{"origin": ORIGIN, "receipts": [], "checkpoints": [{"note": note(0, root)}], "payloads": []}]}
valid(S, "bnd-empty-log", "bundle.verify", "A log with no receipt and one checkpoint of size 0 over the empty tree's root: PASS.",
      ["BND-004", "BND-005"], empty_log(sha(b"")), {"receipts": 0, "open_calls": 0}, context=CTX)
invalid(S, "bnd-empty-log-root", "bundle.verify", "FAIL: the only checkpoint, of size 0, carries another root than the empty tree's.",
        ["BND-004"], empty_log(sha(b"x")), "BND_ROOT_MISMATCH", "bnd-empty-log", "the size-0 checkpoint's root replaced by SHA-256(\"x\")",
        context=CTX)
# ---------------------------------------------------------------- exact bytes of the bundle files
S = "bundle-verify"
def as_files(b):
    """A bundle given as JSON values, with its files as bytes: one JCS line per value."""
    out = {"artifacts": externalize_vectors.jsonl(b["artifacts"]), "logs": []}
    for log in b["logs"]:
        entry = {"origin": log["origin"]}
        for m in ("receipts", "checkpoints", "payloads"):
            if m in log: entry[m] = externalize_vectors.jsonl(log[m])
        out["logs"].append(entry)
    return out
def lines(values): return [externalize_vectors.dumps_line(v).encode() for v in values]
def edit(file, change):
    """The files of build() with one file's lines (a list of bytes, without line feeds) changed."""
    b = unsigned_receipts(build()); f = as_files(b)
    log = b["logs"][0]
    ls = lines(b["artifacts"] if file == "artifacts" else log[file])
    data = change(ls)
    if file == "artifacts": f["artifacts"] = data
    else: f["logs"][0][file] = data
    return f
def joined(ls, end=b"\n"): return b"".join(x + end for x in ls)
def replace_line(i, new):
    def change(ls):
        changed = new(ls[i])
        assert changed != ls[i], "the mutation changes nothing"
        ls[i] = changed
        return joined(ls)
    return change
R = unsigned_receipts(build())["logs"][0]["receipts"]
valid(S, "bnd-bytes-whitespace", "bundle.verify",
      "Receipt 1's line with a space after every colon and comma and its members in the order they were built, not JCS order: "
      "the canonical form, link and leaf do not change: PASS.", ["BND-020", "JSON-004"],
      edit("receipts", replace_line(1, lambda _: json.dumps(R[1]).encode())), {"receipts": 6}, context=CTX)
valid(S, "bnd-bytes-crlf", "bundle.verify",
      "Every line of every file ended by a carriage return and a line feed: the carriage return is JSON whitespace: PASS.",
      ["BND-019", "BND-020", "JSON-004"],
      {"artifacts": joined(lines(build()["artifacts"]), b"\r\n"),
       "logs": [{"origin": ORIGIN, **{m: joined(lines(unsigned_receipts(build())["logs"][0][m]), b"\r\n") for m in ("receipts", "checkpoints", "payloads")}}]},
      {"receipts": 6}, context=CTX)
valid(S, "bnd-bytes-no-final-newline", "bundle.verify", "The receipt file's last line without its line feed: it is still a line: PASS.",
      ["BND-019"], edit("receipts", lambda ls: b"\n".join(ls)), {"receipts": 6}, context=CTX)
def bytes_neg(name, code, covers, files, mutation):
    bneg(name, code, ["BND-019"] + covers, files, mutation)
bytes_neg("bytes-duplicate-member", "RCP_MALFORMED", ["JSON-005"],
          edit("receipts", replace_line(2, lambda l: l.replace(b'"seq":2,', b'"seq":2,"seq":2,'))),
          "receipt 2's line with its seq member written twice, with the same value")
bytes_neg("bytes-invalid-utf8", "RCP_MALFORMED", ["JSON-003"],
          edit("receipts", replace_line(2, lambda l: l.replace(b'"session":"s1"', b'"session":"s\xff"'))),
          "the 1 of receipt 2's session replaced by the byte FF, which is not UTF-8")
bytes_neg("bytes-overlong-utf8", "RCP_MALFORMED", ["JSON-003"],
          edit("receipts", replace_line(2, lambda l: l.replace(b'"session":"s1"', b'"session":"s\xc0\xb1"'))),
          "the 1 of receipt 2's session written as the overlong two-byte sequence C0 B1, which a lax decoder reads as 1")
bytes_neg("bytes-bom", "RCP_MALFORMED", ["JSON-002"], edit("receipts", lambda ls: b"\xef\xbb\xbf" + joined(ls)),
          "the receipt file starting with a UTF-8 byte order mark")
bytes_neg("bytes-empty-line", "RCP_MALFORMED", ["JSON-004"], edit("receipts", lambda ls: joined(ls[:3] + [b""] + ls[3:])),
          "an empty line between receipts 2 and 3: only the artifact and checkpoint files skip empty lines")
bytes_neg("bytes-payload-duplicate-member", "BND_MALFORMED", ["JSON-005"],
          edit("payloads", replace_line(1, lambda l: l.replace(b'"seq":1}', b'"seq":1,"seq":1}'))),
          "payload line 1 with its seq member written twice, with the same value")


# ---------------------------------------------------------------- lifecycle: REVOKE entries and shadow ALLOWs
def revoke_receipt(seq, prev, t, revoked, origin=ORIGIN, key=LOG, extra=None):
    """A REVOKE: exactly type, log, seq, time, prev, artifact (the revoked digest), decision and sig."""
    r = {"type": "mcp-attest/receipt/v1", "log": origin, "seq": seq, "time": t, "prev": b64u(prev), "artifact": revoked,
         "decision": "REVOKE"}
    r.update(extra or {})
    r["sig"] = {"alg": "Ed25519", "kid": key.thumbprint, "value": b64u(key.sign(domain("receipt", jcs(r))))}
    return r

S = "receipt-verify"
R_rev = revoke_receipt(1, link(R0), T0 + 6, digest(ART))
verified("revoke", "A REVOKE of an artifact: type, log, seq, time, prev, the revoked digest as artifact, decision and sig, nothing else.",
         ["RCP-026"], R_rev, jcs({k: v for k, v in R_rev.items() if k != "sig"}))
for member, value, what in [("session", "s1", "a session"), ("method", "tools/call", "a method"),
                            ("agent", {"sub": ART["subject"]["sub"], "jkt": ART["subject"]["jkt"]}, "an agent"),
                            ("request", b64u(b"\x11" * 32), "a request commitment"), ("response", b64u(b"\x22" * 32), "a response commitment"),
                            ("code", "PTL_ARTIFACT_REVOKED", "a code"), ("tool", "search", "a tool")]:
    rcp_bad(f"revoke-with-{member}", revoke_receipt(1, link(R0), T0 + 6, digest(ART), extra={member: value}),
            f"{what} on the REVOKE", ["RCP-026"], "rcp-verify-revoke")
def resigned_without(r, member):
    r = {k: v for k, v in r.items() if k not in (member, "sig")}
    r["sig"] = {"alg": "Ed25519", "kid": LOG.thumbprint, "value": b64u(LOG.sign(domain("receipt", jcs(r))))}
    return r
rcp_bad("revoke-no-artifact", resigned_without(revoke_receipt(1, link(R0), T0 + 6, digest(ART)), "artifact"),
        "the REVOKE without artifact", ["RCP-026"], "rcp-verify-revoke")
rcp_bad("allow-no-session", resigned_without(R0, "session"), "the ALLOW without session (only a REVOKE has none)", ["RCP-026"], "rcp-verify")
rcp_bad("allow-no-method", resigned_without(R0, "method"), "the ALLOW without method (only a REVOKE has none)", ["RCP-026"], "rcp-verify")
R_sh, C_sh, P_sh = receipt(0, b"\x00" * 32, T0 + 5, tool="delete_file", open_call=True, upstream=UPSTREAM, shadow="PTL_TOOL_NOT_ALLOWED")
verified("shadow", "An open ALLOW forwarded in shadow mode: shadow names the code the enforcing portal would have denied it with.",
         ["RCP-027"], R_sh, C_sh)
R_shl, C_shl, _ = receipt(0, b"\x00" * 32, T0 + 5, tool=None, method="tools/list", open_call=True, upstream=UPSTREAM,
                          req={}, shadow="PTL_OUTSIDE_VALIDITY")
verified("shadow-list", "A tools/list forwarded in shadow mode outside the validity window: shadow on an ALLOW of any method.",
         ["RCP-027"], R_shl, C_shl)
rcp_bad("shadow-on-deny", receipt(0, b"\x00" * 32, T0 + 5, decision="DENY", code="PTL_RATE_LIMITED", shadow="PTL_RATE_LIMITED")[0],
        "shadow on a DENY", ["RCP-027"], "rcp-verify-deny")
rcp_bad("shadow-on-result", receipt(1, link(R_open), T0 + 6, decision="RESULT", call=0, shadow="PTL_TOOL_NOT_ALLOWED")[0],
        "shadow on a RESULT", ["RCP-027"], "rcp-verify-result")
rcp_bad("shadow-empty", receipt(0, b"\x00" * 32, T0 + 5, tool="delete_file", open_call=True, upstream=UPSTREAM, shadow="")[0],
        "an empty shadow", ["RCP-027"], "rcp-verify-shadow")

S = "bundle-verify"
REVOKED_ROOT = {"t": T0 + 20, "decision": "REVOKE", "revoked": digest(ART)}
def lifecycle(calls, artifacts=(ART,)):
    return {"artifacts": list(artifacts), "logs": [history(calls)]}
DENIED_REVOKED = {"t": T0 + 30, "decision": "DENY", "code": "PTL_ARTIFACT_REVOKED"}
valid(S, "bnd-revoke", "bundle.verify",
      "An ALLOW, then the REVOKE of its artifact, then a call under it denied with PTL_ARTIFACT_REVOKED: the ALLOW before the REVOKE stands: PASS.",
      ["BND-024", "BND-026", "RCP-026"], lifecycle([{"t": T0 + 10}, REVOKED_ROOT, DENIED_REVOKED]),
      {"receipts": 3, "open_calls": 0, "revocations": 1, "shadow_calls": 0}, context=CTX)
def lneg(name, code, covers, calls, mutation, base, artifacts=(ART,)):
    invalid(S, f"bnd-{name}", "bundle.verify", f"FAIL: {mutation}.", covers, lifecycle(calls, artifacts), code, base, mutation, context=CTX)
lneg("revoke-allow-after", "PTL_ARTIFACT_REVOKED", ["BND-024"], [{"t": T0 + 10}, REVOKED_ROOT, {"t": T0 + 30}],
     "the call after the REVOKE of its artifact recorded as an ALLOW", "bnd-revoke")
# the payload line for seq 1, between those of seq 0 and 2
bundle_input = lifecycle([{"t": T0 + 10}, REVOKED_ROOT, DENIED_REVOKED])
ps = bundle_input["logs"][0]["payloads"]
ps.insert(1, {"seq": 1, "request": {"name": "search", "arguments": {}}, "request_salt": b64u(b"\x01" * 32)})
invalid(S, "bnd-revoke-payload", "bundle.verify", "FAIL: a payload line for the REVOKE, which commits to nothing.", ["BND-026", "RCP-026"],
        bundle_input, "RCP_DISCLOSURE_MALFORMED", "bnd-revoke", "a payload line for the REVOKE, which commits to nothing", context=CTX)
lneg("revoke-malformed", "RCP_MALFORMED", ["RCP-026"],
     [{"t": T0 + 10}, dict(REVOKED_ROOT, extra={"session": "s1"}), DENIED_REVOKED], "the REVOKE with a session", "bnd-revoke")
UNDER_M1 = {"t": T0 + 30, "art": digest(M1), "agent": SUB_AGENT, "req": {"name": "search", "arguments": {"query": "paper:x", "limit": 5}}}
valid(S, "bnd-revoke-sibling", "bundle.verify",
      "The REVOKE of a sibling mandate, then an ALLOW under the other: the revoked digest is not in its chain: PASS.",
      ["BND-024"], lifecycle([{"t": T0 + 20, "decision": "REVOKE", "revoked": digest(M2)}, UNDER_M1], (ART, M1, M2)),
      {"receipts": 2, "revocations": 1}, context=CTX)
lneg("revoke-root-mandate", "PTL_ARTIFACT_REVOKED", ["BND-024"], [REVOKED_ROOT, UNDER_M1],
     "the REVOKE names the root artifact, and the ALLOW is under a mandate derived from it", "bnd-revoke-sibling", (ART, M1, M2))
valid(S, "bnd-revoke-unknown", "bundle.verify",
      "The REVOKE of a digest the bundle holds no artifact of (a mandate this log never saw): a REVOKE has no chain: PASS.",
      ["BND-026"], lifecycle([{"t": T0 + 10}, {"t": T0 + 20, "decision": "REVOKE", "revoked": b64u(sha(b"never presented"))}, {"t": T0 + 30}]),
      {"receipts": 3, "revocations": 1}, context=CTX)
valid(S, "bnd-revoke-open-call", "bundle.verify",
      "A call forwarded, the REVOKE of its artifact while it runs, then its RESULT: a REVOKE does not touch a call allowed before it: PASS.",
      ["BND-026", "BND-014"], lifecycle([fwd(0), REVOKED_ROOT, res(0, t=T0 + 30)]), {"receipts": 3, "open_calls": 0, "revocations": 1}, context=CTX)
valid(S, "bnd-revoke-per-log", "bundle.verify",
      "The REVOKE is in one replica's log and a later ALLOW under the artifact in the other's: each log is checked against its own REVOKEs: PASS.",
      ["BND-024"], {"artifacts": [ART], "logs": [history([{"t": T0 + 10}, REVOKED_ROOT]), history([{"t": T0 + 40}], ORIGIN_B, LOG_B)]},
      {"receipts": 3, "revocations": 1}, context=CTX2)
lneg("revoke-shadow", "PTL_ARTIFACT_REVOKED", ["BND-024", "BND-025"],
     [{"t": T0 + 10}, REVOKED_ROOT, {"t": T0 + 30, "tool": "delete_file", "shadow": "PTL_TOOL_NOT_ALLOWED",
                                     "req": {"name": "delete_file", "arguments": {}}}],
     "the call after the REVOKE recorded as a shadow ALLOW: revocation is enforced in shadow mode too", "bnd-revoke")
SHADOW_DELETE = {"t": T0 + 10, "tool": "delete_file", "shadow": "PTL_TOOL_NOT_ALLOWED", "req": {"name": "delete_file", "arguments": {}}}
valid(S, "bnd-shadow", "bundle.verify",
      "A call of a tool the artifact does not allow, forwarded in shadow mode (an ALLOW with shadow), and completed: not re-evaluated, counted apart: PASS.",
      ["BND-025", "RCP-027"], lifecycle([dict(SHADOW_DELETE, open_call=True), res(0, tool="delete_file")]),
      {"receipts": 2, "open_calls": 0, "revocations": 0, "shadow_calls": 1}, context=CTX)
lneg("shadow-unmarked", "PTL_TOOL_NOT_ALLOWED", ["BND-025", "BND-003"],
     [dict({k: v for k, v in SHADOW_DELETE.items() if k != "shadow"}, open_call=True), res(0, tool="delete_file")],
     "the ALLOW of the tool the artifact does not allow without shadow: an enforced decision, re-evaluated", "bnd-shadow")
SHADOW_RATE = [{"t": T0 + 10}, {"t": T0 + 10, "shadow": "PTL_RATE_LIMITED"}, {"t": T0 + 10}, {"t": T0 + 10}]
valid(S, "bnd-shadow-rate", "bundle.verify",
      "Four searches at one second under 3 per 60 s, the second forwarded in shadow mode: a shadow ALLOW consumes nothing: PASS.",
      ["BND-025"], lifecycle(SHADOW_RATE), {"receipts": 4, "shadow_calls": 1}, context=CTX)
lneg("shadow-rate-unmarked", "PTL_RATE_LIMITED", ["BND-025", "BND-003"], [dict(c) for c in SHADOW_RATE[:1]] + [{"t": T0 + 10}] + SHADOW_RATE[2:],
     "the second search without shadow: four enforced ALLOWs at one second, one beyond 3 per 60 s", "bnd-shadow-rate")
valid(S, "bnd-shadow-two-logs", "bundle.verify",
      "Two replicas: two searches in one log, one search and one shadow search in the other, at one second: three counted across logs: PASS.",
      ["BND-025", "BND-010"], {"artifacts": [ART], "logs": [history(burst(2)), history([{"t": T0 + 10}, {"t": T0 + 10, "shadow": "PTL_RATE_LIMITED"}], ORIGIN_B, LOG_B)]},
      {"receipts": 4, "shadow_calls": 1}, context=CTX2)


# ---------------------------------------------------------------- behavioural drift rules
# Artifacts with drift rules: the base artifact plus two tools, with sequences, with a burst.
D_TOOLS = {"read_secret": {}, "send_email": {}}
def drift_root(drift, ident):
    o = copy.deepcopy(ART_UNSIGNED); o["id"] = ident; o["tools"].update(copy.deepcopy(D_TOOLS)); o["drift"] = copy.deepcopy(drift)
    return seal(o, AUTH, "artifact")
SEQ_RULES = {"on_drift": "deny", "sequences": [{"tools": ["read_secret", "send_email"], "window": 300},
                                               {"tools": ["search", "search", "read_file"], "window": 100}]}
D_SEQ = drift_root(SEQ_RULES, "art-drift-seq")
D_BURST = drift_root({"on_drift": "deny", "burst": {"max": 3, "window": 10}}, "art-drift-burst")
D_PLAIN = drift_root({"on_drift": "deny"}, "art-drift-none")
def mandate_of(parent, change=None, ident="man-drift"):
    m = {"type": "mcp-attest/mandate/v1", "id": ident, "issuer": "spiffe://agents.example/orchestrator", "parent": digest(parent),
         "subject": {"sub": "spiffe://agents.example/researcher", "jkt": SUB.thumbprint},
         "not_before": T0, "not_after": T0 + 3600,
         "tools": {"search": copy.deepcopy(ART_UNSIGNED["tools"]["search"]), "read_file": copy.deepcopy(ART_UNSIGNED["tools"]["read_file"]),
                   "read_secret": {}, "send_email": {}},
         "rate_limit": {"max": 10, "window": 60}, "upstream": UPSTREAM, "log": {"origins": [ORIGIN]},
         "drift": {"on_drift": "deny"}}
    if change: change(m)
    return seal(m, AGENT, "mandate")

S = "artifact-verify"
FULL_RULES = {"on_drift": "phantom",
              "sequences": [{"tools": ["read_secret", "send_email"], "window": 300}] * 63 + [{"tools": ["search"] * 16, "window": 1}],
              "burst": {"max": 10000, "window": 60.0}}
valid(S, "art-drift-rules", "artifact.verify",
      "An artifact with 64 sequence rules (one of 16 tools, one name repeated), a burst at the largest max 10000, a window written 60.0: well formed.",
      ["ART-001", "ART-011"], {"chain": [drift_root(FULL_RULES, "art-v1")], "authorities": AUTHS},
      {"digest": digest(drift_root(FULL_RULES, "art-v1")), "id": "art-v1"})
def drift_neg(name, change, mutation):
    d = copy.deepcopy(FULL_RULES); change(d)
    invalid(S, f"art-drift-{name}", "artifact.verify", f"Malformed: {mutation}.", ["ART-001", "ART-011"],
            {"chain": [drift_root(d, "art-v1")], "authorities": AUTHS}, "ART_MALFORMED", "art-drift-rules", mutation)
drift_neg("sequences-65", lambda d: d["sequences"].append({"tools": ["a", "b"], "window": 1}), "a 65th sequence rule")
drift_neg("sequences-empty", lambda d: d.update(sequences=[]), "sequences empty")
drift_neg("sequence-one-tool", lambda d: d["sequences"].__setitem__(0, {"tools": ["send_email"], "window": 300}), "a sequence of one tool")
drift_neg("sequence-17-tools", lambda d: d["sequences"][63]["tools"].append("search"), "a sequence of 17 tools")
drift_neg("sequence-window-zero", lambda d: d["sequences"].__setitem__(0, {"tools": ["read_secret", "send_email"], "window": 0}), "a sequence window of 0")
drift_neg("sequence-empty-name", lambda d: d["sequences"].__setitem__(0, {"tools": ["read_secret", ""], "window": 300}), "an empty tool name in a sequence")
drift_neg("sequence-extra-member", lambda d: d["sequences"].__setitem__(0, {"tools": ["read_secret", "send_email"], "window": 300, "contiguous": True}),
          "member contiguous added to a sequence")
drift_neg("burst-max-zero", lambda d: d["burst"].update(max=0), "burst max 0")
drift_neg("burst-max-above", lambda d: d["burst"].update(max=10001), "burst max 10001, above the bound")
drift_neg("burst-window-fraction", lambda d: d["burst"].update(window=60.5), "burst window 60.5")

S = "mandate-verify"
def drift_chain(change, ident="man-drift"): return {"chain": [D_SEQ, mandate_of(D_SEQ, change, ident)], "authorities": AUTHS}
ADDS = lambda m: m.update(drift={"on_drift": "deny", "sequences": [{"tools": ["search", "send_email"], "window": 60}], "burst": {"max": 50, "window": 1}})
valid(S, "man-drift-adds-rules", "artifact.verify",
      "Under a parent with sequence rules, a mandate that keeps on_drift and adds a sequence and a burst (looser than nothing: the parent's rules stay in force): accepted.",
      ["MAN-015"], drift_chain(ADDS), {"digest": digest(mandate_of(D_SEQ, ADDS)), "id": "man-drift"})
valid(S, "man-drift-own-rules-only", "artifact.verify",
      "A mandate whose drift keeps on_drift and lists none of its parent's sequences: accepted, the parent's sequences apply to it all the same.",
      ["MAN-015"], drift_chain(None), {"digest": digest(mandate_of(D_SEQ)), "id": "man-drift"})
def drift_man_neg(name, change, mutation, base="man-drift-adds-rules"):
    def both(m): ADDS(m); change(m)
    invalid(S, f"man-drift-{name}", "artifact.verify", f"Rejected: {mutation}.", ["MAN-010"], drift_chain(both),
            "MAN_WIDENS_CONSTRAINT", base, mutation)
drift_man_neg("changes-action", lambda m: m["drift"].update(on_drift="phantom"), "on_drift changed from deny to phantom")
drift_man_neg("adds-tools-pin", lambda m: m["drift"].update(tools_sha256=b64u(sha(b"tools"))), "a tools_sha256 the parent's drift does not have")
drift_man_neg("dropped", lambda m: m.pop("drift"), "the parent's drift dropped")

S = "artifact-evaluate"
def evd(artifact, tool, t, history=(), session=None, ancestors=None, arguments=None):
    inp = {"artifact": artifact, "history": [dict({"tool": h[0], "time": h[1]}, **(h[2] if len(h) > 2 else {})) for h in history],
           "call": {"tool": tool, "arguments": arguments if arguments is not None else {}, "time": t}}
    if session: inp["call"]["session"] = session
    if ancestors: inp["ancestors"] = ancestors
    return inp
def dvalid(name, description, covers, inp):
    valid(S, f"art-eval-drift-{name}", "artifact.evaluate", description, covers, inp, {"decision": "ALLOW"})
def dneg(name, code, covers, inp, mutation, base):
    invalid(S, f"art-eval-drift-{name}", "artifact.evaluate", f"Denied: {mutation}.", covers, inp, code, f"art-eval-drift-{base}", mutation)
dvalid("seq-window-passed", "read_secret at T0+10, then send_email at T0+310: the sequence's window (T0+10, T0+310] of 300 s no longer holds read_secret.",
       ["ART-004", "ART-012"], evd(D_SEQ, "send_email", T0 + 310, [("read_secret", T0 + 10)]))
dneg("seq", "PTL_BEHAVIOUR_DRIFT", ["ART-004", "ART-012"], evd(D_SEQ, "send_email", T0 + 309, [("read_secret", T0 + 10)]),
     "send_email one second earlier, at T0+309: read_secret at T0+10 is inside (T0+9, T0+309], the sequence read_secret, send_email fires", "seq-window-passed")
dvalid("seq-reversed", "send_email at T0+10, then read_secret at T0+20: the calls of the sequence in the other order fire nothing.",
       ["ART-012"], evd(D_SEQ, "read_secret", T0 + 20, [("send_email", T0 + 10)]))
dneg("seq-between", "PTL_BEHAVIOUR_DRIFT", ["ART-012"],
     evd(D_SEQ, "send_email", T0 + 20, [("read_secret", T0 + 10), ("search", T0 + 11), ("read_file", T0 + 12), ("caf\u00e9", T0 + 13)]),
     "read_secret, three other calls, then send_email: a sequence need not be contiguous", "seq-between-other-session")
dvalid("seq-between-other-session", "read_secret in session s2, three other calls in s1, then send_email in s1: the rule counts the calls of one session.",
       ["ART-012"], evd(D_SEQ, "send_email", T0 + 20, [("read_secret", T0 + 10, {"session": "s2"}), ("search", T0 + 11, {"session": "s1"}),
                                                      ("read_file", T0 + 12, {"session": "s1"}), ("caf\u00e9", T0 + 13, {"session": "s1"})], session="s1"))
dvalid("repeat-once", "search once, then read_file: the sequence search, search, read_file needs two calls of search.",
       ["ART-012"], evd(D_SEQ, "read_file", T0 + 20, [("search", T0 + 10)], arguments={"path": "/data/a"}))
dneg("repeat", "PTL_BEHAVIOUR_DRIFT", ["ART-012"], evd(D_SEQ, "read_file", T0 + 20, [("search", T0 + 10), ("search", T0 + 15)], arguments={"path": "/data/a"}),
     "a second search before read_file: search, search, read_file fires", "repeat-once")
dvalid("burst-below", "Two calls in the 10 s window, then a third: below the burst's max of 3.",
       ["ART-012"], evd(D_BURST, "read_secret", T0 + 12, [("read_secret", T0 + 10), ("send_email", T0 + 11)]))
dvalid("burst-window-passed", "Three calls at T0+10, T0+11, T0+12, then one at T0+20: the window (T0+10, T0+20] holds two.",
       ["ART-012"], evd(D_BURST, "read_secret", T0 + 20, [("read_secret", T0 + 10), ("send_email", T0 + 11), ("search", T0 + 12)]))
dneg("burst", "PTL_BEHAVIOUR_DRIFT", ["ART-012"], evd(D_BURST, "read_secret", T0 + 19, [("read_secret", T0 + 10), ("send_email", T0 + 11), ("search", T0 + 12)]),
     "the call one second earlier, at T0+19: the window (T0+9, T0+19] already holds max = 3 calls", "burst-window-passed")
MD = mandate_of(D_SEQ)
dvalid("ancestor-other-session", "Under a mandate of an artifact with the sequence read_secret, send_email: read_secret in another session, then send_email.",
       ["ART-012", "MAN-016"], evd(MD, "send_email", T0 + 20, [("read_secret", T0 + 10, {"session": "s2"})], session="s1", ancestors=[D_SEQ]))
dneg("ancestor", "PTL_BEHAVIOUR_DRIFT", ["ART-012", "MAN-016"], evd(MD, "send_email", T0 + 20, [("read_secret", T0 + 10, {"session": "s1"})], session="s1", ancestors=[D_SEQ]),
     "read_secret in the same session: the parent's sequence applies under the mandate, which has no rule of its own", "ancestor-other-session")
MDB = mandate_of(D_SEQ, lambda m: m.update(drift={"on_drift": "deny", "burst": {"max": 1, "window": 60}}), "man-drift-burst")
dvalid("mandate-burst-first", "Under a mandate adding a burst of max 1 per 60 s to its parent's sequences: the first call.",
       ["MAN-016"], evd(MDB, "search", T0 + 20, [], ancestors=[D_SEQ], arguments={"query": "x"}))
dneg("mandate-burst", "PTL_BEHAVIOUR_DRIFT", ["MAN-016"], evd(MDB, "search", T0 + 20, [("read_file", T0 + 10)], ancestors=[D_SEQ], arguments={"query": "x"}),
     "one earlier call in the window: the mandate's own burst of max 1 fires", "mandate-burst-first")
QH = [("read_secret", T0 + 10), ("send_email", T0 + 20, {"code": "PTL_BEHAVIOUR_DRIFT"})]
dvalid("quarantine-other-session", "A session's drift began (its send_email denied with PTL_BEHAVIOUR_DRIFT); a call of another session is decided as usual.",
       ["ART-013"], evd(D_SEQ, "search", T0 + 30, [(h[0], h[1], dict(h[2] if len(h) > 2 else {}, session="s1")) for h in QH], session="s2", arguments={"query": "x"}))
dneg("quarantine", "PTL_BEHAVIOUR_DRIFT", ["ART-013"], evd(D_SEQ, "search", T0 + 30, [(h[0], h[1], dict(h[2] if len(h) > 2 else {}, session="s1")) for h in QH], session="s1", arguments={"query": "x"}),
     "the call in the session whose drift began: a search, which fires no rule, is refused with the code the drift began with", "quarantine-other-session")
dneg("order-quarantine-first", "PTL_BEHAVIOUR_DRIFT", ["ART-013", "ERR-002"], evd(D_SEQ, "delete_file", T0 + 86400, [(h[0], h[1], dict(h[2] if len(h) > 2 else {}, session="s1")) for h in QH], session="s1"),
     "in the session in drift, a tool the artifact does not allow, at its not_after: step 0 comes first", "quarantine-other-session")
D_SEQ_PHANTOM = drift_root(dict(SEQ_RULES, on_drift="phantom"), "art-drift-seq-phantom")
QHS = [(h[0], h[1], dict(h[2] if len(h) > 2 else {}, session="s1")) for h in QH]
dvalid("phantom-other-session", "Under on_drift phantom, a session's drift began; a call of another session is decided as usual.",
       ["ART-013"], evd(D_SEQ_PHANTOM, "search", T0 + 30, QHS, session="s2", arguments={"query": "x"}))
dneg("phantom-quarantine", "PTL_BEHAVIOUR_DRIFT", ["ART-013"], evd(D_SEQ_PHANTOM, "search", T0 + 30, QHS, session="s1", arguments={"query": "x"}),
     "under on_drift phantom, a search the policy allows in the session in drift: the drift code, answered from the sandbox", "phantom-other-session")
dneg("phantom-policy-first", "PTL_TOOL_NOT_ALLOWED", ["ART-013", "ERR-002"], evd(D_SEQ_PHANTOM, "delete_file", T0 + 30, QHS, session="s1"),
     "under on_drift phantom, a tool the artifact does not allow in the session in drift: denied with the policy's code, as before the drift (step 0 after step 6)", "phantom-other-session")
dvalid("other-denial", "An earlier search denied with PTL_RATE_LIMITED in the session: a denial with another code begins no drift.",
       ["ART-013"], evd(D_PLAIN, "search", T0 + 20, [("search", T0 + 10, {"code": "PTL_RATE_LIMITED"})], arguments={"query": "x"}))
dneg("upstream", "PTL_UPSTREAM_DRIFT", ["ART-013"], evd(D_PLAIN, "search", T0 + 20, [("search", T0 + 10, {"code": "PTL_UPSTREAM_DRIFT"})], arguments={"query": "x"}),
     "the earlier search denied with PTL_UPSTREAM_DRIFT: the session's drift began with that code, which every later call gets", "other-denial")
dneg("order-rate-first", "PTL_RATE_LIMITED", ["ART-004", "ART-005", "ERR-002"],
     evd(D_SEQ, "send_email", T0 + 20, [("read_secret", T0 + 10)] + [("caf\u00e9", T0 + 11)] * 9),
     "read_secret and nine other calls in 60 s: send_email would fire the sequence, but the overall rate limit of 10 is checked first", "seq-window-passed")

S = "bundle-verify"
RS = {"req": {"name": "read_secret", "arguments": {}}, "tool": "read_secret"}
SE = {"req": {"name": "send_email", "arguments": {}}, "tool": "send_email"}
SR = {"req": {"name": "search", "arguments": {"query": "x"}}, "tool": "search"}
LS = {"req": {}, "tool": None, "method": "tools/list"}
def dcall(t, kind, session="s1", decision="ALLOW", code=None, art=D_SEQ):
    c = dict(kind, t=T0 + t, session=session, decision=decision, art=digest(art))
    if code: c["code"] = code
    return c
def dbundle(calls, arts=(D_SEQ,)): return {"artifacts": [ART] + list(arts), "logs": [history(calls)]}
DRIFT_PASS = [dcall(10, RS), dcall(20, SE, decision="DENY", code="PTL_BEHAVIOUR_DRIFT"), dcall(30, SR, decision="DENY", code="PTL_BEHAVIOUR_DRIFT"),
              dcall(40, SE, session="s2"), dcall(50, LS, decision="PHANTOM", code="PTL_BEHAVIOUR_DRIFT")]
valid(S, "bnd-drift", "bundle.verify",
      "Session s1: read_secret allowed, send_email denied with PTL_BEHAVIOUR_DRIFT, then a search denied and a tools/list answered as PHANTOM with that code; session s2: send_email allowed: PASS.",
      ["BND-023", "ART-012", "ART-013"], dbundle(DRIFT_PASS), {"receipts": 5}, context=CTX)
def dbneg(name, code, change, mutation, base="bnd-drift", calls=DRIFT_PASS):
    cs = copy.deepcopy(calls); change(cs)
    invalid(S, f"bnd-drift-{name}", "bundle.verify", f"FAIL: {mutation}.", ["BND-023"], dbundle(cs), code, base, mutation, context=CTX)
def allow_at(i): return lambda cs: (cs[i].update(decision="ALLOW"), cs[i].pop("code", None))
dbneg("allow-fires", "PTL_BEHAVIOUR_DRIFT", allow_at(1), "receipt 1 (send_email after read_secret in s1) an ALLOW: the sequence fires, the portal should have denied it")
dbneg("allow-after", "PTL_BEHAVIOUR_DRIFT", allow_at(2), "receipt 2 (a search of s1 after its drift began) an ALLOW: the session was in drift")
dbneg("allow-list-after", "PTL_BEHAVIOUR_DRIFT", allow_at(4), "receipt 4 (a tools/list of s1 after its drift began) an ALLOW: every method of the session is refused")
UP_PASS = [dcall(10, SR, decision="DENY", code="PTL_UPSTREAM_DRIFT", art=ART), dcall(20, SR, session="s2", art=ART)]
valid(S, "bnd-drift-upstream-other-session", "bundle.verify",
      "A search of s1 denied with PTL_UPSTREAM_DRIFT, then a search of s2 allowed: PASS.", ["BND-023"], dbundle(UP_PASS, ()), {"receipts": 2}, context=CTX)
dbneg("upstream-after", "PTL_UPSTREAM_DRIFT", lambda cs: cs[1].update(session="s1"),
      "the allowed search in s1, after its PTL_UPSTREAM_DRIFT denial: the session's drift began with that code", base="bnd-drift-upstream-other-session", calls=UP_PASS)

# ---------------------------------------------------------------- cosignatures (C2SP tlog-cosignature)
# Computed here from checkpoint.md §Cosignatures: key ID over type 0x04, the signed message
# "cosignature/v1\ntime <T>\n" || body, the blob key ID || 8-byte big-endian T || signature.
S = "checkpoint-cosign"
def cosigner_key_id(name, pk, sig_type=b"\x04"): return sha(name.encode() + b"\n" + sig_type + pk)[:4]
def cosigner_vkey(key, name): return name + "+" + cosigner_key_id(name, key.pk).hex() + "+" + base64.b64encode(b"\x04" + key.pk).decode()
def cosig_line(key, name, b, t, signed_t=None, blob=None):
    sig = key.sign(b"cosignature/v1\ntime " + str(t if signed_t is None else signed_t).encode() + b"\n" + b.encode())
    raw = blob if blob is not None else cosigner_key_id(name, key.pk) + t.to_bytes(8, "big") + sig
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"
W1, W2 = Key(0xD1), Key(0xD2)
W1N, W2N = "witness.example/w1", "witness.example/w2"
WKEYS = [cosigner_vkey(W1, W1N), cosigner_vkey(W2, W2N)]
TW1, TW2 = T0 + 100, T0 + 160
cb = body(ORIGIN, 7, root7)
log_line = LOG.note_sig(ORIGIN, cb)
w1_line, w2_line = cosig_line(W1, W1N, cb, TW1), cosig_line(W2, W2N, cb, TW2)
def cos_in(lines, trusted=TRUST, witnesses=WKEYS): return {"note": cb + "\n" + "".join(lines), "trusted": trusted, "origin": ORIGIN, "witnesses": witnesses}
def cos_out(*cs): return {"origin": ORIGIN, "size": 7, "root": root7.hex(), "cosignatures": [{"name": n, "time": t} for n, t in cs]}
valid(S, "ckp-cosigned", "checkpoint.cosignatures",
      "A checkpoint signed by the log key and cosigned by two trusted witnesses: both cosignatures, with their timestamps.",
      ["CKP-015", "CKP-016", "CKP-019", "CKP-020"], cos_in([log_line, w1_line, w2_line]), cos_out((W1N, TW1), (W2N, TW2)))
invalid(S, "ckp-cosignature-invalid", "checkpoint.cosignatures",
        "The second witness's timestamp changed after signing: a cosignature by a trusted witness key that does not verify.", ["CKP-018"],
        cos_in([log_line, w1_line, cosig_line(W2, W2N, cb, TW2 + 1, signed_t=TW2)]), "CKP_COSIGNATURE_INVALID", "ckp-cosigned",
        f"the timestamp of witness.example/w2's cosignature changed from {TW2} to {TW2 + 1}")
invalid(S, "ckp-cosignature-no-timestamp", "checkpoint.cosignatures",
        "A line by a trusted witness key holding a key ID and a bare 64-byte signature of the body, as a log signature would: not a cosignature.",
        ["CKP-018"], cos_in([log_line, w1_line, f"\u2014 {W2N} " + base64.b64encode(cosigner_key_id(W2N, W2.pk) + W2.sign(cb.encode())).decode() + "\n"]),
        "CKP_COSIGNATURE_INVALID", "ckp-cosigned", "witness.example/w2's line replaced by its key's plain signature of the body, without a timestamp")
invalid(S, "ckp-cosignature-time-overflow", "checkpoint.cosignatures",
        "A cosignature by a trusted witness whose timestamp is 2^63, beyond 2^63 - 1, signed so.", ["CKP-018"],
        cos_in([log_line, w1_line, cosig_line(W2, W2N, cb, 1 << 63)]), "CKP_COSIGNATURE_INVALID", "ckp-cosigned",
        "witness.example/w2's cosignature made at 2^63")
invalid(S, "ckp-cosignature-only", "checkpoint.cosignatures",
        "A note cosigned by both trusted witnesses but without the log's signature: cosignatures never make a note the log's.", ["CKP-017", "CKP-004"],
        cos_in([w1_line, w2_line]), "CKP_NO_TRUSTED_SIGNATURE", "ckp-cosigned", "the log's signature line removed")
mldsa_pk = bytes(range(256)) * 5 + bytes(range(32))
mldsa_line = "\u2014 witness.example/pq " + base64.b64encode(cosigner_key_id("witness.example/pq", mldsa_pk, b"\x06") + TW1.to_bytes(8, "big") + bytes(2420)).decode() + "\n"
valid(S, "ckp-cosigned-unknown-type", "checkpoint.cosignatures",
      "A third cosignature line of an ML-DSA-44 cosigner (signature type 0x06), a type this verifier does not read: ignored.",
      ["CKP-019", "CKP-004"], cos_in([log_line, w1_line, mldsa_line, w2_line]), cos_out((W1N, TW1), (W2N, TW2)))
valid(S, "ckp-cosigned-untrusted-witness", "checkpoint.cosignatures",
      "Only the first witness is trusted: the second one's cosignature is an unknown key's, ignored.", ["CKP-019"],
      cos_in([log_line, w1_line, w2_line], witnesses=WKEYS[:1]), cos_out((W1N, TW1)))
invalid(S, "ckp-cosigner-key-type", "checkpoint.cosignatures",
        "The first witness given by its note verifier key of type 0x01 where a cosigner key (type 0x04) is required.", ["CKP-015"],
        cos_in([log_line, w1_line, w2_line], witnesses=[W1.vkey(W1N), WKEYS[1]]), "KEY_INVALID", "ckp-cosigned",
        "witness.example/w1's key text of type 0x04 replaced by its type-0x01 text")
SAME = [cosigner_vkey(LOG, ORIGIN)]
tl = cosig_line(LOG, ORIGIN, cb, TW1)
valid(S, "ckp-cosigned-same-key", "checkpoint.cosignatures",
      "The log's key is also trusted as a cosigner under the log's name; the note carries its log signature and its cosignature: one cosignature.",
      ["CKP-017", "CKP-020"], cos_in([log_line, tl], witnesses=SAME), cos_out((ORIGIN, TW1)))
invalid(S, "ckp-cosignature-role-confusion", "checkpoint.cosignatures",
        "The same key, trusted as the log's key and as a cosigner under one name, signed the note only as a cosignature: no log signature.",
        ["CKP-017"], cos_in([tl], witnesses=SAME), "CKP_NO_TRUSTED_SIGNATURE", "ckp-cosigned-same-key", "the log signature line removed")
EXTB = EXT
valid(S, "ckp-cosigned-extension", "checkpoint.cosignatures",
      "A checkpoint with an extension line, cosigned: the cosigned message holds the extension line with the body.", ["CKP-016"],
      {"note": EXTB + "\n" + LOG.note_sig(ORIGIN, EXTB) + cosig_line(W1, W1N, EXTB, TW1), "trusted": TRUST, "origin": ORIGIN, "witnesses": WKEYS},
      cos_out((W1N, TW1)))

# ---------------------------------------------------------------- timestamp tokens (RFC 3161)
# A fixed token made once by `openssl ts -reply` (scripts/timestamp_data.sh) over
# SHA-256(salt || note), with fixed keys, under Tests/fixtures/timestamp/: both implementations
# verify the same bytes. The expected genTime is read here from the token's TSTInfo.
S = "checkpoint-timestamp"
TSD = ROOT / "Tests" / "fixtures" / "timestamp"
def tsd(name): return (TSD / name).read_bytes()
TS_NOTE, TS_SALT, TS_REPLY, TS_CERT = tsd("note.txt").decode(), tsd("salt.bin"), tsd("reply.tsr"), tsd("tsa.der")
assert sha(TS_SALT + TS_NOTE.encode()) in TS_REPLY
def ts_gen_time(reply):
    from asn1crypto import tsp
    return int(tsp.TimeStampResp.load(reply)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed["gen_time"].native.timestamp())
TS_TIME = ts_gen_time(TS_REPLY)
def ts_in(note=TS_NOTE, salt=TS_SALT, token=TS_REPLY, cert=TS_CERT):
    return {"note": note, "salt": salt.hex(), "token": token.hex(), "certificate": cert.hex()}
def ts_neg(name, description, covers, inp, code, mutation):
    invalid(S, name, "checkpoint.timestamp", description, covers + ["CKP-031"], inp, code, "ckp-timestamp", mutation)
valid(S, "ckp-timestamp", "checkpoint.timestamp",
      "An RFC 3161 token by openssl over SHA-256(salt || note), verified under the trusted ECDSA P-256 authority certificate: its genTime.",
      ["CKP-030", "CKP-031", "CKP-039"], ts_in(), {"gen_time": TS_TIME})
ts_neg("ckp-timestamp-wrong-salt", "The token verified with another 32-byte salt than the one it was requested with.", ["CKP-033"],
       ts_in(salt=bytes(32)), "TSA_IMPRINT_MISMATCH", "the salt replaced by 32 zero bytes")
other_note = TS_NOTE.replace("\n7\n", "\n8\n", 1)
ts_neg("ckp-timestamp-other-note", "The token verified over another checkpoint note (size 8 instead of 7) with the right salt.", ["CKP-033"],
       ts_in(note=other_note), "TSA_IMPRINT_MISMATCH", "the note's size line changed from 7 to 8")
ts_neg("ckp-timestamp-other-certificate", "The token verified under another authority's certificate, issued by the same root.", ["CKP-034"],
       ts_in(cert=tsd("other.der")), "TSA_SIGNER_UNTRUSTED", "the trusted certificate replaced by another authority's")
ts_neg("ckp-timestamp-no-eku", "The trusted certificate has the signer's key, issuer and serial number but no extended key usage.", ["CKP-035"],
       ts_in(cert=tsd("tsa-no-eku.der")), "TSA_CERT_USAGE", "the trusted certificate reissued without the timeStamping extended key usage")
ts_neg("ckp-timestamp-not-yet-valid", "The trusted certificate has the signer's key, issuer and serial number but is valid only from 2030.", ["CKP-036"],
       ts_in(cert=tsd("tsa-later.der")), "TSA_CERT_VALIDITY", "the trusted certificate reissued valid from 2030 to 2040")
ts_neg("ckp-timestamp-rsa", "A token by an authority with an RSA key, under its own certificate: not a verified algorithm.", ["CKP-037"],
       ts_in(token=tsd("reply-rsa.tsr"), cert=tsd("tsa-rsa.der")), "TSA_ALG_UNSUPPORTED", "the authority's key and token are RSA 2048")
flipped = bytearray(TS_REPLY); flipped[-1] ^= 0x01
ts_neg("ckp-timestamp-signature-flipped", "The last byte of the token's ECDSA signature flipped.", ["CKP-038"],
       ts_in(token=bytes(flipped)), "TSA_SIGNATURE_INVALID", "the signature's last byte XOR 0x01")
gen = TS_REPLY.index(b"\x18\x0f") + 2
altered = bytearray(TS_REPLY); altered[gen + 13] = altered[gen + 13] ^ 0x01
assert ts_gen_time(bytes(altered)) != TS_TIME
ts_neg("ckp-timestamp-tstinfo-altered", "The TSTInfo's genTime changed by one second after signing: the message-digest attribute no longer matches.", ["CKP-038"],
       ts_in(token=bytes(altered)), "TSA_SIGNATURE_INVALID", "the last digit of genTime's seconds XOR 0x01")
ts_neg("ckp-timestamp-not-granted", "The authority's response with status rejection (2) and no token.", ["CKP-032"],
       ts_in(token=tsd("reply-rejected.tsr")), "TSA_NOT_GRANTED", "the response replaced by a rejection")
ts_neg("ckp-timestamp-truncated", "The response cut by its last byte.", ["CKP-039"],
       ts_in(token=TS_REPLY[:-1]), "TSA_MALFORMED", "the response's last byte removed")
ts_neg("ckp-timestamp-short-salt", "A salt of 31 bytes, the right one without its last byte.", ["CKP-039"],
       ts_in(salt=TS_SALT[:-1]), "TSA_MALFORMED", "the salt's last byte removed")
ts_neg("ckp-timestamp-certificate-invalid", "The trusted certificate cut by its last byte: a trust input that does not read.", [],
       ts_in(cert=TS_CERT[:-1]), "KEY_INVALID", "the certificate's last byte removed")

# ---------------------------------------------------------------- trust policy (bundle.md §Trust policy)
# Computed here from bundle.md: the policy grammar of C2SP tlog-policy, the quorum over the
# newest checkpoint's cosignatures, freshness, pinned checkpoints, the receipt time bound.
S = "bundle-trust"
W3 = Key(0xD3); W3N = "witness.example/w3"
def policy_text(log=True, witnesses=((W1, W1N, "w1"), (W2, W2N, "w2"), (W3, W3N, "w3")), group="group witnesses 2 w1 w2 w3", quorum="quorum witnesses", extra=""):
    lines = ["# the auditor's policy"]
    if log: lines.append("log " + LOG.vkey(ORIGIN) + " https://portal.example/log")
    lines += [f"witness {n} {cosigner_vkey(k, kn)}" for k, kn, n in witnesses]
    if group: lines.append(group)
    if quorum: lines.append(quorum)
    return "\n".join(lines) + "\n" + extra
POLICY = policy_text()
def pctx(policy=POLICY, **more): return dict({"authorities": AUTHS, "policy": policy, "now": T0 + 100000}, **more)
def note_body(n): return n[:n.index("\n\n") + 1]
def cosign(cps, i, *signers):
    """Adds cosignature lines (key, name, time) to checkpoint i of a bundle's checkpoint list."""
    b = note_body(cps[i]["note"])
    cps[i]["note"] += "".join(cosig_line(k, n, b, t) for k, n, t in signers)
STD = {0: [(W1, W1N, T0 + 100), (W2, W2N, T0 + 110)], 1: [(W1, W1N, T0 + 200), (W2, W2N, T0 + 260)]}
def tbuild(cos=STD, cut=False, mutate=None):
    def m(b):
        cps = b["logs"][0]["checkpoints"]
        for i, signers in cos.items():
            if i < len(cps): cosign(cps, i, *signers)
        if mutate: mutate(b)
    return build(n=3 if cut else 6, checkpoints=((3,),) if cut else ((3,), (6,)), mutate=m)
def out(witnesses=("w1", "w2"), end=False, receipts=6, bound=None):
    log = {"origin": ORIGIN, "witnesses": list(witnesses), "end_proven": end}
    if end: log["end_bound"] = bound
    return {"receipts": receipts, "open_calls": 0, "revocations": 0, "shadow_calls": 0, "logs": [log]}
def tneg(name, code, covers, b, mutation, context, base="bnd-policy"):
    invalid(S, f"bnd-{name}", "bundle.verify", f"FAIL: {mutation}.", covers, b, code, base, mutation, context=context)

valid(S, "bnd-policy", "bundle.verify",
      "A trust policy of three witnesses and a quorum of two; each checkpoint cosigned by w1 and w2 after its receipts: PASS, the end not proven.",
      ["BND-027", "BND-028", "BND-029", "BND-034"], tbuild(), out(), context=pctx())
tneg("policy-quorum", "BND_QUORUM_NOT_MET", ["BND-029"], tbuild(cos={0: STD[0], 1: STD[1][:1]}),
     "the newest checkpoint cosigned by w1 alone, one of the two the quorum needs", pctx())
valid(S, "bnd-policy-earlier-quorum-only", "bundle.verify",
      "The checkpoint of size 3 cosigned by w1 alone: only the newest checkpoint must meet the quorum: PASS.", ["BND-029"],
      tbuild(cos={0: STD[0][:1], 1: STD[1]}), out(), context=pctx())
tneg("policy-cosignature-invalid", "CKP_COSIGNATURE_INVALID", ["BND-028"],
     tbuild(mutate=lambda b: b["logs"][0]["checkpoints"][0].update(note=b["logs"][0]["checkpoints"][0]["note"].replace(
         cosig_line(W1, W1N, note_body(b["logs"][0]["checkpoints"][0]["note"]), T0 + 100),
         cosig_line(W1, W1N, note_body(b["logs"][0]["checkpoints"][0]["note"]), T0 + 101, signed_t=T0 + 100)))),
     "w1's cosignature on the checkpoint of size 3 with its timestamp changed after signing", pctx())
tneg("policy-log-untrusted", "BND_LOG_UNTRUSTED", ["BND-028"], tbuild(),
     "the policy without its log line: the log's key comes only from the policy", pctx(policy_text(log=False)))
valid(S, "bnd-policy-quorum-none", "bundle.verify", "A policy whose quorum is none, and checkpoints without cosignatures: PASS.", ["BND-029", "BND-034"],
      tbuild(cos={}), out(witnesses=()), context=pctx(policy_text(group=None, quorum="quorum none")))
# Freshness, and a bundle cut back at its checkpoint of size 3.
valid(S, "bnd-policy-fresh", "bundle.verify", "Freshness bound T0+200: w1 and w2 cosigned the newest checkpoint at T0+200 and T0+260: PASS, the end proven.",
      ["BND-030", "BND-034", "BND-058"], tbuild(), out(end=True, bound={"fresh_after": T0 + 200}), context=pctx(fresh_after=T0 + 200))
tneg("policy-stale", "BND_NOT_FRESH", ["BND-030"], tbuild(), "freshness bound T0+201: w1's cosignature at T0+200 is older, w2's alone is no quorum",
     pctx(fresh_after=T0 + 201), base="bnd-policy-fresh")
valid(S, "bnd-cut-no-bound", "bundle.verify",
      "The bundle cut back at its checkpoint of size 3 (receipts 3 to 5 and the checkpoint of size 6 dropped), under the policy without a bound: PASS, the end not proven.",
      ["BND-034"], tbuild(cut=True), out(receipts=3), context=pctx())
tneg("cut-fresh", "BND_NOT_FRESH", ["BND-030"], tbuild(cut=True),
     "the bundle cut back at its checkpoint of size 3, whose cosignatures are older than the freshness bound T0+200",
     pctx(fresh_after=T0 + 200), base="bnd-policy-fresh")
# Cosignatures dated after the verification time are not counted.
NOW = T0 + 100000
valid(S, "bnd-cut-cosigned-now", "bundle.verify",
      "The bundle cut back at its checkpoint of size 3, which w1 and w2 cosigned at the verification time: PASS under the freshness bound T0+200, the end proven.",
      ["BND-030", "BND-057", "BND-058"], tbuild(cut=True, cos={0: [(W1, W1N, NOW), (W2, W2N, NOW)]}),
      out(receipts=3, end=True, bound={"fresh_after": T0 + 200}), context=pctx(fresh_after=T0 + 200))
tneg("cut-cosigned-future", "BND_QUORUM_NOT_MET", ["BND-057"], tbuild(cut=True, cos={0: [(W1, W1N, NOW + 1), (W2, W2N, NOW + 1)]}),
     "the bundle cut back at its checkpoint of size 3, which w1 and w2 cosigned one second after the verification time: those cosignatures are not counted",
     pctx(fresh_after=T0 + 200), base="bnd-cut-cosigned-now")
valid(S, "bnd-policy-witness-order", "bundle.verify",
      "The newest checkpoint's w2 cosignature line before w1's: the witnesses reported in the policy's order, w1 then w2: PASS.",
      ["BND-034", "BND-059"], tbuild(cos={0: STD[0], 1: STD[1][::-1]}), out(), context=pctx())
# Pinned checkpoints.
full = tbuild()
c6 = full["logs"][0]["checkpoints"][1]["note"]
canons6 = [link(r) for r in full["logs"][0]["receipts"]]
valid(S, "bnd-pinned", "bundle.verify", "The auditor's pinned checkpoint is the bundle's newest: PASS, the end proven.", ["BND-031", "BND-034", "BND-058"],
      tbuild(), out(end=True, bound={"pinned_size": 6}), context=pctx(pinned={ORIGIN: note(6, mth(canons6))}))
tneg("pinned-cut", "BND_PINNED_TRUNCATED", ["BND-031"], tbuild(cut=True), "the bundle cut back at size 3, below the pinned checkpoint of size 6",
     pctx(pinned={ORIGIN: note(6, mth(canons6))}), base="bnd-pinned")
tneg("pinned-forked", "BND_PINNED_FORKED", ["BND-032"], tbuild(), "the pinned checkpoint of size 6 carries another root (the log signed a fork)",
     pctx(pinned={ORIGIN: note(6, mth(canons6[:5] + [b"fork"]))}), base="bnd-pinned")
valid(S, "bnd-pinned-between", "bundle.verify", "A pinned checkpoint of size 4, between the bundle's checkpoints: the receipts give the root at size 4: PASS.",
      ["BND-032", "BND-058"], tbuild(), out(end=True, bound={"pinned_size": 4}), context=pctx(pinned={ORIGIN: note(4, mth(canons6[:4]))}))
tneg("pinned-between-forked", "BND_PINNED_FORKED", ["BND-032"], tbuild(), "the pinned checkpoint of size 4 carries the root of another fourth receipt",
     pctx(pinned={ORIGIN: note(4, mth(canons6[:3] + [b"fork"]))}), base="bnd-pinned-between")
tneg("pinned-unsigned", "CKP_NO_TRUSTED_SIGNATURE", ["BND-031"], tbuild(), "the pinned checkpoint signed by another key under the log's name",
     pctx(pinned={ORIGIN: note(6, mth(canons6), ((OTHER, ORIGIN),))}), base="bnd-pinned")
tneg("pinned-other-log", "BND_PINNED_TRUNCATED", ["BND-031"], tbuild(), "the pinned checkpoint is of a log the bundle does not hold",
     pctx(pinned={ORIGIN: note(6, mth(canons6)), "portal.example/log/other": note(6, mth(canons6), ((LOG, "portal.example/log/other"),), origin="portal.example/log/other")}),
     base="bnd-pinned")
valid(S, "bnd-pinned-no-policy", "bundle.verify", "A pinned checkpoint with the log key given alone, no policy: PASS, the end proven.", ["BND-031", "BND-034"],
      build(), {"receipts": 6, "open_calls": 0, "revocations": 0, "shadow_calls": 0, "logs": [{"origin": ORIGIN, "witnesses": [], "end_proven": True, "end_bound": {"pinned_size": 6}}]},
      context=dict(CTX, pinned={ORIGIN: note(6, mth([link(r) for r in build()["logs"][0]["receipts"]]))}))
# Receipt times bounded by cosignatures.
valid(S, "bnd-cosigned-at-receipt", "bundle.verify", "w1 cosigned the checkpoint of size 3 at T0+70, the time of its last receipt: PASS.", ["BND-033"],
      tbuild(cos={0: [(W1, W1N, T0 + 70), (W2, W2N, T0 + 110)], 1: STD[1]}), out(), context=pctx())
tneg("receipt-after-cosignature", "BND_RECEIPT_AFTER_COSIGNATURE", ["BND-033"],
     tbuild(cos={0: [(W1, W1N, T0 + 69), (W2, W2N, T0 + 110)], 1: STD[1]}),
     "w1 cosigned the checkpoint of size 3 at T0+69, before receipt 2's time T0+70", pctx(), base="bnd-cosigned-at-receipt")
tneg("receipt-after-later-cosignature", "BND_RECEIPT_AFTER_COSIGNATURE", ["BND-033"],
     tbuild(cos={0: STD[0], 1: [(W1, W1N, T0 + 60), (W2, W2N, T0 + 260)]}),
     "w1 cosigned the checkpoint of size 6 at T0+60: receipt 2 (T0+70), in that tree too, is later", pctx())
# The policy file.
def pol(name, mutation, text, code="BND_POLICY_MALFORMED", covers=("BND-027",)):
    tneg(f"policy-{name}", code, list(covers), tbuild(), f"the policy {mutation}", pctx(text))
pol("unknown-line", "with a line 'witnesses 2 w1 w2' of no known kind", POLICY.replace("group witnesses", "witnesses"))
pol("threshold-zero", "with the group's threshold 0", POLICY.replace("witnesses 2 w1", "witnesses 0 w1"))
pol("threshold-above", "with the group's threshold 4 of three members", POLICY.replace("witnesses 2 w1", "witnesses 4 w1"))
pol("threshold-leading-zero", "with the group's threshold written 02", POLICY.replace("witnesses 2 w1", "witnesses 02 w1"))
pol("member-undefined", "with a group member w4 that no line defines", POLICY.replace("w2 w3\n", "w2 w4\n"))
pol("member-twice", "with the group member w3 written w2, naming w2 twice", POLICY.replace("w2 w3\n", "w2 w2\n"))
pol("member-later", "with the group line before the line of its member w3",
    "\n".join(["log " + LOG.vkey(ORIGIN), "witness w1 " + cosigner_vkey(W1, W1N), "witness w2 " + cosigner_vkey(W2, W2N),
               "group witnesses 2 w1 w2 w3", "witness w3 " + cosigner_vkey(W3, W3N), "quorum witnesses"]) + "\n")
pol("no-quorum", "without its quorum line", policy_text(quorum=None))
pol("two-quorums", "with a second quorum line", POLICY + "quorum w1\n")
pol("quorum-undefined", "whose quorum names no witness or group", policy_text(quorum="quorum everyone"))
pol("witness-none", "with a witness named none", POLICY.replace("witness w3 ", "witness none "))
pol("witness-name-twice", "with the witness w3 named w2", POLICY.replace("witness w3 ", "witness w2 "))
pol("witness-key-twice", "with the witness w3 holding w2's key (under w3's key name)",
    POLICY.replace(cosigner_vkey(W3, W3N), cosigner_vkey(W2, W3N)))
pol("carriage-return", "with its lines ended by CR LF", POLICY.replace("\n", "\r\n"))
pol("witness-log-key", "with w3 given a log key (type 0x01) where a cosigner key is required", POLICY.replace(cosigner_vkey(W3, W3N), W3.vkey(W3N)), code="KEY_INVALID")
valid(S, "bnd-policy-spacing", "bundle.verify", "The policy with tabs and runs of spaces between items, indented comments and blank lines, and group thresholds any and all: PASS.",
      ["BND-027"], tbuild(), out(),
      context=pctx(policy_text(group="\tgroup  a any w1\t\n  # two groups\n\ngroup b all w2\ngroup witnesses 2 a b w3  ")))

# ---------------------------------------------------------------- timestamp authorities (bundle.md)
# RFC 3161 tokens on the bundle's checkpoint of size 3, made once by `openssl ts -reply` run
# under faketime at a fixed time with the fixed authority key of Tests/fixtures/timestamp/ and its
# certificate valid from 2025 (tsa-2025.pem), and committed: the tokens are not remade when
# they exist. Each token's imprint is checked here against SHA-256(salt || note).
S = "bundle-timestamp"
def bundle_token(name, note_text, salt, at):
    path = TSD / name
    if not path.exists():
        import subprocess, tempfile, shutil
        with tempfile.TemporaryDirectory() as d:
            for f in ("tsa.cnf", "tsa-key.pem"): shutil.copy(TSD / f, d)
            shutil.copy(TSD / "tsa-2025.pem", pathlib.Path(d) / "tsa.pem")
            (pathlib.Path(d) / "tsaserial").write_text("01\n")
            subprocess.run(["openssl", "ts", "-query", "-digest", sha(salt + note_text.encode()).hex(), "-sha256", "-cert",
                            "-out", "q.tsq"], cwd=d, check=True, capture_output=True)
            stamp = __import__("datetime").datetime.fromtimestamp(at, __import__("datetime").timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            subprocess.run(["faketime", "-f", stamp, "openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq",
                            "-out", str(path)], cwd=d, check=True, capture_output=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    token = path.read_bytes()
    assert sha(salt + note_text.encode()) in token and ts_gen_time(token) == at, name
    return token
BTS_SALT = bytes(range(0x80, 0xA0))
BTS_BUNDLE = build()
BTS_NOTE = BTS_BUNDLE["logs"][0]["checkpoints"][0]["note"]
BTS_LATE = bundle_token("bundle-size3-t100.tsr", BTS_NOTE, BTS_SALT, T0 + 100)
BTS_EARLY = bundle_token("bundle-size3-t60.tsr", BTS_NOTE, BTS_SALT, T0 + 60)
TS_CERT_2025 = tsd("tsa-2025.der")
def stamped(token, salt=BTS_SALT, value=None):
    b = copy.deepcopy(BTS_BUNDLE)
    b["logs"][0]["checkpoints"][0]["timestamps"] = value if value is not None else [{"token": b64u(token), "salt": b64u(salt)}]
    return b
TCTX = dict(CTX, tsa=[TS_CERT_2025.hex()])
valid(S, "bnd-timestamp", "bundle.verify",
      "The checkpoint of size 3 carries a timestamp token of genTime T0+100, after its receipts (up to T0+70), by the trusted authority: PASS.",
      ["BND-050", "BND-051", "BND-053"], stamped(BTS_LATE), {"receipts": 6}, context=TCTX)
valid(S, "bnd-timestamp-untrusted-ignored", "bundle.verify",
      "The checkpoint of size 3 carries a token of genTime T0+60, before receipt 2's time, but no authority certificate is given: ignored, PASS.",
      ["BND-052"], stamped(BTS_EARLY), {"receipts": 6}, context=CTX)
invalid(S, "bnd-receipt-after-timestamp", "bundle.verify",
        "FAIL: the trusted authority timestamped the checkpoint of size 3 at T0+60, before receipt 2's time T0+70.", ["BND-053"],
        stamped(BTS_EARLY), "BND_RECEIPT_AFTER_COSIGNATURE", "bnd-timestamp", "the token replaced by one of genTime T0+60", context=TCTX)
invalid(S, "bnd-timestamp-wrong-salt", "bundle.verify",
        "FAIL: the timestamp's salt is not the one the token was requested with: the token does not verify under the trusted authority.",
        ["BND-054"], stamped(BTS_LATE, salt=bytes(32)), "TSA_IMPRINT_MISMATCH", "bnd-timestamp", "the salt replaced by 32 zero bytes", context=TCTX)
invalid(S, "bnd-timestamp-other-authority", "bundle.verify",
        "FAIL: the only trusted authority certificate is another authority's: the token's signer is not trusted.",
        ["BND-054"], stamped(BTS_LATE), "TSA_SIGNER_UNTRUSTED", "bnd-timestamp", "the trusted certificate replaced by another authority's",
        context=dict(CTX, tsa=[tsd("other.der").hex()]))
valid(S, "bnd-timestamp-second-authority", "bundle.verify",
      "Two trusted authority certificates, the token's signer second: PASS.", ["BND-054"], stamped(BTS_LATE), {"receipts": 6},
      context=dict(CTX, tsa=[tsd("other.der").hex(), TS_CERT_2025.hex()]))
invalid(S, "bnd-timestamp-malformed", "bundle.verify",
        "FAIL: the checkpoint line's timestamps member is an object, not an array.", ["BND-051"],
        stamped(BTS_LATE, value={"token": b64u(BTS_LATE), "salt": b64u(BTS_SALT)}), "BND_MALFORMED", "bnd-timestamp",
        "the timestamps array replaced by its one element", context=TCTX)

# ---------------------------------------------------------------- write
vectorlib.write(sections, strict=False)
