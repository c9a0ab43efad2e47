#!/usr/bin/env python3
"""Authoring aid for the identity documents' vectors (token.md, proof.md).

Tokens, proofs and operator attestations are built here byte by byte with libraries
that share no code with the Swift implementation: PyNaCl (libsodium) for Ed25519, pyca
cryptography for ML-DSA-65, ES256 and HMAC, rfc8785 for JCS, hashlib for SHA-256. Every
valid token is also checked with joserfc, so the expected verdicts are not just ours.
Keys come from fixed seeds; the provider key is the RFC 8037 Appendix A key, so anyone
can reproduce the vectors.

ML-DSA-65 signatures are randomized: a vector already in the Markdown (or in its data
files) whose signing input is unchanged keeps its signature, so re-running the script
changes nothing.

The script rewrites the region between `<!-- begin vectors: NAME -->` and
`<!-- end vectors: NAME -->` in spec/token.md and spec/proof.md, and writes large
inputs (the ML-DSA-65 tokens and proofs) to data files under spec/data/ through
vectorlib (scripts/externalize_vectors.py); no separate externalizing step is needed.

Usage: python3 scripts/author_identity_vectors.py   (from the repository root)
"""
import base64, copy, hashlib, hmac, json, pathlib, re, sys

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, mldsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws as jose_jws
from joserfc.jwk import OKPKey

import vectorlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ["token.md", "proof.md"]
sections = {}
Ed = vectorlib.Ed


def valid(section, id, op, description, covers, context, input, output, **extra):
    vectorlib.valid(sections, section, id, op, description, covers, input, output, context=context, **extra)


def invalid(section, id, op, description, covers, context, input, error, base, mutation, **extra):
    vectorlib.invalid(sections, section, id, op, description, covers, input, error, base, mutation, context=context, **extra)

# Signed objects already in the documents, by signing input (for ML-DSA reuse).
previous = {}
for doc in DOCS:
    path = ROOT / "spec" / doc
    # The document and its data files (large tokens and proofs live in spec/data/<document>/).
    texts = [path.read_text()] if path.exists() else []
    texts += [f.read_text() for f in sorted((ROOT / "spec" / "data" / path.stem).rglob("*.txt"))]
    for text in texts:
        for m in re.finditer(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{3000,}", text):
            si, _, sig = m.group(0).rpartition(".")
            previous.setdefault(si, []).append(sig)


b64u = vectorlib.b64u


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(v) -> bytes:
    return rfc8785.dumps(v)


def sha(b: bytes) -> str:
    return b64u(hashlib.sha256(b).digest())


# ---------------------------------------------------------------- keys


class MLDSA:
    def __init__(self, seed: bytes):
        self.key = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)
        self.pk = self.key.public_key().public_bytes_raw()
        self.alg = "ML-DSA-65"
        self.jwk = {"kty": "AKP", "alg": "ML-DSA-65", "pub": b64u(self.pk)}
        self.kid = sha(jcs({"alg": "ML-DSA-65", "kty": "AKP", "pub": b64u(self.pk)}))

    def sign(self, msg: bytes) -> bytes:
        si = msg.decode()
        for old in previous.get(si, []):
            try:
                self.key.public_key().verify(unb64u(old), msg)
                return unb64u(old)
            except Exception:
                pass
        return self.key.sign(msg)


def seed(label: str) -> bytes:
    return hashlib.sha256(b"MCP agent attestation vectors: " + label.encode()).digest()


KELVIN = "\u212a"


def kelvin(name: str) -> str:
    """name with its last K spelled as U+212A KELVIN SIGN: canonically equivalent, other code points."""
    i = name.rindex("K")
    return name[:i] + KELVIN + name[i + 1:]


# RFC 8037 Appendix A.1: d = nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A
PROVIDER = Ed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
assert PROVIDER.jwk["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
assert PROVIDER.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 A.3
AGENT = Ed(seed("agent"))
AGENT2 = Ed(seed("second agent"))
ATTACKER = Ed(seed("attacker"))
OTHER_PROVIDER = Ed(seed("other provider"))
OPERATOR = Ed(seed("operator"))
PROVIDER_PQ = MLDSA(seed("provider ML-DSA-65"))
AGENT_PQ = MLDSA(seed("agent ML-DSA-65"))

NOW = 1780000000
ISS = "https://provider.example"
TD = "agents.provider.example"
ISS2 = "https://other-provider.example"
TD2 = "agents.other-provider.example"
AUD = "https://tools.acme.example/mcp"
OP = "https://acme.example"
DEPLOYMENT = "acme-support-prod"
TOKEN_TYP = "agent-attestation+jwt"
PROOF_TYP = "agent-proof+jwt"
OP_TYP = "operator-attestation+jwt"

CONTEXT = {
    "now": NOW, "audience": AUD,
    "issuers": [
        {"iss": ISS, "trust_domains": [TD], "jwks": {"keys": [PROVIDER.jwk]}},
        {"iss": ISS2, "trust_domains": [TD2], "jwks": {"keys": [OTHER_PROVIDER.jwk]}},
    ],
}
PQ_CONTEXT = copy.deepcopy(CONTEXT)
PQ_CONTEXT["issuers"][0]["jwks"]["keys"].append(PROVIDER_PQ.jwk)


def ctx(**changes):
    c = copy.deepcopy(CONTEXT)
    c.update(changes)
    return c


AGENT_CLAIM = {"provider": "Example Provider", "model_family": "example-model", "model_version": "2026-05-01",
               "deployment": DEPLOYMENT, "operator": OP, "safety_level": "standard"}
CLAIMS = {"iss": ISS, "sub": f"spiffe://{TD}/acme/support-bot", "aud": AUD, "iat": NOW - 300, "nbf": NOW - 300,
          "exp": NOW - 300 + 3600, "jti": "tok-7f3a9c2e41b6d805", "cnf": {"jkt": AGENT.kid}, "agent": AGENT_CLAIM}


def claims(**changes):
    c = copy.deepcopy(CLAIMS)
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def header(key, typ=TOKEN_TYP, **changes):
    hd = {"alg": key.alg, "kid": key.kid, "typ": typ}
    if typ is None:
        del hd["typ"]
    for k, v in changes.items():
        if v is None:
            hd.pop(k, None)
        else:
            hd[k] = v
    return hd


def compact(hdr, payload, key=None, sign=None):
    """hdr and payload are dicts (serialized as JCS) or raw bytes."""
    h = hdr if isinstance(hdr, bytes) else jcs(hdr)
    p = payload if isinstance(payload, bytes) else jcs(payload)
    si = (b64u(h) + "." + b64u(p)).encode()
    sig = sign(si) if sign else key.sign(si)
    return si.decode() + "." + b64u(sig)


def token(key=PROVIDER, hdr=None, **claim_changes):
    return compact(hdr if hdr is not None else header(key), claims(**claim_changes), key)


def joserfc_verifies(tok: str, key) -> bool:
    okp = OKPKey.import_key(key.jwk)
    try:
        jose_jws.deserialize_compact(tok, okp, algorithms=["Ed25519"])
        return True
    except Exception:
        return False


def token_output(tok, c=None, alg="Ed25519", kid=PROVIDER.kid):
    c = c or CLAIMS
    return {"iss": c["iss"], "sub": c["sub"], "aud": c["aud"], "jti": c["jti"], "kid": kid, "alg": alg,
            "jkt": c["cnf"]["jkt"], "agent": c["agent"], "token_hash": sha(tok.encode())}


# ---------------------------------------------------------------- token.md: issue
S = "token-issue"
TOKEN = token()
assert joserfc_verifies(TOKEN, PROVIDER)
valid(S, "tok-issue-rfc8037", "token.issue",
      "Issuing with the RFC 8037 A.1 key gives this exact token: JCS header {alg, kid, typ} and payload, Ed25519, kid the RFC 7638 thumbprint.",
      ["TOK-001", "TOK-002", "TOK-003"], {}, {"alg": "Ed25519", "seed": PROVIDER.seed.hex(), "claims": CLAIMS},
      {"token": TOKEN, "kid": PROVIDER.kid}, source="RFC 8037 Appendix A.1, A.3 (key and thumbprint)")

# ---------------------------------------------------------------- token.md: verify
S = "token-verify"
V = "token.verify"
valid(S, "tok-valid", V, "A token from a trusted issuer, for this audience, within its validity, verifies.",
      ["TOK-009", "TOK-021", "TOK-022", "TOK-023", "TOK-027", "TOK-032", "TOK-041"], CONTEXT, {"token": TOKEN}, token_output(TOKEN))

def neg(id, description, covers, tok, error, mutation, base="tok-valid", context=None, op=V, extra_input=None):
    inp = {"token": tok}
    if extra_input:
        inp.update(extra_input)
    invalid(S, id, op, description, covers, context or CONTEXT, inp, error, base, mutation)

# Envelope.
at_limit = None
for n in range(5000, 7000):
    t = token(pad="x" * n)
    if len(t) <= 8192 and len(token(pad="x" * (n + 1))) > 8192:
        at_limit = n
        break
assert at_limit is not None
TOK_8192 = token(pad="x" * at_limit)
c8192 = claims(pad="x" * at_limit)
SIZE_OK, SIZE_BAD = len(TOK_8192), len(token(pad="x" * (at_limit + 1)))
valid(S, "tok-size-at-limit", V, f"A token of {SIZE_OK} bytes, the longest this header and an unknown claim pad allow within 8192, verifies; the unknown claim is ignored.",
      ["TOK-005", "TOK-040"], CONTEXT, {"token": TOK_8192}, token_output(TOK_8192, c8192))
t = token(pad="x" * (at_limit + 1))
neg("tok-too-large", f"A {SIZE_BAD}-byte token is rejected before it is parsed.", ["TOK-005"], t, "JWS_TOO_LARGE",
    f"the pad claim one character longer: {SIZE_BAD} bytes", base="tok-size-at-limit")
valid(S, "tok-unknown-claim", V, "An unknown claim is ignored.", ["TOK-040"], CONTEXT,
      {"token": token(ext="value")}, token_output(token(ext="value")))
neg("tok-two-segments", "A token without its signature segment is not a compact JWS.", ["TOK-006"],
    TOKEN.rsplit(".", 1)[0], "JWS_MALFORMED", "the final '.' and signature segment removed")
neg("tok-header-array", "A header that is a JSON array is rejected.", ["TOK-006"],
    compact(b'["Ed25519"]', CLAIMS, PROVIDER), "JWS_MALFORMED", "header replaced by the array [\"Ed25519\"], re-signed")
sig_seg = TOKEN.rsplit(".", 1)[1]
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
last = sig_seg[-1]
bumped = alphabet[alphabet.index(last) + 1]
neg("tok-signature-trailing-bits", "The last signature character with non-zero unused bits is a second spelling of the signature.",
    ["TOK-007"], TOKEN[:-1] + bumped, "B64_NONZERO_TRAILING_BITS",
    f"last signature character {last} replaced by {bumped} (same bytes, non-zero unused bits)")
h_seg = TOKEN.split(".")[0]
neg("tok-header-padded", "A header segment with '=' padding is rejected.", ["TOK-007"],
    h_seg + "=" + TOKEN[len(h_seg):], "B64_PADDING", "'=' appended to the header segment")
dup_header = b'{"alg":"Ed25519","alg":"Ed25519","kid":"' + PROVIDER.kid.encode() + b'","typ":"agent-attestation+jwt"}'
neg("tok-header-duplicate-alg", "A header with alg twice is rejected by the strict parser.", ["TOK-008"],
    compact(dup_header, CLAIMS, PROVIDER), "JSON_DUPLICATE_MEMBER", "alg written twice in the header, re-signed")
p = jcs(CLAIMS)
dup_payload = p[:-1] + b',"aud":"https://other-server.example/mcp"}'
neg("tok-payload-duplicate-aud", "A payload with aud twice is rejected: no parser may pick one of two audiences.", ["TOK-008"],
    compact(header(PROVIDER), dup_payload, PROVIDER), "JSON_DUPLICATE_MEMBER", "a second aud member appended to the payload, re-signed")

# Algorithms.
neg("tok-alg-none", "alg none with an empty signature is rejected.", ["TOK-009"],
    compact(header(PROVIDER, alg="none"), CLAIMS, sign=lambda si: b""), "JWS_ALG_NOT_ALLOWED", "alg none, signature removed")
hs = compact(header(PROVIDER, alg="HS256"), CLAIMS, sign=lambda si: hmac.new(PROVIDER.pk, si, hashlib.sha256).digest())
neg("tok-alg-hs256", "alg HS256 keyed with the issuer's public key (key confusion) is rejected.", ["TOK-009"], hs,
    "JWS_ALG_NOT_ALLOWED", "alg HS256, MAC keyed with the issuer's public key bytes")
p256 = ec.derive_private_key(int.from_bytes(seed("attacker P-256"), "big") % (2**255), ec.SECP256R1())
def es256(si):
    r, s = decode_dss_signature(p256.sign(si, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))  # RFC 6979
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
neg("tok-alg-es256", "alg ES256 signed with the attacker's P-256 key is rejected.", ["TOK-009"],
    compact(header(PROVIDER, alg="ES256"), CLAIMS, sign=es256), "JWS_ALG_NOT_ALLOWED", "alg ES256, signed with a P-256 key")
neg("tok-alg-missing", "A header without alg is rejected.", ["TOK-009"],
    compact(header(PROVIDER, alg=None), CLAIMS, PROVIDER), "JWS_ALG_NOT_ALLOWED", "alg removed, re-signed")
EDDSA = compact(header(PROVIDER, alg="EdDSA"), CLAIMS, PROVIDER)
neg("tok-alg-eddsa", "alg EdDSA is rejected by default with its own code.", ["TOK-010"], EDDSA, "JWS_ALG_DEPRECATED",
    "alg Ed25519 replaced by EdDSA, re-signed")
valid(S, "tok-alg-eddsa-legacy", V, "With the legacy-issuer option, alg EdDSA verifies with an Ed25519 key.",
      ["TOK-011"], ctx(accept_eddsa=True), {"token": EDDSA}, dict(token_output(EDDSA), alg="EdDSA"))

# Typ, crit, header parameters, kid.
neg("tok-typ-missing", "A header without typ is rejected.", ["TOK-013"], compact(header(PROVIDER, typ=None), CLAIMS, PROVIDER),
    "JWS_TYP_MISSING", "typ removed, re-signed")
neg("tok-typ-jwt", "typ JWT is not the token type.", ["TOK-014"], compact(header(PROVIDER, typ="JWT"), CLAIMS, PROVIDER),
    "JWS_TYP_INVALID", "typ JWT, re-signed")
neg("tok-typ-proof", "typ agent-proof+jwt is not the token type.", ["TOK-014"], compact(header(PROVIDER, typ=PROOF_TYP), CLAIMS, PROVIDER),
    "JWS_TYP_INVALID", "typ agent-proof+jwt, re-signed")
APP_TYP = compact(header(PROVIDER, typ="application/Agent-Attestation+JWT"), CLAIMS, PROVIDER)
valid(S, "tok-typ-application-prefix", V, "typ compares case-insensitively and may carry the application/ prefix (RFC 7515 §4.1.9).",
      ["TOK-014"], CONTEXT, {"token": APP_TYP}, token_output(APP_TYP))
neg("tok-crit", "A header with crit is rejected.", ["TOK-015"], compact(header(PROVIDER, crit=["exp"]), CLAIMS, PROVIDER),
    "JWS_CRIT_UNSUPPORTED", "crit [\"exp\"] added, re-signed")
for name, value in [("jku", "https://provider.example/jwks.json"), ("x5u", "https://provider.example/cert.pem"),
                    ("jwk", ATTACKER.jwk), ("x5c", ["MIIB"])]:
    neg(f"tok-header-{name}", f"A header naming a key by {name} is rejected; keys come only from the trust configuration.",
        ["TOK-016"], compact(header(PROVIDER, **{name: value}), CLAIMS, PROVIDER), "JWS_HEADER_UNSUPPORTED",
        f"{name} added to the header, re-signed")
neg("tok-kid-missing", "A header without kid is rejected.", ["TOK-017"], compact(header(PROVIDER, kid=None), CLAIMS, PROVIDER),
    "JWS_KEY_MISSING", "kid removed, re-signed")

# Issuer and key.
neg("tok-iss-missing", "A token without iss is rejected.", ["TOK-020"], token(iss=None), "TOK_CLAIM_MISSING", "iss removed, re-signed")
neg("tok-iss-http", "An iss that is not an HTTPS URL is rejected.", ["TOK-020"], token(iss="http://provider.example"),
    "TOK_CLAIM_INVALID", "iss scheme http, re-signed")
SQUAT = compact(header(ATTACKER), claims(iss="https://provlder.example"), ATTACKER)
neg("tok-issuer-typosquat", "Issuer typosquat: a look-alike iss with its own key is not a trusted issuer.", ["TOK-021"],
    SQUAT, "TOK_ISSUER_UNTRUSTED", "iss https://provlder.example, kid and signature of the attacker's own key")
neg("tok-kid-unknown", "Model spoofing with an unknown kid: the attacker's own key is not in the issuer's key set.", ["TOK-022"],
    compact(header(ATTACKER), CLAIMS, ATTACKER), "TOK_KID_UNKNOWN", "kid and signature of the attacker's key")
neg("tok-kid-kelvin", "A kid spelling the issuer key's thumbprint with a Kelvin sign for its K names no key: kids compare by code points.",
    ["TOK-022"], compact(header(PROVIDER, kid=kelvin(PROVIDER.kid)), CLAIMS, PROVIDER), "TOK_KID_UNKNOWN",
    "the last K of kid replaced by U+212A KELVIN SIGN (canonically equivalent), signed by the issuer key")
neg("tok-kid-other-issuer", "A kid of another trusted issuer, validly signed by it, is not in the named issuer's key set.", ["TOK-022"],
    compact(header(OTHER_PROVIDER), CLAIMS, OTHER_PROVIDER), "TOK_KID_UNKNOWN", "kid and signature of the other trusted issuer's key")
ISS_K = "https://provider.example/tenants/K"
K_CONTEXT = ctx(issuers=[{"iss": ISS_K, "trust_domains": [TD], "jwks": {"keys": [PROVIDER.jwk]}}])
ISS_K_TOKEN = token(iss=ISS_K)
valid(S, "tok-iss-exact", V, "A trusted issuer whose URL holds a K: its token, naming it exactly, verifies.", ["TOK-021"],
      K_CONTEXT, {"token": ISS_K_TOKEN}, token_output(ISS_K_TOKEN, claims(iss=ISS_K)))
neg("tok-iss-kelvin", "An iss spelling the trusted issuer's URL with a Kelvin sign for its K is no trusted issuer: iss compares by code points.",
    ["TOK-021"], token(iss=kelvin(ISS_K)), "TOK_ISSUER_UNTRUSTED",
    "the K of iss replaced by U+212A KELVIN SIGN (canonically equivalent), signed by the issuer key", base="tok-iss-exact", context=K_CONTEXT)
FORGED = compact(header(PROVIDER), CLAIMS, ATTACKER)
neg("tok-spoof-forged-signature", "Model spoofing with the legitimate kid: a signature made with another key does not verify.",
    ["TOK-023"], FORGED, "TOK_SIGNATURE_INVALID", "signature made with the attacker's key")
def swap_payload(tok, **changes):
    h, _, s = tok.split(".")
    return h + "." + b64u(jcs(claims(**changes))) + "." + s
neg("tok-tampered-sub", "Payload tampering: sub changed after signing.", ["TOK-023"],
    swap_payload(TOKEN, sub=f"spiffe://{TD}/acme/admin-bot"), "TOK_SIGNATURE_INVALID", "sub changed after signing")
neg("tok-tampered-safety-level", "Safety-level tampering: agent.safety_level raised after signing.", ["TOK-023"],
    swap_payload(TOKEN, agent=dict(AGENT_CLAIM, safety_level="elevated")), "TOK_SIGNATURE_INVALID",
    "agent.safety_level changed from standard to elevated after signing")
neg("tok-tampered-model", "Model spoofing by editing agent.model_family after signing.", ["TOK-023"],
    swap_payload(TOKEN, agent=dict(AGENT_CLAIM, model_family="frontier-model")), "TOK_SIGNATURE_INVALID",
    "agent.model_family changed after signing")
neg("tok-signature-short", "A 63-byte signature is rejected.", ["TOK-023"], TOKEN.rsplit(".", 1)[0] + "." + b64u(unb64u(sig_seg)[:63]),
    "TOK_SIGNATURE_INVALID", "last signature byte removed")

# Claims: presence and types.
for claim, code in [("sub", "TOK_CLAIM_MISSING"), ("aud", "TOK_CLAIM_MISSING"), ("iat", "TOK_CLAIM_MISSING"),
                    ("exp", "TOK_CLAIM_MISSING"), ("jti", "TOK_CLAIM_MISSING"), ("agent", "TOK_CLAIM_MISSING"),
                    ("cnf", "TOK_CNF_MISSING")]:
    neg(f"tok-{claim}-missing", f"A token without {claim} is rejected.", ["TOK-033" if claim == "cnf" else "TOK-024"],
        token(**{claim: None}), code, f"{claim} removed, re-signed")
neg("tok-cnf-without-jkt", "A cnf without jkt binds no key.", ["TOK-033"], token(cnf={"jwk": AGENT.jwk}), "TOK_CNF_MISSING",
    "cnf {jkt} replaced by cnf {jwk}, re-signed")
neg("tok-cnf-jkt-short", "A cnf.jkt that is not the base64url of 32 bytes is rejected.", ["TOK-025"],
    token(cnf={"jkt": AGENT.kid[:-1]}), "TOK_CLAIM_INVALID", "last character of cnf.jkt removed, re-signed")
neg("tok-sub-not-spiffe", "A sub that is not a SPIFFE ID is rejected.", ["TOK-025"], token(sub="support-bot"), "TOK_CLAIM_INVALID",
    "sub replaced by support-bot, re-signed")
neg("tok-iat-string", "An iat that is a string is rejected.", ["TOK-025"], token(iat=str(NOW - 300)), "TOK_CLAIM_INVALID",
    "iat written as a string, re-signed")
neg("tok-agent-string", "An agent claim that is not an object is rejected.", ["TOK-025"], token(agent="example-model"),
    "TOK_CLAIM_INVALID", "agent replaced by a string, re-signed")
neg("tok-agent-model-family-missing", "An agent without model_family is rejected.", ["TOK-024"],
    token(agent={k: v for k, v in AGENT_CLAIM.items() if k != "model_family"}), "TOK_CLAIM_MISSING",
    "agent.model_family removed, re-signed")
neg("tok-aud-array", "aud as an array is rejected even though it holds this verifier.", ["TOK-026"], token(aud=[AUD]),
    "TOK_AUDIENCE_NOT_STRING", "aud written as the one-element array [aud], re-signed")

# Claim values.
neg("tok-aud-mismatch", "Audience mismatch: a valid token for another server is rejected.", ["TOK-027"],
    token(aud="https://other-server.example/mcp"), "TOK_AUDIENCE_MISMATCH", "aud of another server, re-signed")

def boundary(name, description_ok, description_bad, covers, ok_changes, bad_changes, code, mutation):
    ok = token(**ok_changes)
    valid(S, f"tok-{name}-at-limit", V, description_ok, covers, CONTEXT, {"token": ok}, token_output(ok, claims(**ok_changes)))
    neg(f"tok-{name}-past-limit", description_bad, covers, token(**bad_changes), code, mutation, base=f"tok-{name}-at-limit")

boundary("exp", "exp 60 s before now is within the leeway.", "exp 61 s before now is expired.", ["TOK-028", "TOK-041"],
         dict(exp=NOW - 60, iat=NOW - 3660, nbf=NOW - 3660), dict(exp=NOW - 61, iat=NOW - 3660, nbf=NOW - 3660),
         "TOK_EXPIRED", "exp one second earlier, re-signed")
boundary("nbf", "nbf 60 s after now is within the leeway.", "nbf 61 s after now is not yet valid.", ["TOK-029", "TOK-041"],
         dict(nbf=NOW + 60), dict(nbf=NOW + 61), "TOK_NOT_YET_VALID", "nbf one second later, re-signed")
boundary("iat", "iat 60 s after now is within the leeway.", "iat 61 s after now is in the future.", ["TOK-030", "TOK-041"],
         dict(iat=NOW + 60, nbf=None, exp=NOW + 3660), dict(iat=NOW + 61, nbf=None, exp=NOW + 3660),
         "TOK_IAT_IN_FUTURE", "iat one second later, re-signed")
boundary("lifetime", "exp - iat of exactly 86400 s is the maximum lifetime.", "exp - iat of 86401 s exceeds the maximum.",
         ["TOK-031", "TOK-041"], dict(iat=NOW - 300, exp=NOW - 300 + 86400), dict(iat=NOW - 300, exp=NOW - 300 + 86401),
         "TOK_LIFETIME_EXCEEDED", "exp one second later, re-signed")
neg("tok-exp-before-iat", "An exp not after iat is rejected.", ["TOK-031"], token(iat=NOW + 30, exp=NOW + 30, nbf=None),
    "TOK_LIFETIME_EXCEEDED", "iat and exp both set to 30 s after now, re-signed")
neg("tok-sub-other-domain", "A sub in another provider's trust domain is rejected.", ["TOK-032"],
    token(sub=f"spiffe://{TD2}/acme/support-bot"), "TOK_SUBJECT_DOMAIN_MISMATCH", "sub moved to the other issuer's trust domain, re-signed")

# Order of checks.
neg("tok-order-alg-before-time", "alg none on an expired token: the header check comes first.", ["TOK-034", "ERR-002"],
    compact(header(PROVIDER, alg="none"), claims(exp=NOW - 1000, iat=NOW - 2000, nbf=None), sign=lambda si: b""),
    "JWS_ALG_NOT_ALLOWED", "alg none, signature removed and the token expired")
neg("tok-order-kid-before-aud", "Unknown kid and wrong audience: the key lookup comes first.", ["TOK-034", "ERR-002"],
    compact(header(ATTACKER), claims(aud="https://other-server.example/mcp"), ATTACKER), "TOK_KID_UNKNOWN",
    "kid and signature of the attacker's key and aud of another server")
neg("tok-order-signature-before-claims", "A forged signature over a token without cnf: the signature comes first.",
    ["TOK-034", "ERR-002"], compact(header(PROVIDER), claims(cnf=None), ATTACKER), "TOK_SIGNATURE_INVALID",
    "cnf removed and signed with the attacker's key")

# Edge cases an implementer could read two ways; token.md decides each.
def raw_token(payload: bytes, hdr=None, key=PROVIDER):
    return compact(hdr if hdr is not None else header(key), payload, key)


def with_number(c, name, literal):
    """The JCS payload of claims `c` with the number of claim `name` written as `literal`."""
    p = jcs(c)
    old = b'"' + name.encode() + b'":' + json.dumps(c[name]).encode()
    assert p.count(old) == 1, (name, p)
    return p.replace(old, b'"' + name.encode() + b'":' + literal.encode())


INT_FORMS = [("iat-decimal-zero", "iat", "1779999700.0", "iat written 1779999700.0: a whole number, so an integer"),
             ("exp-exponent", "exp", "1.7800033e9", "exp written 1.7800033e9: a whole number, so an integer"),
             ("nbf-negative-zero", "nbf", "-0", "nbf written -0: the integer 0, a non-negative time")]
for name, claim, literal, what in INT_FORMS:
    t = raw_token(with_number(CLAIMS, claim, literal))
    valid(S, f"tok-{name}", V, f"A time is an integer by the value its literal denotes: {what}.", ["JSON-015", "TOK-025"],
          CONTEXT, {"token": t}, token_output(t))
neg("tok-iat-fraction", "An iat of 1779999700.5, whose double is not whole, is not an integer.", ["JSON-015", "TOK-025"],
    raw_token(with_number(CLAIMS, "iat", "1779999700.5")), "TOK_CLAIM_INVALID",
    "iat 1779999700.0 written as 1779999700.5, re-signed", base="tok-iat-decimal-zero")
t = raw_token(with_number(CLAIMS, "iat", "1779999700.0000000001"))
valid(S, "tok-iat-reads-as-whole", V, "The double decides, not the digits: an iat written 1779999700.0000000001 reads as the double 1779999700 and is that integer.",
      ["JSON-015", "TOK-025"], CONTEXT, {"token": t}, token_output(t))
TOP = 2**53
TOP_CONTEXT = ctx(now=TOP - 100)
TOP_CLAIMS = claims(iat=TOP - 200, nbf=None, exp=1)  # exp 1 is a placeholder: rfc8785 refuses 2^53 itself
TOP_TOKEN = raw_token(with_number(TOP_CLAIMS, "exp", str(TOP)))
valid(S, "tok-exp-2-53", V, "An exp of 2^53, the largest integer, verifies (with now just below it).", ["JSON-015", "TOK-025"],
      TOP_CONTEXT, {"token": TOP_TOKEN}, token_output(TOP_TOKEN, TOP_CLAIMS))
neg("tok-exp-beyond-2-53", "An exp of 9007199254740994 reads as a double beyond 2^53: not an integer.",
    ["JSON-015", "TOK-025"], raw_token(with_number(TOP_CLAIMS, "exp", str(TOP + 2))), "TOK_CLAIM_INVALID",
    "exp 9007199254740992 written as 9007199254740994, re-signed", base="tok-exp-2-53", context=TOP_CONTEXT)

# The size limit counts bytes.
extra = 8193 - SIZE_OK
wide = {1: "\u00e9", 2: "\u0800", 3: "\U00010000"}[extra]
assert len((TOK_8192[:-1] + wide).encode()) == 8193 and len(TOK_8192[:-1] + wide) <= 8192
neg("tok-order-size-in-bytes", f"The size limit counts UTF-8 bytes: {SIZE_OK} characters of which one takes {extra + 1} bytes are 8193 bytes, too large before they are found not to be base64url.",
    ["TOK-005", "ERR-002"], TOK_8192[:-1] + wide, "JWS_TOO_LARGE",
    f"last signature character replaced by U+{ord(wide):04X}, {extra + 1} bytes in UTF-8", base="tok-size-at-limit")

# Nesting: the header and payload parser's depth limit is 16.
for depth, ok in [(16, True), (17, False)]:
    nested = json.loads("[" * (depth - 1) + "]" * (depth - 1))
    t = token(ext=nested)
    if ok:
        valid(S, "tok-payload-depth-16", V, "A payload nesting 16 deep (an unknown claim of 15 nested arrays) verifies.",
              ["TOK-008", "TOK-040"], CONTEXT, {"token": t}, token_output(t))
    else:
        neg("tok-payload-depth-17", "A payload nesting 17 deep is rejected by the strict parser's depth limit for JWS, 16.",
            ["TOK-008"], t, "JSON_TOO_DEEP", "one more array level in the unknown claim, re-signed", base="tok-payload-depth-16")

# Header members: present means present, whatever the value.
neg("tok-typ-null", "A typ of null is present and not the type: invalid, not missing.", ["TOK-013", "TOK-014"],
    compact(header(PROVIDER, typ=TOKEN_TYP) | {"typ": None}, CLAIMS, PROVIDER), "JWS_TYP_INVALID", "typ replaced by null, re-signed")
neg("tok-crit-empty", "An empty crit is still a crit.", ["TOK-015"], compact(header(PROVIDER, crit=[]), CLAIMS, PROVIDER),
    "JWS_CRIT_UNSUPPORTED", "crit [] added, re-signed")
neg("tok-kid-null", "A kid of null is no key parameter.", ["TOK-017"], compact(header(PROVIDER) | {"kid": None}, CLAIMS, PROVIDER),
    "JWS_KEY_MISSING", "kid replaced by null, re-signed")
neg("tok-kid-empty", "An empty kid passes the envelope and names no key of the issuer.", ["TOK-017", "TOK-022"],
    compact(header(PROVIDER, kid=""), CLAIMS, PROVIDER), "TOK_KID_UNKNOWN", "kid replaced by the empty string, re-signed")
neg("tok-typ-long-s", "typ folds ASCII letters only: U+017F LATIN SMALL LETTER LONG S, which Unicode case folding maps to s, is another type.",
    ["TOK-014"], compact(header(PROVIDER, typ="agent-atte\u017ftation+jwt"), CLAIMS, PROVIDER), "JWS_TYP_INVALID",
    "the first s of typ replaced by U+017F LATIN SMALL LETTER LONG S, re-signed")
ORDERED = (b'{ "typ": "agent-attestation+jwt",\n  "kid": "' + PROVIDER.kid.encode() + b'",\n  "alg": "Ed25519" }')
t = raw_token(jcs(CLAIMS), hdr=ORDERED)
valid(S, "tok-header-member-order", V, "Header members in another order than JCS's, with whitespace, verify: the signature covers the segment as received.",
      ["TOK-001", "TOK-008"], CONTEXT, {"token": t}, token_output(t))

# iss form.
for name, iss, what in [("iss-scheme-only", "https://", "https:// with nothing after it"),
                        ("iss-uppercase-scheme", "HTTPS://provider.example", "the trusted issuer with its scheme in capitals")]:
    neg(f"tok-{name}", f"An iss of {what} is no HTTPS issuer identifier.", ["TOK-020"], token(iss=iss), "TOK_CLAIM_INVALID",
        f"iss replaced by {iss}, re-signed")

# String claims: non-empty; jti at most 256 code points; no other length limit.
SMILE = "\U0001F600"
t = token(jti=SMILE * 256)
valid(S, "tok-jti-256-astral", V, "A jti of 256 astral characters (512 UTF-16 units, 1024 bytes) is 256 code points, within the limit.",
      ["TOK-024", "TOK-025"], CONTEXT, {"token": t}, token_output(t, claims(jti=SMILE * 256)))
neg("tok-jti-257-astral", "A jti of 257 code points is too long.", ["TOK-025"], token(jti=SMILE * 257), "TOK_CLAIM_INVALID",
    "one more astral character in jti, re-signed", base="tok-jti-256-astral")
LONG_AGENT = dict(AGENT_CLAIM, provider=SMILE * 1024)
t = token(agent=LONG_AGENT)
valid(S, "tok-agent-provider-1024", V, "A string claim of 1024 code points verifies: 1024 astral characters are 2048 UTF-16 units and 4096 bytes.",
      ["TOK-025"], CONTEXT, {"token": t}, token_output(t, claims(agent=LONG_AGENT)))
neg("tok-agent-provider-1025", "A string claim of 1025 code points is too long.", ["TOK-025"],
    token(agent=dict(AGENT_CLAIM, provider=SMILE * 1025)), "TOK_CLAIM_INVALID", "one more astral character in agent.provider, re-signed",
    base="tok-agent-provider-1024")
neg("tok-aud-empty", "An empty aud is an empty string claim, invalid before it is compared.", ["TOK-025"], token(aud=""),
    "TOK_CLAIM_INVALID", "aud replaced by the empty string, re-signed")
neg("tok-cnf-jkt-trailing-bits", "A cnf.jkt whose last character has a non-zero unused bit is malformed, although it decodes to the agent key's thumbprint.",
    ["TOK-025"], token(cnf={"jkt": AGENT.kid[:-1] + alphabet[alphabet.index(AGENT.kid[-1]) + 1]}), "TOK_CLAIM_INVALID",
    "last character of cnf.jkt moved up one place in the alphabet, re-signed")
neg("tok-cnf-string", "A cnf that is not an object binds no key, even when it is the thumbprint itself.", ["TOK-033"], token(cnf=AGENT.kid),
    "TOK_CNF_MISSING", "cnf {jkt} replaced by the string of the thumbprint, re-signed")
c = claims()
c["nbf"] = None
neg("tok-nbf-null", "An optional claim present with null has the wrong type.", ["TOK-025"], compact(header(PROVIDER), c, PROVIDER),
    "TOK_CLAIM_INVALID", "nbf replaced by null, re-signed")
neg("tok-order-claim-by-claim", "A sub that is no SPIFFE ID and no aud: claims are checked one at a time in table order, so sub decides.",
    ["TOK-034", "ERR-002"], token(sub="support-bot", aud=None), "TOK_CLAIM_INVALID", "sub replaced by support-bot and aud removed, re-signed")
CNF2 = {"jkt": AGENT.kid, "jwk": ATTACKER.jwk}
t = token(cnf=CNF2)
valid(S, "tok-cnf-jkt-and-jwk", V, "cnf names the key by jkt alone: a jwk beside it is ignored, and the output key is jkt's.",
      ["TOK-040"], CONTEXT, {"token": t}, token_output(t, claims(cnf=CNF2)))
OP_PLAIN = dict(AGENT_CLAIM, operator="acme")
t = token(agent=OP_PLAIN)
valid(S, "tok-agent-operator-plain", V, "agent.operator is only compared, never checked for form: a name that is no URL verifies.",
      ["TOK-024"], CONTEXT, {"token": t}, token_output(t, claims(agent=OP_PLAIN)))

neg("tok-aud-trailing-slash", "aud is compared as text, not as a URL: a trailing slash makes another audience.", ["TOK-027"],
    token(aud=AUD + "/"), "TOK_AUDIENCE_MISMATCH", "a / appended to aud, re-signed")
neg("tok-nbf-negative", "A time of -1 is an integer but not a non-negative one.", ["TOK-025"],
    raw_token(with_number(CLAIMS, "nbf", "-1")), "TOK_CLAIM_INVALID", "nbf -0 written as -1, re-signed", base="tok-nbf-negative-zero")
neg("tok-trailing-newline", "A token copied with its line feed is not trimmed: the signature segment holds whitespace.", ["TOK-007"],
    TOKEN + "\n", "B64_WHITESPACE", "a line feed appended")
APP_UPPER = compact(header(PROVIDER, typ="APPLICATION/AGENT-ATTESTATION+JWT"), CLAIMS, PROVIDER)
valid(S, "tok-typ-prefix-uppercase", V, "The application/ prefix folds case like the rest of typ: APPLICATION/AGENT-ATTESTATION+JWT is the token type.",
      ["TOK-014"], CONTEXT, {"token": APP_UPPER}, token_output(APP_UPPER))

# sub: a string claim (at most 1024 code points) and a SPIFFE ID (at most 2048 bytes).
prefix = f"spiffe://{TD}/"
for total, ok in [(1024, True), (1025, False)]:
    sub = prefix + "a" * (total - len(prefix))
    assert len(sub) == total
    t = token(sub=sub)
    if ok:
        valid(S, "tok-sub-1024", V, "A sub of 1024 characters, the string-claim limit, verifies.", ["TOK-025"], CONTEXT, {"token": t},
              token_output(t, claims(sub=sub)))
    else:
        neg("tok-sub-1025", "A sub of 1025 characters is longer than a string claim may be, although a SPIFFE ID may have 2048 bytes.",
            ["TOK-025"], t, "TOK_CLAIM_INVALID", "one more character in the sub's path, re-signed", base="tok-sub-1024")

# ML-DSA-65.
PQ = token(PROVIDER_PQ)
valid(S, "tok-mldsa65", V, "An ML-DSA-65 token verifies (verify-only: the signature is randomized).",
      ["TOK-002", "TOK-012"], PQ_CONTEXT, {"token": PQ}, token_output(PQ, kid=PROVIDER_PQ.kid, alg="ML-DSA-65"))
neg("tok-mldsa65-tampered", "An ML-DSA-65 token with one signature byte changed is rejected.", ["TOK-023"],
    PQ.rsplit(".", 1)[0] + "." + b64u(bytes([unb64u(PQ.rsplit(".", 1)[1])[0] ^ 1]) + unb64u(PQ.rsplit(".", 1)[1])[1:]),
    "TOK_SIGNATURE_INVALID", "first signature byte xor 1", base="tok-mldsa65", context=PQ_CONTEXT)
neg("tok-mldsa65-alg-ed25519", "alg Ed25519 with the kid of an ML-DSA-65 key is rejected before the signature.", ["TOK-012"],
    compact(header(PROVIDER_PQ, alg="Ed25519"), CLAIMS, PROVIDER_PQ), "JWS_ALG_KEY_MISMATCH", "alg ML-DSA-65 replaced by Ed25519, re-signed",
    base="tok-mldsa65", context=PQ_CONTEXT)
PQ_LEGACY_CONTEXT = dict(copy.deepcopy(PQ_CONTEXT), accept_eddsa=True)
valid(S, "tok-mldsa65-legacy-policy", V, "The legacy-issuer option does not change how an ML-DSA-65 token verifies.",
      ["TOK-011"], PQ_LEGACY_CONTEXT, {"token": PQ}, token_output(PQ, kid=PROVIDER_PQ.kid, alg="ML-DSA-65"))
neg("tok-alg-eddsa-legacy-mldsa65", "With the legacy-issuer option, alg EdDSA with an ML-DSA-65 key is rejected.", ["TOK-011"],
    compact(header(PROVIDER_PQ, alg="EdDSA"), CLAIMS, PROVIDER_PQ), "JWS_ALG_KEY_MISMATCH", "alg ML-DSA-65 replaced by EdDSA, re-signed",
    base="tok-mldsa65-legacy-policy", context=PQ_LEGACY_CONTEXT)

# ---------------------------------------------------------------- token.md: operator attestation
S = "operator"
OPERATORS = [{"iss": OP, "jwks": {"keys": [OPERATOR.jwk]}}]
OCTX = ctx(operators=OPERATORS)
OPC = {"iss": OP, "iat": NOW - 200, "deployment": DEPLOYMENT, "tkh": sha(TOKEN.encode())}
def op_att(key=OPERATOR, hdr=None, **changes):
    c = dict(OPC)
    for k, v in changes.items():
        if v is None:
            c.pop(k)
        else:
            c[k] = v
    return compact(hdr if hdr is not None else header(key, typ=OP_TYP), c, key)
OPA = op_att()
OV = "operator.verify"
valid(S, "tok-operator-valid", OV, "An operator attestation by a trusted operator, for this token and its deployment, verifies.",
      ["TOK-050", "TOK-052", "TOK-053", "TOK-055"], OCTX, {"token": TOKEN, "attestation": OPA},
      {"operator": OP, "deployment": DEPLOYMENT, "kid": OPERATOR.kid, "sub": CLAIMS["sub"]})
def oneg(id, description, covers, att, error, mutation, tok=TOKEN):
    invalid(S, id, OV, description, covers, OCTX, {"token": tok, "attestation": att}, error, "tok-operator-valid", mutation)
oneg("tok-operator-forged", "Provenance forgery: the operator's kid with a signature by another key.", ["TOK-053"],
     compact(header(OPERATOR, typ=OP_TYP), OPC, ATTACKER), "TOK_OPERATOR_SIGNATURE_INVALID", "signature made with the attacker's key")
oneg("tok-operator-untrusted", "An attestation by an operator the verifier does not trust is rejected.", ["TOK-052"],
     op_att(ATTACKER, iss="https://evil-operator.example"), "TOK_OPERATOR_UNTRUSTED",
     "iss https://evil-operator.example, kid and signature of that operator's key")
oneg("tok-operator-kid-unknown", "The trusted operator's name with a key outside its key set is rejected.", ["TOK-052"],
     op_att(ATTACKER), "TOK_OPERATOR_UNTRUSTED", "kid and signature of the attacker's key")
OTHER_TOKEN = token(jti="tok-0b5e8d1c93a7f264")
oneg("tok-operator-other-token", "An operator attestation made for another token is rejected.", ["TOK-055"],
     op_att(tkh=sha(OTHER_TOKEN.encode())), "TOK_OPERATOR_BINDING_MISMATCH", "tkh of another token of the same agent, re-signed")
oneg("tok-operator-other-deployment", "An operator attestation naming another deployment is rejected.", ["TOK-055"],
     op_att(deployment="acme-staging"), "TOK_OPERATOR_BINDING_MISMATCH", "deployment acme-staging, re-signed")
oneg("tok-operator-typ-token", "An operator attestation with the token's typ is rejected.", ["TOK-050", "TOK-014"],
     op_att(hdr=header(OPERATOR, typ=TOKEN_TYP)), "JWS_TYP_INVALID", "typ agent-attestation+jwt, re-signed")
oneg("tok-operator-tkh-missing", "An operator attestation without tkh is rejected.", ["TOK-054"],
     op_att(tkh=None), "TOK_CLAIM_MISSING", "tkh removed, re-signed")
oneg("tok-operator-iat-future", "An operator attestation issued after now + leeway is rejected.", ["TOK-054"],
     op_att(iat=NOW + 61), "TOK_IAT_IN_FUTURE", "iat 61 s after now, re-signed")
oneg("tok-operator-tkh-malformed", "A tkh that is not 43 base64url characters of 32 bytes is malformed, before it is compared.", ["TOK-054"],
     op_att(tkh=sha(TOKEN.encode())[:-1]), "TOK_CLAIM_INVALID", "last character of tkh removed, re-signed")
oneg("tok-operator-iss-number", "An operator attestation whose iss is not a string is malformed, before any operator is looked up.", ["TOK-054"],
     op_att(iss=7), "TOK_CLAIM_INVALID", "iss replaced by the number 7, re-signed")
oneg("tok-operator-order-claim-by-claim", "A malformed iat and no tkh: the claims are checked one at a time, iat first.",
     ["TOK-054", "ERR-002"], op_att(iat="yesterday", tkh=None), "TOK_CLAIM_INVALID", "iat replaced by a string and tkh removed, re-signed")
valid(S, "tok-operator-required", V, "A verifier whose policy requires an operator attestation accepts a token presented with one.",
      ["TOK-051"], dict(OCTX, require_operator=True), {"token": TOKEN, "operator_attestation": OPA},
      dict(token_output(TOKEN), operator={"iss": OP, "deployment": DEPLOYMENT}))
invalid(S, "tok-operator-required-missing", V, "A verifier whose policy requires an operator attestation rejects a token without one.",
        ["TOK-051"], dict(OCTX, require_operator=True), {"token": TOKEN}, "TOK_OPERATOR_MISSING", "tok-operator-required",
        "operator attestation removed")

# ---------------------------------------------------------------- proof.md
PROTO_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientCapabilities": {"extensions": {"dev.agent-attestation/v1": {}}}}
PARAMS = {"_meta": PROTO_META, "name": "get_weather", "arguments": {"location": "New York", "days": 3}}
METHOD = "tools/call"
CARRIERS = ["dev.agent-attestation/token", "dev.agent-attestation/proof", "dev.agent-attestation/operator"]


as_doubles = vectorlib.as_doubles


def params_hash(params):
    p = copy.deepcopy(params)
    if isinstance(p.get("_meta"), dict):
        for k in CARRIERS:
            p["_meta"].pop(k, None)
    return sha(jcs(as_doubles(p)))


PROOF_CLAIMS = {"mth": METHOD, "ph": params_hash(PARAMS), "aud": AUD, "iat": NOW - 5, "jti": "prf-5c1d7e0a9b34f816",
                "ath": sha(TOKEN.encode())}


def proof(key=AGENT, jwk=None, sign_key=None, hdr=None, **changes):
    c = dict(PROOF_CLAIMS)
    for k, v in changes.items():
        if v is None:
            c.pop(k)
        else:
            c[k] = v
    hd = hdr if hdr is not None else {"alg": key.alg, "jwk": jwk or key.jwk, "typ": PROOF_TYP}
    return compact(hd, c, sign_key or key)


PROOF = proof()
S = "token-verify"
neg("tok-proof-as-token", "Cross-type: a valid proof presented as a token is rejected by its typ.", ["TOK-014"],
    PROOF, "JWS_TYP_INVALID", "token replaced by a valid proof of the agent")

S = "proof-verify"
PV = "proof.verify"
PIN = {"token": TOKEN, "proof": PROOF, "method": METHOD, "params": PARAMS}
valid(S, "prf-valid", PV, "A proof by the cnf key over this request, for this token and audience, fresh and unseen, verifies.",
      ["PRF-001", "PRF-002", "PRF-003", "PRF-007", "PRF-008", "PRF-011", "PRF-012", "PRF-013", "PRF-014", "PRF-017", "PRF-019"],
      CONTEXT, PIN, {"jti": PROOF_CLAIMS["jti"], "iat": NOW - 5, "replay_expires": NOW - 5 + 60 + 60, "iss": ISS})


def pneg(id, description, covers, error, mutation, base="prf-valid", context=None, **input_changes):
    inp = dict(PIN)
    inp.update(input_changes)
    invalid(S, id, PV, description, covers, context or CONTEXT, inp, error, base, mutation)


pneg("prf-wrong-key", "A proof signed by another agent key, carrying that key, is rejected: its thumbprint is not cnf.jkt.",
     ["PRF-007"], "PRF_KEY_MISMATCH", "signed by a second agent key, whose jwk the header carries", proof=proof(AGENT2))
pneg("prf-forged", "A proof carrying the agent's jwk but signed by another key is rejected.", ["PRF-008"], "PRF_SIGNATURE_INVALID",
     "signature made with a second agent key", proof=proof(jwk=AGENT.jwk, sign_key=AGENT2))
pneg("prf-other-params", "Arguments changed in transit: the proof covers other params.", ["PRF-014"], "PRF_PARAMS_HASH_MISMATCH",
     "arguments.location changed to Boston", params=dict(PARAMS, arguments={"location": "Boston", "days": 3}))
pneg("prf-other-method", "A proof for another method is rejected.", ["PRF-012"], "PRF_METHOD_MISMATCH",
     "method tools/call replaced by resources/read", method="resources/read")
pneg("prf-other-audience", "A proof for another audience is rejected.", ["PRF-013"], "PRF_AUDIENCE_MISMATCH",
     "proof aud of another server, re-signed", proof=proof(aud="https://other-server.example/mcp"))
pneg("prf-token-hash-mismatch", "A proof made for another token of the same agent key is rejected.", ["PRF-011"],
     "PRF_TOKEN_HASH_MISMATCH", "ath of another token of the same agent, re-signed", proof=proof(ath=sha(OTHER_TOKEN.encode())))
pneg("prf-replayed", "Replay: the same (issuer, proof jti) was already accepted.", ["PRF-017"], "PRF_REPLAY",
     "the replay store already holds (iss, jti)", context=ctx(seen=[{"iss": ISS, "jti": PROOF_CLAIMS["jti"], "expires": NOW + 115}]))
valid(S, "prf-same-jti-other-issuer", PV, "Replay is keyed on (issuer, jti): the same jti under another issuer is not a replay.",
      ["PRF-017"], ctx(seen=[{"iss": ISS2, "jti": PROOF_CLAIMS["jti"], "expires": NOW + 115}]), PIN,
      {"jti": PROOF_CLAIMS["jti"]})
FULL = [{"iss": ISS, "jti": "prf-0000000000000001", "expires": NOW + 30}, {"iss": ISS, "jti": "prf-0000000000000002", "expires": NOW}]
valid(S, "prf-store-with-expired", PV, "A full store whose entries have expired purges them and accepts the proof.",
      ["PRF-018"], ctx(replay_capacity=2, seen=[dict(e, expires=NOW - 1) for e in FULL]), PIN, {"jti": PROOF_CLAIMS["jti"]})
pneg("prf-store-full", "A store full of unexpired entries refuses the proof instead of evicting one.", ["PRF-018"],
     "PRF_REPLAY_STORE_FULL", "the two entries of the capacity-2 store are unexpired (one expires exactly now)",
     base="prf-store-with-expired", context=ctx(replay_capacity=2, seen=FULL))
# Exact numbers: the proof's ph is over the JCS form, where 100000000000000008191 is the
# double 1e20; the literal is the amount a server that keeps integers would send.
PAY = {"_meta": PROTO_META, "name": "send_payment", "arguments": {"to": "acct-4417", "amount_wei": 10**20}}
PAY_ROUNDED = copy.deepcopy(PAY)
PAY_ROUNDED["arguments"]["amount_wei"] = 100000000000000008191
assert float(100000000000000008191) == 1e20 and params_hash(PAY_ROUNDED) == params_hash(PAY)
PAY_PROOF = proof(ph=params_hash(PAY))
valid(S, "prf-params-exact-number", PV, "A proof over params holding the exact integer 100000000000000000000 verifies.",
      ["PRF-014", "PRF-027"], CONTEXT, dict(PIN, proof=PAY_PROOF, params=PAY), {"jti": PROOF_CLAIMS["jti"]})
pneg("prf-params-inexact-number", "Rounded numbers: params holding 100000000000000008191, which reads as the same double as the signed amount, are rejected although ph matches.",
     ["PRF-027", "JSON-013"], "JSON_NUMBER_INEXACT",
     "amount_wei 100000000000000000000 replaced by 100000000000000008191 (same double, same JCS form, so the same ph)",
     base="prf-params-exact-number", proof=PAY_PROOF, params=PAY_ROUNDED)
for name, ok, bad, code, covers, what in [
        ("stale", NOW - 120, NOW - 121, "PRF_STALE", ["PRF-016"], "older than max age 60 s + leeway 60 s"),
        ("future", NOW + 60, NOW + 61, "PRF_IAT_IN_FUTURE", ["PRF-015"], "after now + leeway 60 s")]:
    p_ok = proof(iat=ok)
    valid(S, f"prf-{name}-at-limit", PV, f"A proof with iat {ok - NOW:+d} s is within the window.", covers,
          CONTEXT, dict(PIN, proof=p_ok), {"iat": ok, "replay_expires": ok + 120})
    pneg(f"prf-{name}-past-limit", f"A proof with iat {bad - NOW:+d} s is {what}.", covers, code,
         "iat one second further, re-signed", base=f"prf-{name}-at-limit", proof=proof(iat=bad))
pneg("prf-typ-token", "A proof with the token's typ is rejected.", ["PRF-005"], "JWS_TYP_INVALID", "typ agent-attestation+jwt, re-signed",
     proof=proof(hdr={"alg": "Ed25519", "jwk": AGENT.jwk, "typ": TOKEN_TYP}))
pneg("prf-kid-not-jwk", "A proof naming its key by kid is rejected: a proof carries its jwk.", ["PRF-005"], "JWS_HEADER_UNSUPPORTED",
     "jwk replaced by kid, re-signed", proof=proof(hdr={"alg": "Ed25519", "kid": AGENT.kid, "typ": PROOF_TYP}))
pneg("prf-jwk-missing", "A proof header without jwk is rejected.", ["PRF-005"], "JWS_KEY_MISSING", "jwk removed, re-signed",
     proof=proof(hdr={"alg": "Ed25519", "typ": PROOF_TYP}))
pneg("prf-alg-none", "A proof with alg none is rejected.", ["PRF-005"], "JWS_ALG_NOT_ALLOWED", "alg none, signature removed",
     proof=compact({"alg": "none", "jwk": AGENT.jwk, "typ": PROOF_TYP}, PROOF_CLAIMS, sign=lambda si: b""))
pneg("prf-jwk-private", "A proof jwk carrying the private key is rejected.", ["PRF-006"], "JWK_PRIVATE_MATERIAL",
     "d added to the header jwk, re-signed", proof=proof(jwk=dict(AGENT.jwk, d=b64u(AGENT.seed))))
pneg("prf-mth-missing", "A proof without mth is rejected.", ["PRF-009"], "PRF_CLAIM_MISSING", "mth removed, re-signed", proof=proof(mth=None))
pneg("prf-iat-string", "A proof iat that is a string is rejected.", ["PRF-010"], "PRF_CLAIM_INVALID", "iat written as a string, re-signed",
     proof=proof(iat=str(NOW - 5)))
pneg("prf-token-invalid-first", "A proof next to a token for another audience: the token is checked first.", ["PRF-004", "ERR-002"],
     "TOK_AUDIENCE_MISMATCH", "token for another server, proof unchanged",
     token=token(aud="https://other-server.example/mcp"))
# Edge cases of proofs that proof.md decides.
JWK_FULL = dict(AGENT.jwk, kid=AGENT.kid, use="sig", alg="Ed25519", key_ops=["verify"])
valid(S, "prf-jwk-optional-members", PV, "A proof jwk with kid, use, alg and key_ops verifies: its thumbprint, over crv, kty and x only, is cnf.jkt.",
      ["PRF-006", "PRF-007"], CONTEXT, dict(PIN, proof=proof(jwk=JWK_FULL)), {"jti": PROOF_CLAIMS["jti"]})
pneg("prf-jwk-kid-wrong", "A proof jwk whose kid is not its thumbprint is rejected as a JWK.", ["PRF-006"], "JWK_INVALID_MEMBER",
     "kid of the second agent key in the jwk, re-signed", base="prf-jwk-optional-members", proof=proof(jwk=dict(JWK_FULL, kid=AGENT2.kid)))
pneg("prf-order-types-before-forms", "A malformed ph and no ath: presence and types of all six claims come before the form of ph.", ["PRF-009", "ERR-002"],
     "PRF_CLAIM_MISSING", "ph shortened by one character and ath removed, re-signed", proof=proof(ph=PROOF_CLAIMS["ph"][:-1], ath=None))
pneg("prf-method-case", "mth is compared by code points: a request method that differs in case only is another method.", ["PRF-012"],
     "PRF_METHOD_MISMATCH", "request method tools/call written Tools/call", method="Tools/call")
pneg("prf-aud-uppercase-scheme", "aud is compared as text, not as a URL: the verifier's identity with its scheme in capitals is another audience.",
     ["PRF-013"], "PRF_AUDIENCE_MISMATCH", "proof aud written with HTTPS:// in capitals, re-signed",
     proof=proof(aud=AUD.replace("https://", "HTTPS://", 1)))
pneg("prf-signature-short", "A 63-byte proof signature fails as a proof signature, not with a SIG_* code.", ["PRF-008"], "PRF_SIGNATURE_INVALID",
     "last signature byte removed", proof=PROOF.rsplit(".", 1)[0] + "." + b64u(unb64u(PROOF.rsplit(".", 1)[1])[:63]))
def bump_last(text):
    """text with its last base64url character moved up one place: the same bytes with a non-zero unused bit."""
    i = alphabet.index(text[-1])
    assert i % 4 == 0
    return text[:-1] + alphabet[i + 1]
pneg("prf-ath-trailing-bits", "An ath whose last character has a non-zero unused bit is malformed, although it decodes to the token's hash.",
     ["PRF-010"], "PRF_CLAIM_INVALID", "last character of ath moved up one place in the alphabet, re-signed",
     proof=proof(ath=bump_last(PROOF_CLAIMS["ath"])))
EARLY_TOKEN = token(iat=NOW - 30, nbf=None, exp=NOW - 30 + 3600, jti="tok-1d4c8e2b7a90f365")
valid(S, "prf-iat-before-token", PV, "A proof is not compared with the token's times: one made 30 s before its token was issued verifies.",
      ["PRF-015", "PRF-016"], CONTEXT, dict(PIN, token=EARLY_TOKEN, proof=proof(iat=NOW - 60, ath=sha(EARLY_TOKEN.encode()))),
      {"jti": PROOF_CLAIMS["jti"], "iat": NOW - 60})
pneg("prf-jti-empty", "An empty jti is rejected.", ["PRF-010"], "PRF_CLAIM_INVALID", "jti replaced by the empty string, re-signed",
     proof=proof(jti=""))
# Replay store edges: an entry is live while now <= expiry.
valid(S, "prf-replay-expired-entry", PV, "The store holds the pair with an expiry one second before now: no longer live, so no replay; the pair is recorded anew.",
      ["PRF-017", "PRF-019"], ctx(seen=[{"iss": ISS, "jti": PROOF_CLAIMS["jti"], "expires": NOW - 1}]), PIN, {"jti": PROOF_CLAIMS["jti"]})
pneg("prf-replay-expires-now", "An entry that expires exactly now is still live: the proof is a replay.", ["PRF-017", "PRF-019"],
     "PRF_REPLAY", "the entry's expiry moved to now", base="prf-replay-expired-entry",
     context=ctx(seen=[{"iss": ISS, "jti": PROOF_CLAIMS["jti"], "expires": NOW}]))
OTHER_LIVE = {"iss": ISS, "jti": "prf-0000000000000001", "expires": NOW + 30}
valid(S, "prf-store-full-own-expired", PV, "A full store of capacity 2 whose second entry is this pair, expired: it is dropped and the proof accepted.",
      ["PRF-018"], ctx(replay_capacity=2, seen=[OTHER_LIVE, {"iss": ISS, "jti": PROOF_CLAIMS["jti"], "expires": NOW - 1}]), PIN,
      {"jti": PROOF_CLAIMS["jti"]})
pneg("prf-store-full-replay", "A full store that holds this pair live reports the replay, not the full store.", ["PRF-017", "PRF-018"],
     "PRF_REPLAY", "the pair's entry expires at now + 115 instead of a second before now", base="prf-store-full-own-expired",
     context=ctx(replay_capacity=2, seen=[OTHER_LIVE, {"iss": ISS, "jti": PROOF_CLAIMS["jti"], "expires": NOW + 115}]))
# ph: an empty _meta is covered; a request without _meta is another request.
EMPTY_META = {"_meta": {}, "name": "get_weather", "arguments": {"location": "New York", "days": 3}}
NO_META = {"name": "get_weather", "arguments": {"location": "New York", "days": 3}}
assert params_hash(EMPTY_META) != params_hash(NO_META)
valid(S, "prf-params-empty-meta", PV, "params whose _meta holds nothing but the carriers hash with an empty _meta object.", ["PRF-002", "PRF-014"],
      CONTEXT, dict(PIN, params=EMPTY_META, proof=proof(ph=params_hash(EMPTY_META))), {"jti": PROOF_CLAIMS["jti"]})
pneg("prf-params-meta-dropped", "A ph computed without the emptied _meta does not cover params that have one.", ["PRF-014"],
     "PRF_PARAMS_HASH_MISMATCH", "ph computed over params without _meta, re-signed", base="prf-params-empty-meta",
     params=EMPTY_META, proof=proof(ph=params_hash(NO_META)))
PQ_AGENT_TOKEN = token(cnf={"jkt": AGENT_PQ.kid}, jti="tok-4e2c9a7d10f8b356")
PQ_PROOF = proof(AGENT_PQ, ath=sha(PQ_AGENT_TOKEN.encode()))
valid(S, "prf-mldsa65", PV, "A proof by an ML-DSA-65 agent key verifies (verify-only: the signature is randomized).",
      ["PRF-001", "PRF-008"], CONTEXT, dict(PIN, token=PQ_AGENT_TOKEN, proof=PQ_PROOF), {"jti": PROOF_CLAIMS["jti"]})

# ---------------------------------------------------------------- proof.md: requests
S = "request-verify"
RV = "request.verify"


def request(params=PARAMS, tok=TOKEN, prf=PROOF, op=None, method=METHOD):
    p = copy.deepcopy(params)
    if tok is not None:
        p["_meta"][CARRIERS[0]] = tok
    if prf is not None:
        p["_meta"][CARRIERS[1]] = prf
    if op is not None:
        p["_meta"][CARRIERS[2]] = op
    return {"jsonrpc": "2.0", "id": "call-1", "method": method, "params": p}


REQ_OUT = {"attested": True, "iss": ISS, "sub": CLAIMS["sub"], "agent": AGENT_CLAIM, "proof_jti": PROOF_CLAIMS["jti"]}
valid(S, "prf-request-valid", RV, "A tools/call carrying a valid token and proof in params._meta is attested.",
      ["PRF-002", "PRF-021"], ctx(policy="required"), {"request": request()}, REQ_OUT)
invalid(S, "prf-request-token-stripped", RV, "Downgrade: token and proof stripped under policy required.", ["PRF-021"],
        ctx(policy="required"), {"request": request(tok=None, prf=None)}, "PRF_TOKEN_MISSING", "prf-request-valid",
        "token and proof removed from params._meta")
invalid(S, "prf-request-proof-missing", RV, "A token without a proof is rejected.", ["PRF-022"], ctx(policy="required"),
        {"request": request(prf=None)}, "PRF_MISSING", "prf-request-valid", "proof removed from params._meta")
invalid(S, "prf-request-arguments-changed", RV, "Arguments changed after the proof was made.", ["PRF-014"], ctx(policy="required"),
        {"request": request(params=dict(PARAMS, arguments={"location": "Boston", "days": 3}))}, "PRF_PARAMS_HASH_MISMATCH",
        "prf-request-valid", "arguments.location changed to Boston")
invalid(S, "prf-request-replayed", RV, "Replay: the captured request sent again verbatim.", ["PRF-017"],
        ctx(policy="required", seen=[{"iss": ISS, "jti": PROOF_CLAIMS["jti"], "expires": NOW + 115}]), {"request": request()},
        "PRF_REPLAY", "prf-request-valid", "the replay store already holds (iss, jti) from the first sending")
valid(S, "prf-request-optional-absent", RV, "Under policy optional a request without token or proof is accepted unattested.",
      ["PRF-023"], ctx(policy="optional"), {"request": request(tok=None, prf=None)}, {"attested": False})
valid(S, "prf-request-optional-valid", RV, "Under policy optional a valid token and proof are verified and attested.",
      ["PRF-024"], ctx(policy="optional"), {"request": request()}, REQ_OUT)
invalid(S, "prf-request-optional-invalid", RV, "Downgrade: under policy optional an invalid token is rejected, never treated as absent.",
        ["PRF-024"], ctx(policy="optional"), {"request": request(tok=FORGED)}, "TOK_SIGNATURE_INVALID", "prf-request-optional-valid",
        "token replaced by one with a forged signature")
bad = request()
del bad["method"]
invalid(S, "prf-request-method-missing", RV, "A request without a method is a malformed JSON-RPC request.", ["PRF-028"],
        ctx(policy="required"), {"request": bad}, "MCP_MALFORMED_REQUEST", "prf-request-valid", "method removed")
bad = request()
bad["params"] = [bad["params"]]
invalid(S, "prf-request-params-array", RV, "A request whose params is not an object is a malformed JSON-RPC request.", ["PRF-028"],
        ctx(policy="required"), {"request": bad}, "MCP_MALFORMED_REQUEST", "prf-request-valid", "params wrapped in an array")
bad = request()
bad["params"]["_meta"][CARRIERS[0]] = {"jws": TOKEN}
invalid(S, "prf-request-carrier-object", RV, "A token carried as an object, not a string, is rejected.", ["PRF-028"],
        ctx(policy="required"), {"request": bad}, "MCP_CARRIER_INVALID", "prf-request-valid", "token wrapped in an object")
invalid(S, "prf-request-optional-proof-only", RV, "Under policy optional a proof without a token is rejected.", ["PRF-023"],
        ctx(policy="optional"), {"request": request(tok=None)}, "PRF_TOKEN_MISSING", "prf-request-optional-valid", "token removed")

invalid(S, "prf-request-optional-empty-token", RV, "Under policy optional an empty-string token is present, verified and rejected, never taken for an absent one.",
        ["PRF-023", "PRF-024"], ctx(policy="optional"), {"request": request(tok="")}, "JWS_MALFORMED", "prf-request-optional-valid",
        "token replaced by the empty string")
bad = request()
bad["params"]["_meta"][CARRIERS[1]] = None
invalid(S, "prf-request-carrier-null", RV, "A proof carried as null is present and not a string.", ["PRF-028"],
        ctx(policy="required"), {"request": bad}, "MCP_CARRIER_INVALID", "prf-request-valid", "proof replaced by null")
bad = request()
del bad["params"]
invalid(S, "prf-request-params-missing", RV, "A request without params is malformed, not unattested.", ["PRF-028"],
        ctx(policy="optional"), {"request": bad}, "MCP_MALFORMED_REQUEST", "prf-request-optional-valid", "params removed")

# ---------------------------------------------------------------- write
vectorlib.write(sections, DOCS)
