#!/usr/bin/env python3
"""Authoring aid for the key-discovery vectors of spec/keys.md (`keys.discovery`).

Each vector scripts the HTTPS responses an issuer gives and the times at which a
verifier looks keys up; the expected trace is computed here by a model of the rules in
keys.md ("Refreshing a key set", "Looking up a key"), written from the prose and sharing
no code with the Swift implementation. Keys are Ed25519 (PyNaCl) from fixed seeds; the
thumbprints are RFC 7638 over rfc8785 JCS.

The script rewrites the region between `<!-- begin vectors: discovery -->` and
`<!-- end vectors: discovery -->` in spec/keys.md.

Large inputs are written to data files under spec/data/ by vectorlib
(scripts/externalize_vectors.py, conventions.md §Data files); no separate step is needed.

Usage: python3 scripts/author_discovery_vectors.py   (from the repository root)
"""
import copy
import hashlib
import json
from urllib.parse import urljoin, urlsplit

import nacl.bindings
import rfc8785

import vectorlib

sections = {}
S = "discovery"
OP = "keys.discovery"

ISSUER = "https://issuer.example"
META = ISSUER + "/.well-known/agent-attestation-issuer"
JWKS_URI = "https://keys.issuer.example/jwks.json"
TOKEN_TYPE = "agent-attestation+jwt"
LIMITS = {"metadata": 16384, "jwks": 65536}
MIN_TTL, MAX_TTL, DEFAULT_TTL = 300, 86400, 3600
REFETCH = 60
MAX_REDIRECTS = 3


b64u = vectorlib.b64u


def jwk(seed_byte):
    pk, _ = nacl.bindings.crypto_sign_seed_keypair(bytes([seed_byte]) * 32)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(pk)}


def thumbprint(key):
    return b64u(hashlib.sha256(rfc8785.dumps({m: key[m] for m in ("crv", "kty", "x")})).digest())


KEY_A, KEY_B = jwk(0xA1), jwk(0xB2)
KID_A, KID_B = thumbprint(KEY_A), thumbprint(KEY_B)


def text(value):
    return json.dumps(value, separators=(",", ":"))


def metadata(**changes):
    m = {"issuer": ISSUER, "jwks_uri": JWKS_URI, "token_types": [TOKEN_TYPE]}
    m.update(changes)
    return text({k: v for k, v in m.items() if v is not None})


def keyset(*keys):
    return text({"keys": list(keys)})


def ok(body, **extra):
    return dict({"status": 200, "body": body}, **extra)


# ------------------------------------------------------------------ the model

class Failure(Exception):
    def __init__(self, code):
        self.code = code


def is_https(url):
    parts = urlsplit(url)
    # keys.md: the scheme written exactly "https" (urlsplit lowercases it, so the text is checked too).
    return url.startswith("https://") and parts.scheme == "https" and bool(parts.hostname)


def cache_lifetime(header):
    if header is None:
        return DEFAULT_TTL
    first_max_age = None
    seen = False
    for directive in header.split(","):
        name, _, value = directive.partition("=")
        name = name.strip(" \t").lower()
        if name in ("no-store", "no-cache"):
            return MIN_TTL
        if name == "max-age" and not seen:
            seen = True
            value = value.strip(" \t")
            if value and all(c in "0123456789" for c in value):
                first_max_age = int(value)
    if first_max_age is None:
        return DEFAULT_TTL
    return min(max(first_max_age, MIN_TTL), MAX_TTL)


def parse_jwks(body):
    """The key-set rules of keys.md for the keys these scripts publish: Ed25519 JWKs,
    possibly carrying a private part."""
    try:
        value = json.loads(body)
    except ValueError:
        raise Failure("JSON_SYNTAX")
    if not isinstance(value, dict) or "keys" not in value:
        raise Failure("JWK_MISSING_MEMBER")
    if set(value) != {"keys"}:
        raise Failure("JWK_UNKNOWN_MEMBER")
    if not isinstance(value["keys"], list):
        raise Failure("JWK_INVALID_MEMBER")
    if len(value["keys"]) > 64:
        raise Failure("JWKS_TOO_MANY_KEYS")
    kids = []
    for key in value["keys"]:
        if "d" in key:
            raise Failure("JWK_PRIVATE_MATERIAL")
        kids.append(thumbprint(key))
    if len(set(kids)) != len(kids):
        raise Failure("JWKS_DUPLICATE_KID")
    return kids


class Server:
    """The scripted responses: in turn per URL, the last repeating."""

    def __init__(self, responses):
        self.responses = responses
        self.served = {}

    def get(self, url, limit):
        if url not in self.responses:
            raise Failure("DISC_TRANSPORT")
        i = self.served.get(url, 0)
        self.served[url] = i + 1
        r = self.responses[url][min(i, len(self.responses[url]) - 1)]
        if r.get("transport_error"):
            raise Failure("DISC_TRANSPORT")
        body = r.get("body", "").encode()
        body += b" " * max(0, r.get("pad_to", 0) - len(body))
        if len(body) > limit:
            raise Failure("DISC_TOO_LARGE")
        return r.get("status", 200), r.get("location"), r.get("cache_control"), body


def fetch_document(server, url, limit, fetched):
    redirects = 0
    while True:
        if not is_https(url):
            raise Failure("DISC_NOT_HTTPS")
        fetched.append(url)
        status, location, cache_control, body = server.get(url, limit)
        if status in (301, 302, 303, 307, 308):
            if redirects == MAX_REDIRECTS:
                raise Failure("DISC_REDIRECT_LIMIT")
            if location is None:
                raise Failure("DISC_HTTP_STATUS")
            url = urljoin(url, location)
            redirects += 1
            continue
        if status != 200:
            raise Failure("DISC_HTTP_STATUS")
        return cache_control, body


def refresh(server, issuer, fetched):
    _, body = fetch_document(server, issuer.rstrip("/") + "/.well-known/agent-attestation-issuer", LIMITS["metadata"], fetched)
    try:
        m = json.loads(body)
    except ValueError:
        raise Failure("JSON_SYNTAX")
    if not isinstance(m, dict) or not isinstance(m.get("issuer"), str):
        raise Failure("DISC_METADATA_INVALID")
    if m["issuer"] != issuer:
        raise Failure("DISC_ISSUER_MISMATCH")
    if not isinstance(m.get("jwks_uri"), str):
        raise Failure("DISC_METADATA_INVALID")
    if not is_https(m["jwks_uri"]):
        raise Failure("DISC_NOT_HTTPS")
    types = m.get("token_types")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or TOKEN_TYPE not in types:
        raise Failure("DISC_METADATA_INVALID")
    cache_control, body = fetch_document(server, m["jwks_uri"], LIMITS["jwks"], fetched)
    return parse_jwks(body), cache_lifetime(cache_control)


def run(issuer, responses, lookups):
    """The expected trace, or the code the op fails with before any lookup."""
    if not is_https(issuer):
        return None, "DISC_NOT_HTTPS"
    server = Server(responses)
    kids, fresh_until, last_attempt, failures, pause, pause_until = None, None, None, 0, 0, None
    trace = []
    for lk in lookups:
        now, kid = lk["at"], lk["kid"]
        if lk.get("iss", issuer) != issuer:
            trace.append({"fetched": [], "found": False, "error": "TOK_ISSUER_UNTRUSTED"})
            continue
        usable = kids if (kids is not None and now < fresh_until) else None
        due = usable is None or (kid not in usable and (last_attempt is None or now - last_attempt >= REFETCH))
        fetched, error = [], None
        if due and pause_until is not None and now < pause_until:
            error = "DISC_CIRCUIT_OPEN"
        elif due:
            last_attempt = now
            try:
                kids, ttl = refresh(server, issuer, fetched)
                fresh_until, failures, pause = now + ttl, 0, 0
            except Failure as f:
                error = f.code
                failures += 1
                if failures >= 3:
                    pause = 30 if pause == 0 else min(pause * 2, 600)
                    pause_until = now + pause
        found = kids is not None and now < fresh_until and kid in kids
        if not found and error is None:
            error = "TOK_KID_UNKNOWN"
        trace.append({"fetched": fetched, "found": found, "error": error})
    last = trace[-1]
    return trace, (None if last["found"] else last["error"])


# ------------------------------------------------------------------ vectors

def main():

    by_id = {}


    def scenario(id, description, covers, responses, lookups, issuer=ISSUER, base=None, mutation=None):
        trace, error = run(issuer, responses, lookups)
        inp = {"issuer": issuer, "responses": responses, "lookups": lookups}
        v = {"id": id, "op": OP, "description": description, "covers": covers, "input": inp}
        if error is None:
            assert base is None, id
            v["expected"] = {"result": "valid", "output": {"lookups": trace}}
        else:
            assert base in by_id, id
            v["expected"] = {"result": "invalid", "error": error}
            v["base"], v["mutation"] = base, mutation
        by_id[id] = v
        vectorlib.add(sections, S, **v)
        return v


    def base_responses(meta=None, jwks=None):
        return {META: meta or [ok(metadata())], JWKS_URI: jwks or [ok(keyset(KEY_A), cache_control="max-age=600")]}


    A_AT = [{"kid": KID_A, "at": 1000}]

    scenario("key-disc-base", "A first lookup fetches the metadata, then the key set it names, and finds the key.",
             ["KEY-011", "KEY-015"], base_responses(), A_AT)
    scenario("key-disc-issuer-trailing-slash",
             "An issuer URL ending in / has its metadata at the same well-known path; the metadata names it with the slash.",
             ["KEY-012"], {ISSUER + "/.well-known/agent-attestation-issuer": [ok(metadata(issuer=ISSUER + "/"))],
                           JWKS_URI: [ok(keyset(KEY_A))]}, A_AT, issuer=ISSUER + "/")


    def neg(id, mutation, covers, responses=None, lookups=A_AT, base="key-disc-base", issuer=ISSUER):
        scenario(id, f"Rejected: {mutation}.", covers, responses or base_responses(), lookups, issuer=issuer, base=base,
                 mutation=mutation)


    neg("key-disc-issuer-http", "the configured issuer URL is http", ["KEY-011"], issuer="http://issuer.example",
        responses={"http://issuer.example/.well-known/agent-attestation-issuer": [ok(metadata(issuer="http://issuer.example"))],
                   JWKS_URI: [ok(keyset(KEY_A))]})
    neg("key-disc-jwks-uri-http", "jwks_uri names an http URL", ["KEY-011"],
        base_responses(meta=[ok(metadata(jwks_uri="http://keys.issuer.example/jwks.json"))]))
    neg("key-disc-jwks-uri-uppercase-scheme", "jwks_uri names the key set's URL with its scheme written HTTPS: an https URL has its scheme in lowercase",
        ["KEY-011"], base_responses(meta=[ok(metadata(jwks_uri=JWKS_URI.replace("https://", "HTTPS://", 1))), ]))

    R1, R2, R3, R4 = (f"{ISSUER}/moved-{i}" for i in range(1, 5))
    scenario("key-disc-redirect-three", "Three redirects, the most allowed, each to an https URL (one relative), are followed.",
             ["KEY-022"], {META: [{"status": 301, "location": R1}], R1: [{"status": 302, "location": "/moved-2"}],
                           R2: [{"status": 308, "location": R3}], R3: [ok(metadata())],
                           JWKS_URI: [ok(keyset(KEY_A))]}, A_AT)
    neg("key-disc-redirect-four", "a fourth redirect", ["KEY-022"],
        {META: [{"status": 301, "location": R1}], R1: [{"status": 302, "location": "/moved-2"}],
         R2: [{"status": 308, "location": R3}], R3: [{"status": 307, "location": R4}], R4: [ok(metadata())],
         JWKS_URI: [ok(keyset(KEY_A))]}, base="key-disc-redirect-three")
    neg("key-disc-redirect-four-no-location", "a fourth redirect, without a Location", ["KEY-022"],
        {META: [{"status": 301, "location": R1}], R1: [{"status": 302, "location": "/moved-2"}],
         R2: [{"status": 308, "location": R3}], R3: [{"status": 307}], R4: [ok(metadata())],
         JWKS_URI: [ok(keyset(KEY_A))]}, base="key-disc-redirect-three")
    neg("key-disc-redirect-to-http", "the first redirect leads to an http URL", ["KEY-022"],
        {META: [{"status": 301, "location": "http://issuer.example/moved-1"}], "http://issuer.example/moved-1": [ok(metadata())],
         R1: [{"status": 302, "location": "/moved-2"}], R2: [{"status": 308, "location": R3}], R3: [ok(metadata())],
         JWKS_URI: [ok(keyset(KEY_A))]}, base="key-disc-redirect-three")
    neg("key-disc-redirect-no-location", "the first redirect has no Location", ["KEY-022"],
        {META: [{"status": 301}], R1: [{"status": 302, "location": "/moved-2"}], R2: [{"status": 308, "location": R3}],
         R3: [ok(metadata())], JWKS_URI: [ok(keyset(KEY_A))]}, base="key-disc-redirect-three")

    neg("key-disc-issuer-mismatch", "the metadata names a look-alike issuer", ["KEY-012"],
        base_responses(meta=[ok(metadata(issuer="https://issuer-example.com"))]))
    neg("key-disc-metadata-no-jwks-uri", "jwks_uri removed from the metadata", ["KEY-011"],
        base_responses(meta=[ok(metadata(jwks_uri=None))]))
    neg("key-disc-metadata-token-types", "token_types lists only another token type", ["KEY-011"],
        base_responses(meta=[ok(metadata(token_types=["application/jwt"]))]))
    neg("key-disc-metadata-not-object", "the metadata is a JSON array", ["KEY-011"],
        base_responses(meta=[ok(text([json.loads(metadata())]))]))
    neg("key-disc-metadata-not-json", "the metadata body is not JSON", ["KEY-011"],
        base_responses(meta=[ok("<html>issuer</html>")]))
    neg("key-disc-jwks-404", "the key set answers 404", ["KEY-011"], base_responses(jwks=[{"status": 404, "body": "not found"}]))
    neg("key-disc-transport", "the key set's host does not answer", ["KEY-011"], base_responses(jwks=[{"transport_error": True}]))
    neg("key-disc-jwks-bad-key", "a second key carrying its private part added to the set (the whole set is rejected)",
        ["KEY-013"], base_responses(jwks=[ok(keyset(KEY_A, dict(KEY_B, d=b64u(bytes([0xB2]) * 32))))]))

    scenario("key-disc-metadata-at-limit", "Metadata of exactly 16,384 bytes is accepted.", ["KEY-014"],
             base_responses(meta=[ok(metadata(), pad_to=16384)]), A_AT)
    neg("key-disc-metadata-over-limit", "the metadata padded to 16,385 bytes", ["KEY-014"],
        base_responses(meta=[ok(metadata(), pad_to=16385)]), base="key-disc-metadata-at-limit")
    scenario("key-disc-jwks-at-limit", "A key set of exactly 65,536 bytes is accepted.", ["KEY-014"],
             base_responses(jwks=[ok(keyset(KEY_A), pad_to=65536)]), A_AT)
    neg("key-disc-jwks-over-limit", "the key set padded to 65,537 bytes", ["KEY-014"],
        base_responses(jwks=[ok(keyset(KEY_A), pad_to=65537)]), base="key-disc-jwks-at-limit")


    def lifetime_case(id, description, header, ttl):
        jwks = [ok(keyset(KEY_A), **({"cache_control": header} if header is not None else {}))]
        scenario(id, description, ["KEY-015", "KEY-021"], base_responses(jwks=jwks),
                 [{"kid": KID_A, "at": 1000}, {"kid": KID_A, "at": 1000 + ttl - 1}, {"kid": KID_A, "at": 1000 + ttl}])


    lifetime_case("key-disc-cache-max-age", "max-age=600 keeps the set 600 s: no fetch 1 s before, a refresh at the end.",
                  "max-age=600", 600)
    lifetime_case("key-disc-cache-clamp-low", "max-age=10 is raised to the 300 s minimum.", "max-age=10", 300)
    lifetime_case("key-disc-cache-clamp-high", "max-age of a week is lowered to the 86,400 s maximum.", "public, max-age=604800", 86400)
    lifetime_case("key-disc-cache-absent", "Without Cache-Control the set is kept 3,600 s.", None, 3600)
    lifetime_case("key-disc-cache-no-store", "no-store keeps the set for the 300 s minimum.", "no-store", 300)
    lifetime_case("key-disc-cache-spaces-and-case", "Directive names ignore case, and spaces around = are ignored.",
                  " MAX-AGE = 900 ", 900)
    lifetime_case("key-disc-cache-no-store-wins", "no-store after a max-age still means the 300 s minimum.",
                  "max-age=900, no-store", 300)
    lifetime_case("key-disc-cache-first-max-age", "The first max-age counts; a malformed first one means the default.",
                  "max-age=\"600\", max-age=900", 3600)

    scenario("key-disc-unknown-kid-refetch",
             "An unknown kid 30 s after the fetch does not refetch; at 60 s it does, and the rotated set holds it.",
             ["KEY-016"], base_responses(jwks=[ok(keyset(KEY_A)), ok(keyset(KEY_A, KEY_B))]),
             [{"kid": KID_A, "at": 1000}, {"kid": KID_B, "at": 1030}, {"kid": KID_B, "at": 1060}])
    scenario("key-disc-unknown-kid-rate",
             "A stream of unknown kids fetches at most once per 60 s; the known key stays usable throughout.",
             ["KEY-016"], base_responses(),
             [{"kid": KID_B, "at": 1000}, {"kid": "unknown-1", "at": 1010}, {"kid": "unknown-2", "at": 1059},
              {"kid": "unknown-3", "at": 1060}, {"kid": "unknown-4", "at": 1061}, {"kid": KID_A, "at": 1062}])
    scenario("key-disc-keep-previous-bad-set",
             "A refetched set with a bad key is rejected whole; the previous set stays in use.",
             ["KEY-013"], base_responses(jwks=[ok(keyset(KEY_A)), ok(keyset(KEY_A, dict(KEY_B, d=b64u(bytes([0xB2]) * 32))))]),
             [{"kid": KID_A, "at": 1000}, {"kid": KID_B, "at": 1100}, {"kid": KID_A, "at": 1101}])
    scenario("key-disc-keep-previous-mismatch",
             "Refetched metadata naming another issuer is rejected; the previous set stays in use.",
             ["KEY-012"], base_responses(meta=[ok(metadata()), ok(metadata(issuer="https://issuer.example.evil"))]),
             [{"kid": KID_A, "at": 1000}, {"kid": KID_B, "at": 1100}, {"kid": KID_A, "at": 1101}])

    EXPIRY = [{"kid": KID_A, "at": 1000}, {"kid": KID_A, "at": 1300}]
    scenario("key-disc-expiry-refresh", "At the end of its 300 s lifetime the set is refreshed.", ["KEY-021"],
             base_responses(jwks=[ok(keyset(KEY_A), cache_control="max-age=300")]), EXPIRY)
    neg("key-disc-expiry-no-stale", "the refresh at the end of the lifetime answers 500, and the expired set is not used",
        ["KEY-021"], base_responses(jwks=[ok(keyset(KEY_A), cache_control="max-age=300"), {"status": 500}]),
        lookups=EXPIRY, base="key-disc-expiry-refresh")

    DOWN = {"transport_error": True}
    CIRCUIT = [{"kid": KID_A, "at": t} for t in (1000, 1001, 1002, 1010, 1032)]
    scenario("key-disc-circuit-pause",
             "Three failed refreshes pause fetching 30 s: nothing is fetched at 1010; at 1032 a fetch succeeds.",
             ["KEY-020"], base_responses(meta=[DOWN, DOWN, DOWN, ok(metadata())]), CIRCUIT)
    neg("key-disc-circuit-open", "the last lookup moved to 1031, inside the pause", ["KEY-020"],
        base_responses(meta=[DOWN, DOWN, DOWN, ok(metadata())]), lookups=CIRCUIT[:-1] + [{"kid": KID_A, "at": 1031}],
        base="key-disc-circuit-pause")
    scenario("key-disc-circuit-doubling",
             "A failed fetch after the pause pauses again for 60 s; the issuer recovers at the end of it.",
             ["KEY-020"], base_responses(meta=[DOWN, DOWN, DOWN, DOWN, ok(metadata())]),
             [{"kid": KID_A, "at": t} for t in (1000, 1001, 1002, 1032, 1091, 1092)])
    scenario("key-disc-untrusted-issuer",
             "A token naming an issuer that is not configured causes no fetch, even where that issuer publishes keys.",
             ["KEY-023"], dict(base_responses(), **{"https://other.example/.well-known/agent-attestation-issuer":
                                                    [ok(metadata(issuer="https://other.example"))]}),
             [{"iss": "https://other.example", "kid": KID_A, "at": 1000}, {"kid": KID_A, "at": 1001}])
    vectorlib.write(sections, documents=["keys.md"], strict=False)


if __name__ == "__main__":
    main()
