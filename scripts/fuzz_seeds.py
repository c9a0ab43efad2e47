#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Fuzz/corpus/<target>/) from the spec's
vectors (vectors/*.json). Each seed is named by the SHA-256 of its bytes, as libFuzzer
names corpus files, so a rerun rewrites the same files.

Usage: scripts/fuzz_seeds.py [--out Fuzz/corpus]
"""
import argparse
import base64
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def vectors(document, op=None):
    data = json.loads((ROOT / "vectors" / f"{document}.json").read_text())
    return [v for v in data["vectors"] if op is None or v["op"] == op]


def jcs(value):
    """JCS for the vectors' values: ASCII-safe here because ensure_ascii=False keeps
    non-ASCII as is and every number in these objects is an integer."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segments(compact):
    """Header and payload of a well-formed compact JWS, or None."""
    try:
        h, p, _ = compact.split(".")
        return json.loads(b64u_decode(h)), json.loads(b64u_decode(p))
    except ValueError:
        return None


class Corpus:
    def __init__(self, out):
        self.out = out
        self.counts = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        directory = self.out / target
        directory.mkdir(parents=True, exist_ok=True)
        (directory / hashlib.sha256(data).hexdigest()[:40]).write_bytes(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def core(c):
    for v in vectors("json"):
        data = bytes.fromhex(v["input"]["data"])
        c.add("json", data)
        c.add("jcs", data)
    for v in vectors("encoding"):
        i = v["input"]
        if "encoded" in i:
            c.add("base64url", i["encoded"])
        if "bytes" in i:
            c.add("base64url", bytes.fromhex(i["bytes"]))


def identity(c):
    tokens = [v for v in vectors("token", "token.verify")]
    for v in tokens:
        c.add("jws", v["input"]["token"])
        c.add("token", v["input"]["token"])
    for v in vectors("token", "operator.verify"):
        i = v["input"]
        c.add("jws", i["attestation"])
        c.add("token", "\0".join([i["token"], "", "", i["attestation"]]))
    for v in vectors("proof"):
        i = v["input"]
        if "proof" not in i:
            continue
        c.add("jws", i["proof"])
        c.add("token", "\0".join([i["token"], i["proof"], jcs(i.get("params", {})).decode()]))
    # Signing mode: the JSON of the valid vectors' tokens and proofs, with placeholders
    # for what the target computes (see FuzzTargets.token).
    for v in vectors("proof", "proof.verify"):
        i = v["input"]
        if v["expected"]["result"] != "valid":
            continue
        if segments(i["token"]) is None or segments(i["proof"]) is None:
            continue
        (th, tp), (ph, pp) = segments(i["token"]), segments(i["proof"])
        th["kid"] = "$kid"
        tp["cnf"]["jkt"] = "$jkt"
        ph["jwk"] = "$jwk"
        pp["ath"], pp["ph"] = "$ath", "$ph"
        c.add("token", b"\x01" + b"\0".join([jcs(th), jcs(tp), jcs(ph), jcs(pp), jcs(i.get("params", {}))]))
    for v in tokens[:24]:
        parsed = segments(v["input"]["token"])
        if parsed is None or not isinstance(parsed[0], dict) or not isinstance(parsed[1], dict):
            continue
        th, tp = parsed
        if th.get("alg") != "Ed25519" or "kid" not in th:
            continue
        th["kid"] = "$kid"
        if isinstance(tp.get("cnf"), dict):
            tp["cnf"]["jkt"] = "$jkt"
        c.add("token", b"\x01" + jcs(th) + b"\0" + jcs(tp))


def canonical_receipt(receipt):
    return jcs(receipt)


def evidence(c):
    for v in vectors("checkpoint"):
        i = v["input"]
        for name in ("note", "earlier", "later"):
            if name in i:
                c.add("checkpoint", i[name])
                body = i[name].split("\n\n", 1)[0] + "\n"
                c.add("checkpoint", b"\x01" + body.encode())
    # Receipt lines: the canonical form of each receipt.verify receipt, and every line of the
    # bundle vectors' receipt files, which are exact bytes (conformance.md, bundle.verify), some
    # of them not canonical (the bnd-bytes-* vectors).
    lines = [canonical_receipt(v["input"]["receipt"]) for v in vectors("receipt") if "receipt" in v["input"]]
    for v in vectors("bundle"):
        lines += [line for line in bytes.fromhex(v["input"]["logs"][0]["receipts"]).split(b"\n") if line.strip()]
    seen = set()
    for line in lines:
        if line not in seen and len(seen) < 48:
            seen.add(line)
            c.add("receipt-line", line)
    for v in vectors("bundle"):
        i = v["input"]
        log = i["logs"][0]
        manifest = {"format": "mcp-attest/bundle/v2", "artifacts": "artifacts.jsonl", "logs": [{
            "origin": log["origin"], "receipts": "logs/0/receipts.jsonl", "checkpoints": "logs/0/checkpoints.jsonl",
            "payloads": "logs/0/payloads.jsonl"}]}
        # The files exactly as the vector gives them.
        files = [json.dumps(manifest).encode(), bytes.fromhex(i["artifacts"]), bytes.fromhex(log["receipts"]),
                 bytes.fromhex(log["checkpoints"]), bytes.fromhex(log.get("payloads", ""))]
        c.add("bundle", b"\xff".join(files))
    constraints = []
    for document in ("artifact", "mandate"):
        for v in vectors(document):
            i = v["input"]
            chain = i.get("chain") or [i["artifact"]]
            c.add("artifact", jcs(chain))
            unsigned = []
            for k, a in enumerate(chain):
                a = {key: value for key, value in a.items() if key != "sig"}
                if k > 0 and "parent" in a:
                    a["parent"] = "$parent"
                unsigned.append(a)
            c.add("artifact", b"\x01" + jcs(unsigned))
            arguments = (i.get("call") or {}).get("arguments", {})
            values = list(arguments.values()) if isinstance(arguments, dict) else list(arguments)
            by_name = {}
            for a in chain:
                for tool in a.get("tools", {}).values() if isinstance(a.get("tools"), dict) else []:
                    for name, constraint in (tool.get("arguments") or {}).items() if isinstance(tool, dict) else []:
                        by_name.setdefault(name, []).append(constraint)
            for group in by_name.values():
                if len(group) > 1 or values:
                    constraints.append(group + values)
    for group in constraints[:64]:
        c.add("constraint", jcs(group))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "Fuzz" / "corpus"))
    out = pathlib.Path(parser.parse_args().out)
    c = Corpus(out)
    core(c)
    identity(c)
    evidence(c)
    for target, n in sorted(c.counts.items()):
        print(f"{target}: {n} seeds")


if __name__ == "__main__":
    main()
