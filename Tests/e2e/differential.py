#!/usr/bin/env python3
"""Differential test of the two implementations: random well-formed and mutated objects
of every kind go through the Swift reference (`attest impl --jsonl`) and the Python
example (conformance/examples/python), which must return the same verdict and the same
registry code on every input, and equal values for the outputs both return.

Objects are built with the vector authoring model (scripts/author_evidence_vectors.py and
scripts/author_identity_vectors.py, imported with writing turned off): receipts,
disclosures, checkpoints, consistency of checkpoints, artifacts, mandate chains,
evaluations, bundles, tokens, proofs and requests. Each is then mutated at random (a
member dropped, added, retyped or nudged to a boundary; a string made canonically
equivalent or padded; a number written as 1.0 or 1e0; lines of a note edited) and, most
of the time, signed again with the right key, so the mutation reaches the structural
and semantic checks behind the signature rather than stopping at it. ML-DSA-65
signatures made by the Swift code are checked by both implementations.

The run is deterministic for a seed. Every disagreement is written to OUT/mismatches.jsonl
with the request that shows it; any disagreement, unsupported op or harness error fails
the run, and so does a kind whose cases were all valid or all rejected for one reason
(a generator that cannot find a defect tests nothing).

Usage: differential.py ATTEST [CASES_PER_KIND] [SEED] [OUT]
"""
from __future__ import annotations

import copy
import json
import pathlib
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.dont_write_bytecode = True

import vectorlib  # noqa: E402

vectorlib.write = lambda *args, **kwargs: None  # build the model, write no vectors
import author_evidence_vectors as ev  # noqa: E402
import author_identity_vectors as idv  # noqa: E402

PYTHON_IMPL = ROOT / "conformance/examples/python/attest_impl.py"


# ----------------------------------------------------------------------------- numbers

class Raw:
    """A JSON number written with a chosen spelling (1.0, 1e0, -0): sent as is, signed as its value."""

    def __init__(self, text: str, value):
        self.text, self.value = text, value

    def __deepcopy__(self, memo):
        return self


def plain(v):
    """The value with every Raw replaced by its number (what a signer canonicalizes)."""
    if isinstance(v, Raw):
        return v.value
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def dumps(v) -> str:
    raws = []

    def mark(x):
        if isinstance(x, Raw):
            raws.append(x.text)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(x, dict):
            return {k: mark(y) for k, y in x.items()}
        if isinstance(x, list):
            return [mark(y) for y in x]
        return x

    text = json.dumps(mark(v), separators=(",", ":"), ensure_ascii=True)
    for i, r in enumerate(raws):
        text = text.replace(f'"@@RAW{i}@@"', r)
    return text


def bundle_files(inp):
    """A bundle.verify input built as values (the authoring model), with its files as the
    op takes them (conformance.md): each file that is an array of values becomes the hex
    of one line per value, written by dumps (so a number keeps its chosen spelling). A
    member that is not an array stays as it is, which both implementations must refuse
    alike."""
    if not isinstance(inp, dict):
        return inp

    def file(values):
        if not isinstance(values, list):
            return values
        return b"".join(dumps(v).encode() + b"\n" for v in values).hex()

    out = dict(inp)
    if "artifacts" in out:
        out["artifacts"] = file(out["artifacts"])
    if isinstance(out.get("logs"), list):
        logs = []
        for log in out["logs"]:
            if isinstance(log, dict):
                log = {k: file(v) if k in ("receipts", "checkpoints", "payloads") else v for k, v in log.items()}
            logs.append(log)
        out["logs"] = logs
    return out


def jcs(v) -> bytes:
    # JCS serializes numbers as doubles; integers beyond 2^53 are signed as the double they denote.
    def doubles(x):
        if isinstance(x, bool) or x is None:
            return x
        if isinstance(x, int) and abs(x) > 2 ** 53 - 1:
            return float(x)
        if isinstance(x, dict):
            return {k: doubles(y) for k, y in x.items()}
        if isinstance(x, list):
            return [doubles(y) for y in x]
        return x
    return ev.jcs(doubles(plain(v)))


# ----------------------------------------------------------------------------- mutation

KELVIN = "\u212a"


def string_variants(s: str, rng: random.Random) -> list:
    out = ["", s + " ", " " + s, s.upper(), s + "\u0000", s + "\u00e9", s * 3, "x" * 300]
    if "k" in s.lower():
        i = s.lower().index("k")
        out.append(s[:i] + KELVIN + s[i + 1:])
    if "e" in s:
        out.append(s.replace("e", "e\u0301", 1))
    if s:
        out.append(s[:-1])
        out.append(s[:-1] + chr((ord(s[-1]) + 1) % 0x7F or 0x41))
    return out


def number_variants(n, rng: random.Random) -> list:
    out = [Raw(f"{n}.0", n) if isinstance(n, int) else n, -1, 0, -0.0, n + 1 if isinstance(n, int) else n, n - 1 if isinstance(n, int) else n,
           2 ** 53, 2 ** 53 + 1, 2 ** 63, 2 ** 64, 1.5, Raw("1e0", 1), Raw("-0", 0), str(n), True, None]
    if isinstance(n, int):
        out.append(Raw(f"{n}e0", n))
    return out


def random_value(rng: random.Random):
    return rng.choice([None, True, False, 0, -1, 1.5, "", "x", [], {}, ["x"], {"a": 1}, 2 ** 70, "AAAA"])


def paths(v, prefix=()):
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, prefix + (i,))


def get(v, path):
    for p in path:
        v = v[p]
    return v


def mutate(obj, rng: random.Random, skip=("sig",)) -> str:
    """Applies one random mutation to obj in place; returns what it did."""
    candidates = [p for p in paths(obj) if p and p[0] not in skip]
    if not candidates:
        return "nothing"
    path = rng.choice(candidates)
    parent, key = get(obj, path[:-1]), path[-1]
    value = parent[key]
    roll = rng.random()
    if roll < 0.15 and isinstance(parent, dict):
        del parent[key]
        return f"dropped {'/'.join(map(str, path))}"
    if roll < 0.25 and isinstance(parent, dict):
        parent[rng.choice(["extra", "Extra", key + " ", "x-" + str(key)])] = random_value(rng)
        return f"added a member beside {'/'.join(map(str, path))}"
    if roll < 0.35 and isinstance(parent, list):
        op = rng.choice(["dup", "drop", "reverse", "clear"])
        if op == "dup":
            parent.insert(key, copy.deepcopy(value))
        elif op == "drop":
            parent.pop(key)
        elif op == "reverse":
            parent.reverse()
        else:
            parent.clear()
        return f"{op} in list {'/'.join(map(str, path[:-1]))}"
    if isinstance(value, bool) or value is None:
        parent[key] = random_value(rng)
    elif isinstance(value, (int, float)):
        parent[key] = rng.choice(number_variants(value, rng))
    elif isinstance(value, str):
        parent[key] = rng.choice(string_variants(value, rng) + [random_value(rng)])
    else:
        parent[key] = random_value(rng)
    return f"changed {'/'.join(map(str, path))}"


# ----------------------------------------------------------------------------- signing

def resign_receipt(r, key=None):
    key = key or ev.LOG
    r.pop("sig", None)
    r["sig"] = {"alg": "Ed25519", "kid": key.thumbprint, "value": ev.b64u(key.sign(ev.domain("receipt", jcs(r))))}


def reseal(o, key, label):
    o = {k: v for k, v in o.items() if k != "sig"}
    o["sig"] = {"alg": "Ed25519", "jwk": dict(key.jwk, kid=key.thumbprint), "value": ev.b64u(key.sign(ev.domain(label, jcs(o))))}
    return o


def link(r):
    return ev.sha(jcs({k: v for k, v in r.items() if k != "sig"}))


# ----------------------------------------------------------------------------- generators
# Each returns (op, context, input).

DECISIONS = ["ALLOW", "ALLOW", "DENY", "PHANTOM", "RESULT", "OPEN"]
OTHER_METHODS = ["tools/list", "resources/read", "prompts/get", "completion/complete"]


def random_receipt(rng, seq=None, prev=None, t=None):
    seq = rng.choice([0, 1, 5, 70]) if seq is None else seq
    prev = (b"\x00" * 32 if seq == 0 else bytes([rng.randrange(256)]) * 32) if prev is None else prev
    t = ev.T0 + rng.randrange(0, 100) if t is None else t
    d = rng.choice(DECISIONS)
    method = "tools/call" if rng.random() < 0.8 else rng.choice(OTHER_METHODS)
    tool = rng.choice(["search", "read_file", "Kill_job"]) if method == "tools/call" else None
    kw = dict(tool=tool, method=method, salts=(bytes([rng.randrange(256)]) * 32, bytes([rng.randrange(256)]) * 32))
    if d == "OPEN":
        kw.update(open_call=True, upstream=ev.UPSTREAM if rng.random() < 0.5 else None)
        d = "ALLOW"
    elif d == "ALLOW":
        if rng.random() < 0.3:
            kw["upstream"] = ev.UPSTREAM if rng.random() < 0.6 else upstream_files(rng)
        if rng.random() < 0.2:
            kw["tools_sha256"] = ev.b64u(ev.sha(b"tools"))
        if rng.random() < 0.2:
            kw["shadow"] = rng.choice(["PTL_TOOL_NOT_ALLOWED", "PTL_RATE_LIMITED"])
    elif d in ("DENY", "PHANTOM"):
        kw["code"] = rng.choice(["PTL_RATE_LIMITED", "PTL_TOOL_NOT_ALLOWED", "PTL_UPSTREAM_DRIFT"])
    else:  # RESULT
        seq = max(seq, 1)
        kw.update(call=rng.randrange(seq), code=rng.choice([None, None, "PTL_UPSTREAM_FAILED", "PTL_OUTCOME_UNKNOWN"]))
    if rng.random() < 0.1:
        kw["agent"] = {"sub": "spiffe://agents.example/other", "jkt": ev.OTHER.thumbprint}
    if kw.get("tool") is None:
        kw.pop("tool")
        kw["tool"] = None
    r, _, payload = ev.receipt(seq, prev, t, decision=d, **kw)
    return copy.deepcopy(r), copy.deepcopy(payload)  # the model shares members (upstream) with its artifact


def gen_receipt(rng):
    if rng.random() < 0.1:  # a REVOKE: no request, exactly its members (receipt.md §Revocation)
        r = copy.deepcopy(ev.revoke_receipt(rng.choice([1, 5]), bytes([rng.randrange(256)]) * 32, ev.T0 + rng.randrange(100),
                                            ev.digest(ev.ART)))
    else:
        r, _ = random_receipt(rng)
    if rng.random() < 0.85:
        for _ in range(rng.choice([1, 1, 2])):
            mutate(r, rng)
        if rng.random() < 0.75:
            resign_receipt(r, ev.OTHER if rng.random() < 0.05 else None)
    elif rng.random() < 0.5:
        mutate(r["sig"], rng, skip=())
    key = ev.LOG.vkey(ev.ORIGIN) if rng.random() < 0.9 else rng.choice([ev.OTHER.vkey(ev.ORIGIN), ev.LOG.vkey("other"), "not a key"])
    return "receipt.verify", {}, {"receipt": r, "log_key": key}


def gen_disclosure(rng):
    r, payload = random_receipt(rng)
    disclosure = {k: v for k, v in payload.items() if k != "seq"}
    if rng.random() < 0.8:
        target = rng.choice(["disclosure", "disclosure", "receipt"])
        if target == "disclosure" and disclosure:
            mutate(disclosure, rng, skip=())
        else:
            mutate(r, rng)
            resign_receipt(r)
    if rng.random() < 0.1:
        disclosure["request_salt"] = ev.b64u(b"\x11" * 16)
    return "receipt.disclosure", {}, dict(disclosure, receipt=r)


LEAVES = [bytes([i]) * 8 for i in range(16)]


def note_text(rng, size, root, origin=ev.ORIGIN, extensions=(), signers=None):
    body = f"{origin}\n{size}\n{ev.base64.b64encode(root).decode()}\n" + "".join(e + "\n" for e in extensions)
    signers = signers if signers is not None else [(ev.LOG, origin)]
    return body, signers


def assemble(body, signers, sign_body=None):
    sign_body = body if sign_body is None else sign_body
    sigs = "".join(k.note_sig(n, sign_body) for k, n in signers)
    return body + "\n" + sigs


def gen_checkpoint(rng):
    size = rng.choice([0, 1, 7, 16])
    root = ev.mth(LEAVES[:size]) if size else ev.sha(b"")
    extensions = rng.choice([(), (), ("ext one",), ("a", "b")])
    body, signers = note_text(rng, size, root, extensions=extensions)
    if rng.random() < 0.2:
        signers = signers + [(ev.OTHER, rng.choice(["witness.example", ev.ORIGIN]))]
    text_edit = rng.random()
    if text_edit < 0.5:
        lines = body.split("\n")
        i = rng.randrange(len(lines))
        choice = rng.choice(["size", "root", "origin", "line"])
        if choice == "size":
            lines[1] = rng.choice(["0" + lines[1], "+" + lines[1], lines[1] + " ", "-1", str(2 ** 64), "1e1", "", lines[1] + ".0"])
        elif choice == "root":
            lines[2] = rng.choice([lines[2][:-1], lines[2] + "A", lines[2].replace("+", "-").replace("/", "_"), "", ev.base64.b64encode(b"x" * 31).decode()])
        elif choice == "origin":
            lines[0] = rng.choice(["", lines[0] + "\r", lines[0] + " ", "other.example/log"])
        else:
            lines.insert(i, rng.choice(["", "extra", " "]))
        new_body = "\n".join(lines)
        resign = rng.random() < 0.7
        note = assemble(new_body, signers, new_body if resign else body)
    else:
        note = assemble(body, signers)
        if text_edit < 0.7:
            edit = rng.choice(["noblank", "crlf", "trail", "dupsig", "nosig", "sigspace"])
            if edit == "noblank":
                note = note.replace("\n\n", "\n", 1)
            elif edit == "crlf":
                note = note.replace("\n", "\r\n")
            elif edit == "trail":
                note = note + "\n"
            elif edit == "dupsig":
                note = note + note.split("\n\n", 1)[1]
            elif edit == "nosig":
                note = note.split("\n\n", 1)[0] + "\n\n"
            else:
                note = note.replace("\u2014 ", "\u2014  ", 1)
    trusted = [ev.LOG.vkey(ev.ORIGIN)]
    if rng.random() < 0.15:
        trusted = rng.choice([[], [ev.OTHER.vkey(ev.ORIGIN)], [ev.LOG.vkey(ev.ORIGIN), ev.OTHER.vkey("witness.example")],
                              [ev.LOG.vkey(ev.ORIGIN) + "="], [ev.LOG.vkey(ev.ORIGIN).replace("+", "+x+", 1)]])
    inp = {"note": note, "trusted": trusted}
    if rng.random() < 0.8:
        inp["origin"] = ev.ORIGIN if rng.random() < 0.9 else "other.example/log"
    return "checkpoint.verify", {}, inp


def gen_successor(rng):
    n = rng.choice([1, 3, 7, 8, 16])
    m = rng.choice([0, 0, 1, n // 2 or 1, n])
    root_m = ev.mth(LEAVES[:m]) if m else ev.sha(b"")
    root_n = ev.mth(LEAVES[:n])
    proof = [x.hex() for x in ev.subproof(m, LEAVES[:n], True)] if 0 < m < n else []
    earlier_origin = later_origin = ev.ORIGIN
    roll = rng.random()
    if roll < 0.15 and proof:
        proof[rng.randrange(len(proof))] = "00" * 32
    elif roll < 0.25:
        proof = proof + ["00" * 32]
    elif roll < 0.35 and proof:
        proof.pop()
    elif roll < 0.45:
        root_n = ev.mth(LEAVES[:n - 1] + [b"fork"])
    elif roll < 0.5:
        later_origin = "portal.example/log/other"
    elif roll < 0.6:
        m, n, root_m, root_n = n, m, root_n, root_m
    trusted = [ev.LOG.vkey(ev.ORIGIN)]
    if later_origin != ev.ORIGIN:
        trusted.append(ev.LOG.vkey(later_origin))
    earlier = assemble(*note_text(rng, m, root_m, earlier_origin))
    later = assemble(*note_text(rng, n, root_n, later_origin))
    return "checkpoint.successor", {}, {"earlier": earlier, "later": later, "consistency": proof, "trusted": trusted}


def upstream_files(rng):
    """A stdio upstream whose files_sha256 is well formed or off by one defect."""
    files = [rng.choice(["cd", "ef", "01"]) * 32 for _ in range(rng.choice([1, 2, 16, 17, 0]))]
    if files and rng.random() < 0.2:
        files[rng.randrange(len(files))] = rng.choice(["CD" * 32, "cd" * 31, 7, None])
    return dict(ev.UPSTREAM, files_sha256=rng.choice([files, files, files, "cd" * 32, {}]))


def gen_artifact(rng):
    art = copy.deepcopy(ev.ART_UNSIGNED)
    if rng.random() < 0.2:
        art["upstream"] = upstream_files(rng)
    if rng.random() < 0.6:
        chain_kind = "root"
        for _ in range(rng.choice([1, 1, 2])):
            mutate(art, rng)
        sealed = reseal(art, ev.AUTH if rng.random() < 0.9 else ev.OTHER, "artifact")
        chain = [sealed]
    else:
        chain_kind = "mandate"
        m = {k: v for k, v in ev.MAN.items() if k != "sig"}
        m = copy.deepcopy(m)
        for _ in range(rng.choice([1, 1, 2])):
            mutate(m, rng)
        chain = [ev.ART, reseal(m, ev.AGENT if rng.random() < 0.9 else ev.SUB, "mandate")]
        if rng.random() < 0.1:
            chain = [ev.ART] + [chain[1]] * 17
    if rng.random() < 0.15:
        # Drift rules: sequences and a burst, mutated at their bounds.
        art = {k: v for k, v in ev.drift_root(ev.FULL_RULES, "art-v1").items() if k != "sig"}
        drift = art["drift"]
        drift["sequences"] = drift["sequences"][rng.choice([0, 60, 63]):]
        for _ in range(rng.choice([1, 1, 2])):
            mutate(drift, rng)
        chain = [reseal(art, ev.AUTH, "artifact")]
    del chain_kind
    authorities = ev.AUTHS if rng.random() < 0.95 else [ev.OTHER.thumbprint]
    return "artifact.verify", {}, {"chain": chain, "authorities": authorities}


def random_arguments(rng, tool):
    base = {"search": {"query": "cats", "limit": 5}, "read_file": {"path": "/data/a"}, "Kill_job": {"Key": "k"},
            "transfer": {"amount_wei": 10}, "caf\u00e9": {}, "read_secret": {}, "send_email": {}}.get(tool, {"x": 1})
    args = copy.deepcopy(base)
    if rng.random() < 0.6 and args:
        mutate(args, rng, skip=())
    if rng.random() < 0.05:
        args = rng.choice([[], "x", None, 5])
    return args


def gen_evaluate(rng):
    tools = ["search", "read_file", "Kill_job", KELVIN + "ill_job", "transfer", "caf\u00e9", "cafe\u0301", "delete_file", "search "]
    tool = rng.choice(tools)
    t = ev.T0 + rng.choice([-1, 0, 1, 10, 59, 60, 61, 86399, 86400])
    history = [{"tool": rng.choice(tools[:3]), "time": t - rng.choice([0, 1, 30, 59, 60, 61])} for _ in range(rng.choice([0, 0, 2, 3, 4, 10]))]
    history.sort(key=lambda h: h["time"])
    call = {"tool": tool, "arguments": random_arguments(rng, tool), "time": t}
    if rng.random() < 0.05:
        call["time"] = Raw(f"{t}.0", t)
    if rng.random() < 0.4:
        return gen_evaluate_drift(rng)
    return "artifact.evaluate", {}, {"artifact": ev.ART, "history": history, "call": call}


def gen_evaluate_drift(rng):
    """A call under drift rules (sequences, a burst, a mandate's own burst) with a history
    over two sessions, some of it denied with a drift code."""
    tools = ["read_secret", "send_email", "search", "read_file", "caf\u00e9"]
    artifact, ancestors = rng.choice([(ev.D_SEQ, None), (ev.D_SEQ_PHANTOM, None), (ev.D_BURST, None), (ev.MDB, [ev.D_SEQ]),
                                      (ev.MD, [ev.D_SEQ])])
    t = ev.T0 + rng.choice([20, 30, 100, 309, 310])
    history = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
        entry = {"tool": rng.choice(tools), "time": t - rng.choice([0, 1, 5, 9, 10, 11, 99, 100, 299, 300])}
        if rng.random() < 0.6:
            entry["session"] = rng.choice(["s1", "s2"])
        if rng.random() < 0.1:
            entry["code"] = rng.choice(["PTL_BEHAVIOUR_DRIFT", "PTL_UPSTREAM_DRIFT", "PTL_RATE_LIMITED"])
        history.append(entry)
    history.sort(key=lambda h: h["time"])
    tool = rng.choice(tools)
    call = {"tool": tool, "arguments": random_arguments(rng, tool), "time": t}
    if rng.random() < 0.6:
        call["session"] = rng.choice(["s1", "s2"])
    inp = {"artifact": artifact, "history": history, "call": call}
    if ancestors:
        inp["ancestors"] = ancestors
    return "artifact.evaluate", {}, inp


def bundle_form(b, rng):
    """The bundle with its receipt lines in their bundle form, without sig (bundle.md
    BND-040); now and then one line keeps its sig, which both must refuse alike."""
    b = ev.unsigned_receipts(b) if rng.random() < 0.95 else b
    for log in b.get("logs", []) if isinstance(b, dict) else []:
        rs = log.get("receipts") if isinstance(log, dict) else None
        if isinstance(rs, list) and rs and all(isinstance(r, dict) for r in rs) and not any("sig" in r for r in rs):
            if rng.random() < 0.03:
                i = rng.randrange(len(rs))
                resign_receipt(rs[i])
    return b


def gen_bundle_drift(rng):
    """A log of calls of two sessions under drift rules: allowed, denied (a drift code or
    another), PHANTOM, of tools/call and tools/list; whether each ALLOW is one the rules
    let through is left to chance."""
    kinds = [ev.RS, ev.SE, ev.SR, ev.LS]
    calls, t = [], 10
    for _ in range(rng.randrange(1, 9)):
        t += rng.choice([0, 1, 5, 11, 300])
        decision = rng.choice(["ALLOW", "ALLOW", "ALLOW", "DENY", "PHANTOM"])
        code = None if decision == "ALLOW" else rng.choice(["PTL_BEHAVIOUR_DRIFT", "PTL_UPSTREAM_DRIFT", "PTL_RATE_LIMITED"])
        calls.append(ev.dcall(t, rng.choice(kinds), session=rng.choice(["s1", "s2"]), decision=decision, code=code,
                              art=rng.choice([ev.D_SEQ, ev.D_BURST])))
    return "bundle.verify", copy.deepcopy(ev.CTX), bundle_form(ev.dbundle(calls, (ev.D_SEQ, ev.D_BURST)), rng)


def gen_bundle(rng):
    if rng.random() < 0.25:
        return gen_bundle_drift(rng)
    n = rng.randrange(1, 8)
    times = {i: ev.T0 + 10 + rng.choice([0, 1, 30]) * i for i in range(n)}
    decisions = {i: "DENY" for i in range(n) if rng.random() < 0.25}
    sizes = sorted({rng.randrange(1, n + 1) for _ in range(rng.randrange(0, 3))} | {n})
    b = copy.deepcopy(ev.build(n=n, times=times, decisions=decisions, checkpoints=tuple((s,) for s in sizes)))
    context = copy.deepcopy(ev.CTX)
    log = b["logs"][0]
    roll = rng.random()
    what = "none"
    if roll < 0.35:
        i = rng.randrange(n)
        what = mutate(log["receipts"][i], rng)
        if rng.random() < 0.7:
            resign_receipt(log["receipts"][i])
            if rng.random() < 0.7:
                rechain(log, i + 1)
    elif roll < 0.5 and log["payloads"]:
        i = rng.randrange(len(log["payloads"]))
        what = mutate(log["payloads"][i], rng, skip=())
    elif roll < 0.6:
        what = mutate(log["checkpoints"], rng, skip=())
    elif roll < 0.68:
        b["artifacts"] = rng.choice([[ev.MAN], [ev.ART, ev.ART], [ev.MAN, ev.ART], [], [ev.ART, "x"]])
        what = "artifacts changed"
    elif roll < 0.75:
        context["now"] = ev.T0 + rng.choice([0, 50, 10 + 30 * (n - 1)])
        what = "verification time changed"
    elif roll < 0.82:
        order = list(range(n))
        rng.shuffle(order)
        log["receipts"] = [log["receipts"][i] for i in order]
        what = "receipts shuffled"
    elif roll < 0.9:
        mutate(b, rng, skip=("artifacts",))
        what = "bundle member mutated"
    return "bundle.verify", context, bundle_form(b, rng)


def gen_cosignatures(rng):
    """checkpoint.cosignatures: a log-signed checkpoint with cosignature lines of trusted,
    untrusted and unknown-type witnesses, then one random defect (or none)."""
    size = rng.choice([1, 7, 16])
    body, signers = note_text(rng, size, ev.mth(LEAVES[:size]), extensions=rng.choice([(), ("ext",)]))
    if rng.random() < 0.15:
        signers = []
    lines = [k.note_sig(n, body) for k, n in signers]
    witnesses = [(ev.W1, ev.W1N), (ev.W2, ev.W2N), (ev.W3, ev.W3N)]
    for k, n in witnesses:
        if rng.random() < 0.7:
            t = rng.choice([ev.T0, ev.T0 + 1, (1 << 63) - 1, 1 << 63, 0])
            lines.append(ev.cosig_line(k, n, body, t, signed_t=t + 1 if rng.random() < 0.1 else None))
    if rng.random() < 0.2:
        lines.append(ev.mldsa_line)
    if rng.random() < 0.1:
        k, n = rng.choice(witnesses)
        lines.append("\u2014 " + n + " " + ev.base64.b64encode(ev.cosigner_key_id(n, k.pk) + k.sign(body.encode())).decode() + "\n")
    if rng.random() < 0.15:
        lines.append(ev.cosig_line(ev.LOG, ev.ORIGIN, body, ev.T0))
    rng.shuffle(lines)
    trusted_witnesses = [ev.cosigner_vkey(k, n) for k, n in witnesses if rng.random() < 0.7]
    roll = rng.random()
    if roll < 0.05:
        trusted_witnesses.append(ev.W1.vkey(ev.W1N))
    elif roll < 0.1:
        trusted_witnesses.append(ev.cosigner_vkey(ev.LOG, ev.ORIGIN))
    elif roll < 0.13:
        trusted_witnesses.append(ev.cosigner_vkey(ev.W1, ev.W1N).upper())
    note = body + "\n" + "".join(lines)
    if rng.random() < 0.1:
        note = note.replace("\n7\n", "\n8\n", 1)
    return "checkpoint.cosignatures", {}, {"note": note, "trusted": [ev.LOG.vkey(ev.ORIGIN)], "origin": ev.ORIGIN,
                                           "witnesses": trusted_witnesses}


def gen_trust(rng):
    """bundle.verify under a trust policy, a pin or a freshness bound (bundle.md §Trust
    policy): random cosignature times, policy edits, cuts and pins."""
    cos = {}
    for i in (0, 1):
        cos[i] = [(k, n, ev.T0 + rng.choice([50, 69, 70, 100, 160, 200, 300])) for k, n in
                  [(ev.W1, ev.W1N), (ev.W2, ev.W2N), (ev.W3, ev.W3N)] if rng.random() < 0.7]
    cut = rng.random() < 0.3
    b = ev.unsigned_receipts(copy.deepcopy(ev.tbuild(cos=cos, cut=cut)))
    context = ev.pctx()
    roll = rng.random()
    if roll < 0.3:
        edit = rng.choice([("2 w1", "1 w1"), ("2 w1", "all w1"), ("2 w1", "any w1"), ("2 w1", "3 w1"), ("quorum witnesses", "quorum w3"),
                           ("quorum witnesses", "quorum none"), ("witness w3", "witness w1"), ("\n", "\r\n"), ("group", "\tgroup"),
                           ("# the", "#the"), ("w2 w3\n", "w2 w3 w3\n"), ("log ", "log  ")])
        context["policy"] = ev.POLICY.replace(*edit)
    if rng.random() < 0.4 and "quorum none" not in context["policy"]:
        context["fresh_after"] = ev.T0 + rng.choice([0, 100, 200, 201, 300, 301])
    if rng.random() < 0.4:
        size = rng.choice([0, 2, 3, 4, 6, 7])
        canons = [ev.link(r) for r in ev.build()["logs"][0]["receipts"]]
        root = ev.mth(canons[:size]) if size <= 6 else ev.mth(canons + [b"x"])
        if rng.random() < 0.2:
            root = ev.sha(b"fork")
        context["pinned"] = {ev.ORIGIN: ev.note(size, root)}
    return "bundle.verify", context, b


def rechain(log, start):
    rs = log["receipts"]
    for i in range(max(start, 1), len(rs)):
        rs[i]["prev"] = ev.b64u(link(rs[i - 1]))
        resign_receipt(rs[i])
    leaves = [link(r) for r in rs]
    log["checkpoints"] = [{"note": ev.note(len(rs), ev.mth(leaves))}]


def gen_token(rng):
    claims = copy.deepcopy(idv.CLAIMS)
    header = idv.header(idv.PROVIDER)
    roll = rng.random()
    if roll < 0.6:
        mutate(claims, rng, skip=())
    elif roll < 0.85:
        mutate(header, rng, skip=())
    for k in ("exp", "iat", "nbf"):
        if k in claims and isinstance(claims[k], int) and rng.random() < 0.15:
            claims[k] = idv.NOW + rng.choice([-3600, -61, -60, -1, 0, 1, 60, 3600, 86400])
    sign_key = idv.PROVIDER if rng.random() < 0.95 else idv.ATTACKER
    try:
        token = idv.compact(jcs(header), jcs(claims), sign_key)
    except Exception:
        token = idv.compact(header, idv.CLAIMS, sign_key)
    context = copy.deepcopy(idv.CONTEXT)
    if rng.random() < 0.15:
        context.update(rng.choice([{"leeway": 60}, {"leeway": 0}, {"max_lifetime": 3600}, {"max_lifetime": 60}, {"now": idv.NOW + 3300}]))
    return "token.verify", context, {"token": token}


def gen_proof(rng):
    claims = dict(idv.PROOF_CLAIMS)
    header = {"alg": idv.AGENT.alg, "jwk": idv.AGENT.jwk, "typ": idv.PROOF_TYP}
    roll = rng.random()
    if roll < 0.6:
        mutate(claims, rng, skip=())
    elif roll < 0.85:
        header = copy.deepcopy(header)
        mutate(header, rng, skip=())
    if "iat" in claims and isinstance(claims["iat"], int) and rng.random() < 0.2:
        claims["iat"] = idv.NOW + rng.choice([-3600, -61, -60, -5, 0, 5, 60, 61])
    key = idv.AGENT if rng.random() < 0.95 else idv.AGENT2
    try:
        proof = idv.compact(jcs(header), jcs(claims), key)
    except Exception:
        proof = idv.PROOF
    inp = dict(idv.PIN, proof=proof)
    context = copy.deepcopy(idv.CONTEXT)
    if rng.random() < 0.2:
        context["seen"] = [{"iss": idv.ISS, "jti": idv.PROOF_CLAIMS["jti"], "expires": idv.NOW + rng.choice([-1, 0, 1, 100])}]
    if rng.random() < 0.1:
        inp["params"] = copy.deepcopy(inp["params"])
        mutate(inp["params"], rng, skip=())
    return "proof.verify", context, inp


def gen_request(rng):
    request = copy.deepcopy(idv.request())
    if rng.random() < 0.7:
        mutate(request, rng, skip=())
    context = idv.ctx(policy=rng.choice(["required", "required", "optional"]))
    return "request.verify", context, {"request": request}


def two_logs(rng):
    """Two replicas' logs under one artifact (bundle.md step 10), with bursts that may exceed its limit together."""
    a, b = rng.randrange(0, 4), rng.randrange(0, 4)
    logs = [ev.history([{"t": ev.T0 + 10} for _ in range(a)] or [{"t": ev.T0 + 10, "decision": "DENY", "code": "PTL_RATE_LIMITED"}]),
            ev.history([{"t": ev.T0 + rng.choice([10, 11, 80])} for _ in range(b)] or [{"t": ev.T0 + 10, "decision": "DENY", "code": "PTL_RATE_LIMITED"}],
                       ev.ORIGIN_B, ev.LOG_B)]
    if rng.random() < 0.5:
        logs.reverse()
    bundle = copy.deepcopy({"artifacts": [ev.ART], "logs": logs})
    if rng.random() < 0.3:
        mutate(bundle["logs"][rng.randrange(2)], rng, skip=("receipts", "payloads"))
    return "bundle.verify", copy.deepcopy(ev.CTX2), bundle_form(bundle, rng)


HEX = re.compile(r"(?:[0-9a-f]{2})+")


def mutate_hex(value: str, rng: random.Random) -> str:
    data = bytearray(bytes.fromhex(value))
    edit = rng.choice(["flip", "flip", "truncate", "extend"])
    if edit == "flip" and data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif edit == "truncate" and data:
        data = data[:-1]
    else:
        data.append(0)
    return data.hex()


def vector_seeded(op):
    """Mutations of the valid vectors of an op that has no model generator here."""
    bases = []
    for path in sorted((ROOT / "vectors").glob("*.json")):
        if path.name == "index.json":
            continue
        document = json.loads(path.read_text())
        for v in document.get("vectors", []) if isinstance(document, dict) else document:
            if v.get("op") == op and v.get("expected", {}).get("result") == "valid":
                bases.append(v)

    def generate(rng):
        v = copy.deepcopy(rng.choice(bases))
        inp, context = v.get("input", {}), v.get("context", {})
        if "data" in inp and isinstance(inp["data"], str) and rng.random() < 0.7:
            data = bytearray(bytes.fromhex(inp["data"]))
            for _ in range(rng.choice([1, 1, 2])):
                i = rng.randrange(len(data) + 1)
                edit = rng.choice(["flip", "insert", "delete"])
                if edit == "insert" or not data:
                    data[i:i] = bytes([rng.choice([0x20, 0x22, 0x2c, 0x5c, 0x7b, 0x7d, 0x30, 0x2e, 0x65, 0x2d, 0xc3, 0xed, 0xef, 0x00, 0x0a])])
                elif edit == "delete":
                    del data[min(i, len(data) - 1)]
                else:
                    data[min(i, len(data) - 1)] ^= 1 << rng.randrange(8)
            inp["data"] = data.hex()
        elif rng.random() < 0.85:
            # Mutate inside the members (the protocol's own fields stay), hex strings as bytes.
            for _ in range(rng.choice([1, 1, 2])):
                key = rng.choice(sorted(inp))
                value = inp[key]
                if isinstance(value, (dict, list)) and value:
                    mutate(value, rng, skip=())
                elif isinstance(value, str) and HEX.fullmatch(value):
                    inp[key] = mutate_hex(value, rng)
                elif isinstance(value, str):
                    inp[key] = rng.choice(string_variants(value, rng))
                elif isinstance(value, int) and not isinstance(value, bool):
                    inp[key] = rng.choice([max(value - 1, 0), value + 1, 0, 2 ** 62])
        elif context:
            key = rng.choice(sorted(context))
            if isinstance(context[key], (dict, list)) and context[key]:
                mutate(context[key], rng, skip=())
            elif isinstance(context[key], int) and not isinstance(context[key], bool):
                context[key] += rng.choice([-1, 1, -60, 60])
        return op, context, inp

    generate.bases = len(bases)
    return generate


KINDS = {
    "receipt": gen_receipt, "disclosure": gen_disclosure, "checkpoint": gen_checkpoint, "successor": gen_successor,
    "artifact": gen_artifact, "evaluate": gen_evaluate, "bundle": gen_bundle, "token": gen_token, "proof": gen_proof,
    "request": gen_request, "two-logs": two_logs, "cosignatures": gen_cosignatures, "trust": gen_trust,
}
SEEDED_OPS = ["json.parse", "jwk.thumbprint", "jwks.parse", "operator.verify", "mcp.request.verify", "merkle.inclusion",
              "merkle.consistency", "receipt.inclusion", "receipt.audit", "receipt.verify-proof", "statement.verify",
              "witness.add-checkpoint", "checkpoint.timestamp"]
KINDS.update({op: vector_seeded(op) for op in SEEDED_OPS})


# ----------------------------------------------------------------------------- implementations

class Implementation:
    def __init__(self, name, argv):
        self.name = name
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)

    def ask(self, line: str) -> dict:
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"{self.name} closed its output")
        return json.loads(answer)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def verdict(answer: dict) -> str:
    if answer.get("unsupported"):
        return "unsupported"
    if answer.get("result") == "valid":
        return "valid"
    if answer.get("result") == "invalid":
        return answer.get("error", "?")
    # A request the harness protocol itself refuses (an input member of the wrong kind):
    # both implementations must refuse it so, but it is not a verdict.
    return "bad-request"


def outputs_differ(a: dict, b: dict) -> list:
    oa, ob = a.get("output") or {}, b.get("output") or {}
    return sorted(k for k in oa.keys() & ob.keys() if oa[k] != ob[k])


def mldsa_cases(swift: Implementation, rng: random.Random, count: int):
    """ML-DSA-65 signatures made by the Swift code, verified by both (and a corrupted copy)."""
    for i in range(count):
        seed = bytes(rng.randrange(256) for _ in range(32)).hex()
        message = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))).hex()
        domain = rng.choice([None, "receipt", "token"])
        sign_input = {"alg": "ML-DSA-65", "seed": seed, "message": message}
        if domain:
            sign_input["domain"] = domain
        signed = swift.ask(dumps({"op": "signature.sign", "context": {}, "input": sign_input}))
        if signed.get("result") != "valid":
            raise RuntimeError(f"Swift could not sign with ML-DSA-65: {signed}")
        signature = signed["output"]["signature"]
        if rng.random() < 0.5:
            b = bytearray(bytes.fromhex(signature))
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            signature = b.hex()
        verify = {"alg": "ML-DSA-65", "public_key": signed["output"]["public_key"], "message": message, "signature": signature}
        if domain:
            verify["domain"] = domain
        yield "signature.verify", {}, verify


def main(argv) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    attest = argv[1]
    per_kind = int(argv[2]) if len(argv) > 2 else 200
    seed = int(argv[3]) if len(argv) > 3 else 1
    out = pathlib.Path(argv[4]) if len(argv) > 4 else ROOT / ".build/differential"
    out.mkdir(parents=True, exist_ok=True)
    swift = Implementation("swift", [attest, "impl", "--jsonl"])
    python = Implementation("python", [sys.executable, str(PYTHON_IMPL), "--jsonl"])
    verdicts = defaultdict(Counter)
    mismatches = []
    failed = False
    try:
        for kind, generator in list(KINDS.items()) + [("mldsa", None)]:
            rng = random.Random(f"{seed}/{kind}")
            if generator is None:
                cases = mldsa_cases(swift, rng, max(per_kind // 10, 10))
            else:
                cases = (generator(rng) for _ in range(per_kind))
            for op, context, inp in cases:
                if op == "bundle.verify":
                    inp = bundle_files(inp)
                line = dumps({"op": op, "context": context, "input": inp})
                a, b = swift.ask(line), python.ask(line)
                va, vb = verdict(a), verdict(b)
                verdicts[kind][va] += 1
                differ = [] if va != "valid" or vb != "valid" else outputs_differ(a, b)
                if va != vb or differ or va == "unsupported":
                    mismatches.append({"kind": kind, "swift": a, "python": b, "outputs": differ, "request": json.loads(line)})
    finally:
        swift.close()
        python.close()
    with open(out / "mismatches.jsonl", "w") as f:
        for m in mismatches:
            f.write(json.dumps(m) + "\n")
    for kind, counter in verdicts.items():
        codes = sorted(k for k in counter if k not in ("valid", "bad-request"))
        print(f"  {kind:11} {sum(counter.values()):5} cases: {counter['valid']:4} valid, {len(codes):2} codes: {', '.join(codes)}")
        if counter["valid"] == 0 or len(codes) < (1 if kind == "mldsa" else 2):
            print(f"  {kind}: the generator found too few outcomes to test anything")
            failed = True
    by_kind = Counter(m["kind"] for m in mismatches)
    for m in mismatches[:15]:
        print(f"  MISMATCH {m['kind']}: swift {verdict(m['swift'])}, python {verdict(m['python'])}"
              + (f", outputs {m['outputs']}" if m["outputs"] else "") + f"  {m['python'].get('message', '')[:120]}")
    total = sum(sum(c.values()) for c in verdicts.values())
    print(f"differential: {total} cases (seed {seed}), {len(mismatches)} disagreements"
          + (f" ({dict(by_kind)}; all in {out / 'mismatches.jsonl'})" if mismatches else ""))
    return 1 if mismatches or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
