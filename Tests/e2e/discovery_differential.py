#!/usr/bin/env python3
"""Differential test of key discovery (spec/keys.md, op `keys.discovery`).

Generates random scripted issuers (redirect chains, statuses, transport failures,
Cache-Control headers, oversized bodies, bad keys, look-alike metadata) and random lookup
schedules, and runs each through three implementations written apart from each other:
the model in scripts/author_discovery_vectors.py, the Swift reference (`attest impl`)
and the Python example (conformance/examples/python), both in JSON lines mode. Every
case must get the same result, code and per-lookup trace from all three.

Usage: discovery_differential.py ATTEST_BINARY [CASES] [SEED]
"""
import json, pathlib, random, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import author_discovery_vectors as model  # noqa: E402

ISSUER = model.ISSUER
HOP = [f"{ISSUER}/hop-{i}" for i in range(4)]
URLS = [model.META, model.JWKS_URI, *HOP]
KEYS = {"A": model.KEY_A, "B": model.KEY_B}
BAD = dict(model.KEY_B, d=model.b64u(bytes([7]) * 32))
HEADERS = [None, "max-age=600", "max-age=0", "max-age=10", "max-age=299", "max-age=301", "max-age=86401",
           "public, max-age=1200", "no-store", "max-age=900, no-cache", " MAX-AGE = 450 ", "max-age=\"600\"",
           "max-age=12x", "max-age=", "s-maxage=600", "max-age=99999999999999999999999", "private"]


def response(rng):
    kind = rng.choices(["meta", "jwks", "redirect", "status", "down"], [4, 4, 2, 1, 1])[0]
    if kind == "meta":
        changes = rng.choice([{}, {}, {}, {"issuer": "https://issuer.example.evil"}, {"jwks_uri": None},
                              {"jwks_uri": "http://keys.issuer.example/jwks.json"}, {"jwks_uri": rng.choice(HOP)},
                              {"token_types": []}, {"token_types": ["agent-attestation+jwt", 7]}])
        r = {"body": model.metadata(**changes)}
        if rng.random() < 0.1:
            r["pad_to"] = rng.choice([16383, 16384, 16385])
        if rng.random() < 0.05:
            r["body"] = rng.choice(["[]", "{", "null", '{"issuer": 1}'])
    elif kind == "jwks":
        keys = [KEYS[k] for k in rng.sample(["A", "B"], rng.randint(0, 2))]
        if rng.random() < 0.1:
            keys.append(BAD)
        r = {"body": model.keyset(*keys)}
        header = rng.choice(HEADERS)
        if header is not None:
            r["cache_control"] = header
        if rng.random() < 0.1:
            r["pad_to"] = rng.choice([65535, 65536, 65537])
    elif kind == "redirect":
        r = {"status": rng.choice([301, 302, 303, 307, 308])}
        target = rng.choice([*HOP, model.META, model.JWKS_URI, "/hop-1", "hop-2", "http://issuer.example/hop-0", None])
        if target is not None:
            r["location"] = target
    elif kind == "status":
        r = {"status": rng.choice([200, 204, 304, 404, 500, 503]), "body": "{}"}
    else:
        r = {"transport_error": True}
    if "status" not in r and rng.random() < 0.05:
        r["status"] = 200
    return r


def good(url, rng):
    """What a working issuer serves at url."""
    if url == model.META:
        return {"body": model.metadata()}
    if url == model.JWKS_URI:
        r = {"body": model.keyset(*[KEYS[k] for k in rng.choice([["A"], ["A"], ["A", "B"], ["B"]])])}
        header = rng.choice(HEADERS)
        return r if header is None else dict(r, cache_control=header)
    return response(rng)


def case(rng):
    hostile = rng.random() < 0.3
    responses = {url: [good(url, rng) if rng.random() < (0.3 if hostile else 0.8) else response(rng)
                       for _ in range(rng.randint(1, 4))]
                 for url in URLS if rng.random() < 0.9}
    now, lookups = 1000, []
    for _ in range(rng.randint(1, 8)):
        now += rng.choice([0, 1, 2, 29, 30, 31, 59, 60, 61, 299, 300, 301, 600, 3599, 3600, 86400])
        lookup = {"kid": rng.choice([model.KID_A, model.KID_A, model.KID_B, "unknown"]), "at": now}
        if rng.random() < 0.05:
            lookup["iss"] = "https://other.example"
        lookups.append(lookup)
    issuer = ISSUER if rng.random() < 0.97 else "http://issuer.example"
    return {"issuer": issuer, "responses": responses, "lookups": lookups}


def expected(inp):
    trace, error = model.run(inp["issuer"], inp["responses"], inp["lookups"])
    return {"result": "invalid", "error": error} if error else {"result": "valid", "output": {"lookups": trace}}


def run_jsonl(command, inputs):
    lines = "".join(json.dumps({"op": "keys.discovery", "context": {}, "input": i}) + "\n" for i in inputs)
    out = subprocess.run(command + ["--jsonl"], input=lines, capture_output=True, text=True, check=True, timeout=600)
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(answers) == len(inputs), f"{command[0]}: {len(answers)} answers to {len(inputs)} requests"
    return answers


def same(want, got):
    if got.get("result") != want["result"]:
        return False
    if want["result"] == "invalid":
        return got.get("error") == want["error"]
    return got.get("output", {}).get("lookups") == want["output"]["lookups"]


def main():
    binary = sys.argv[1]
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rng = random.Random(seed)
    inputs = [case(rng) for _ in range(cases)]
    wants = [expected(i) for i in inputs]
    implementations = {"swift": [binary, "impl"],
                       "python": [sys.executable, str(ROOT / "conformance/examples/python/attest_impl.py")]}
    failures = 0
    for name, command in implementations.items():
        answers = run_jsonl(command, inputs)
        bad = [n for n, (w, g) in enumerate(zip(wants, answers)) if not same(w, g)]
        failures += len(bad)
        print(f"discovery differential: {name}: {cases - len(bad)}/{cases} agree with the model (seed {seed})")
        for n in bad[:3]:
            print(json.dumps({"input": inputs[n], "model": wants[n], name: answers[n]})[:4000])
    valid = sum(w["result"] == "valid" for w in wants)
    codes = sorted({w.get("error") for w in wants if w["result"] == "invalid"})
    print(f"discovery differential: {valid} valid, {cases - valid} invalid cases; codes seen: {', '.join(codes)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
