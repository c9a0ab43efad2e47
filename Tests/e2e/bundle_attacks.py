#!/usr/bin/env python3
"""End-to-end: a large bundle exported by `attest bundle demo` verifies PASS with
`attest bundle verify`, and each attack, applied to a copy of it, turns it FAIL with
the expected registry code, receipt and exit class.

Copies share unchanged files by hard link; a changed file is rewritten as a stream, so
memory stays flat whatever the bundle size. A bundle's receipt lines carry no signature
(bundle.md §Receipts without signatures): a lie the log key's holder tells is a log
re-chained and checkpointed again with the demo log key, whose seed is public: the demo
history's keys are fixed (DemoHistory in AttestEvidence).

Usage: bundle_attacks.py ATTEST_BINARY RECEIPTS WORKDIR
Prints one line per attack and `N passed, M failed` last.
"""
import base64, hashlib, json, os, shutil, subprocess, sys, time

import nacl.bindings
import rfc8785

attest, count, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = os.path.join(work, f"bundle-{count}")
LOG_SEED = bytes([0xA4]) * 32
AUTH_SEED = bytes([0xA1]) * 32
ORIGIN = "portal.example/log/0"


def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


_, LOG_SK = nacl.bindings.crypto_sign_seed_keypair(LOG_SEED)
LOG_PK = nacl.bindings.crypto_sign_seed_keypair(LOG_SEED)[0]
AUTH_PK = nacl.bindings.crypto_sign_seed_keypair(AUTH_SEED)[0]


def thumbprint(pk):
    return b64u(hashlib.sha256(rfc8785.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64u(pk)})).digest())


def vkey(name, pk):
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + pk).digest()[:4]
    return name + "+" + key_id.hex() + "+" + base64.b64encode(bytes([1]) + pk).decode()


def sign(receipt):
    """The receipt with its sig by the log key: the log's line, which a bundle line never is."""
    r = {k: v for k, v in receipt.items() if k != "sig"}
    msg = b"MCP-ATTEST-v1:receipt\x00" + rfc8785.dumps(r)
    r["sig"] = {"alg": "Ed25519", "kid": thumbprint(LOG_PK), "value": b64u(nacl.bindings.crypto_sign(msg, LOG_SK)[:64])}
    return r


def bundle_line(receipt):
    """A receipt's bundle line: its canonical form, without sig."""
    return rfc8785.dumps({k: v for k, v in receipt.items() if k != "sig"}).decode()


def note(size, root):
    """A checkpoint of the demo log signed by the log key."""
    body = f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG_PK).digest()[:4]
    sig = nacl.bindings.crypto_sign(body.encode(), LOG_SK)[:64]
    return body + "\n\u2014 " + ORIGIN + " " + base64.b64encode(key_id + sig).decode() + "\n"


def merkle_root(links):
    """RFC 6962 root over the leaves of `links` (merkle.md), folding a frontier."""
    stack = []
    for link in links:
        h, height = hashlib.sha256(b"\x00" + link).digest(), 0
        while stack and stack[-1][0] == height:
            h, height = hashlib.sha256(b"\x01" + stack.pop()[1] + h).digest(), height + 1
        stack.append((height, h))
    if not stack:
        return hashlib.sha256(b"").digest()
    h = stack.pop()[1]
    while stack:
        h = hashlib.sha256(b"\x01" + stack.pop()[1] + h).digest()
    return h


def ensure_base():
    # The cached bundle is reused only if this very binary wrote it: another build may write
    # another format or another demo history, and its verdicts would then mean nothing.
    marker = os.path.join(base, ".complete")
    with open(attest, "rb") as f:
        writer = hashlib.sha256(f.read()).hexdigest()
    if os.path.exists(marker):
        with open(marker) as f:
            if f.read().strip() == writer:
                return
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)  # `bundle demo` writes into an existing directory
    t = time.time()
    subprocess.run([attest, "bundle", "demo", "--receipts", str(count), "--out", base], check=True, stdout=subprocess.DEVNULL)
    with open(marker, "w") as f:
        f.write(writer + "\n")
    print(f"bundle of {count} receipts written by `attest bundle demo` in {time.time() - t:.1f} s", flush=True)


def clone(name, changed):
    """A copy of the base bundle sharing every file except those in `changed` by hard link."""
    out = os.path.join(work, "attack-" + name)
    shutil.rmtree(out, ignore_errors=True)
    for root, _, files in os.walk(base):
        rel = os.path.relpath(root, base)
        os.makedirs(os.path.join(out, rel), exist_ok=True)
        for f in files:
            path = os.path.normpath(os.path.join(rel, f))
            if path not in changed:
                os.link(os.path.join(root, f), os.path.join(out, path))
    return out


def rewrite(out, path, edit):
    """Streams base/path into out/path, passing (index, line) through `edit`, which returns a list of lines."""
    with open(os.path.join(base, path)) as src, open(os.path.join(out, path), "w") as dst:
        for i, line in enumerate(src):
            for new in edit(i, line.rstrip("\n")):
                dst.write(new + "\n")


def verify(bundle):
    run = subprocess.run([attest, "bundle", "verify", bundle, "--authority", thumbprint(AUTH_PK),
                          "--log-key", vkey(ORIGIN, LOG_PK), "--now", str(1_760_000_000 + 100_000_000)],
                         capture_output=True, text=True)
    # The verdict is the first line of the report.
    return run.returncode, run.stdout.strip().splitlines()[0] if run.stdout.strip() else run.stderr.strip()


R = "logs/0/receipts.jsonl"
P = "logs/0/payloads.jsonl"
C = "logs/0/checkpoints.jsonl"


def line_edit(target, fn):
    return lambda i, line: fn(line) if i == target else [line]


# The upstream the demo artifact pins (DemoHistory.unsignedArtifact).
DEMO_UPSTREAM = {"transport": "stdio", "executable_sha256": "ab" * 32}


def first_denied():
    with open(os.path.join(base, R)) as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            if r["decision"] == "DENY" and r["code"] != "PTL_RATE_LIMITED":
                return i, r["code"]


def last_denied():
    found = None
    with open(os.path.join(base, R)) as f:
        for i, line in enumerate(f):
            if '"decision":"DENY"' in line:
                r = json.loads(line)
                if r["code"] != "PTL_RATE_LIMITED":
                    found = i, r["code"]
    return found


def relog(out, k, change):
    """The log the log key's holder would write with receipt k changed: the receipts after
    it re-chained, and one checkpoint over them all signed by the log key."""
    links = []
    with open(os.path.join(base, R)) as src, open(os.path.join(out, R), "w") as dst:
        for i, line in enumerate(src):
            line = line.rstrip("\n")
            if i >= k:
                r = json.loads(line)
                if i == k:
                    change(r)
                else:
                    r["prev"] = b64u(links[-1])
                line = bundle_line(r)
            links.append(hashlib.sha256(line.encode()).digest())
            dst.write(line + "\n")
    with open(os.path.join(out, C), "w") as f:
        f.write(json.dumps({"note": note(len(links), merkle_root(links))}) + "\n")


def checkpoints():
    with open(os.path.join(base, C)) as f:
        return [json.loads(l) for l in f]


def attacks():
    def set_field(field, value):
        def fn(line):
            r = json.loads(line); r[field] = value; return [json.dumps(r, separators=(",", ":"))]
        return fn
    def swap_10_11(out):
        held = {}
        def edit(i, line):
            if i == 10:
                held["line"] = line
                return []
            return [line, held["line"]] if i == 11 else [line]
        rewrite(out, R, edit)
    yield "reordered", {R}, swap_10_11, 12, "RCP_SEQUENCE_GAP", 11
    yield "deleted", {R}, lambda o: rewrite(o, R, lambda i, l: [] if i == 10 else [l]), 12, "RCP_SEQUENCE_GAP", 11
    yield "duplicated", {R}, lambda o: rewrite(o, R, lambda i, l: [l, l] if i == 10 else [l]), 12, "RCP_SEQUENCE_DUPLICATE", 10
    # Receipt lines carry no signature: a field edited in place changes the receipt's link,
    # which the next receipt's prev no longer names (it was RCP_SIGNATURE_INVALID at 20).
    yield "field-tampered", {R}, lambda o: rewrite(o, R, line_edit(20, set_field("session", "x"))), 12, "RCP_CHAIN_BROKEN", 21
    yield "rewritten-by-log-key", {R}, lambda o: rewrite(o, R, line_edit(30, lambda l: [bundle_line(dict(json.loads(l), session="x"))])), 12, "RCP_CHAIN_BROKEN", 31
    # A line carrying its sig, valid and by the log key: malformed in a bundle (BND-040).
    yield "receipt-line-signed", {R}, lambda o: rewrite(o, R, line_edit(50, lambda l: [json.dumps(sign(json.loads(l)), separators=(",", ":"))])), 10, "RCP_MALFORMED", 50
    def swap_payload(line):
        p = json.loads(line); p["request"]["arguments"]["query"] = "swapped"; return [json.dumps(p)]
    yield "payload-swapped", {P}, lambda o: rewrite(o, P, line_edit(40, swap_payload)), 15, "RCP_COMMITMENT_MISMATCH", 40
    yield "wrong-salt", {P}, lambda o: rewrite(o, P, line_edit(41, set_field("request_salt", b64u(bytes(32))))), 15, "RCP_COMMITMENT_MISMATCH", 41
    def flip(r):
        # The lying portal also records the pinned upstream, so that only the re-evaluation catches it.
        r["decision"] = "ALLOW"; r.pop("code"); r["upstream"] = DEMO_UPSTREAM
    k, code = first_denied()
    # Flipped in place, not re-chained: the log is not authenticated, and that is reported
    # first (BND-041), not the enforcement code (it was the enforcement code with a re-signed line).
    yield "allow-flipped-in-place", {R}, lambda o: rewrite(o, R, line_edit(k, lambda l: [bundle_line((lambda r: (flip(r), r)[1])(json.loads(l)))])), 12, "RCP_CHAIN_BROKEN", k + 1
    # Flipped by the log key's holder, the log re-chained and checkpointed again: only the
    # re-evaluation catches it (the last such denial, so that little is re-chained).
    k2, code2 = last_denied()
    yield f"allow-forbidden-{code2.lower()}", {R, C}, lambda o: relog(o, k2, flip), 14, code2, k2
    cps = checkpoints()
    first, last = cps[0]["note"], cps[-1]["note"]
    def cp_append(entry):
        return lambda o: rewrite(o, C, lambda i, l: [l, json.dumps(entry)] if i == len(cps) - 1 else [l])
    yield "rollback", {C}, cp_append({"note": first}), 12, "CKP_ROLLBACK", None
    if len(cps) > 1:
        def forked(note):
            lines = note.split("\n"); lines[2] = base64.b64encode(hashlib.sha256(b"fork").digest()).decode()
            body = "\n".join(lines[:3]) + "\n"
            key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG_PK).digest()[:4]
            sig = nacl.bindings.crypto_sign(body.encode(), LOG_SK)[:64]
            return body + "\n\u2014 " + ORIGIN + " " + base64.b64encode(key_id + sig).decode() + "\n"
        yield "forked", {C}, cp_append({"note": forked(last)}), 12, "CKP_EQUIVOCATION", None
        def bad_consistency(line):
            e = json.loads(line); e["consistency"][0] = b64u(bytes(32)); return [json.dumps(e)]
        yield "bad-consistency", {C}, lambda o: rewrite(o, C, line_edit(1, bad_consistency)), 12, "MRK_CONSISTENCY_INVALID", None
    yield "truncated", {R}, lambda o: rewrite(o, R, lambda i, l: [] if i >= count - 3 else [l]), 12, "BND_SIZE_MISMATCH", None


ensure_base()
passed = failed = 0
t = time.time()
status, line = verify(base)
ok = status == 0 and line.startswith("PASS")
print(f"{'ok  ' if ok else 'FAIL'} unmodified bundle: exit {status}: {line} ({time.time() - t:.1f} s)", flush=True)
passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
for name, changed, apply, exit_class, code, seq in attacks():
    out = clone(name, changed)
    apply(out)
    t = time.time()
    status, line = verify(out)
    ok = status == exit_class and line.startswith(f"FAIL {code}") and (seq is None or f" seq {seq}:" in line)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {status}: {line[:140]} ({time.time() - t:.1f} s)", flush=True)
    passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    shutil.rmtree(out, ignore_errors=True)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
