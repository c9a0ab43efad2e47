"""`attest bundle verify` with the trust inputs of bundle.md §Trust policy: a bundle cut back
at a checkpoint boundary passes on the log key alone (its end reported not proven), and fails
with a pinned later checkpoint (--pinned) or a freshness bound on the witnesses'
cosignatures (--policy, --fresh-after). Cosignatures are made here with PyNaCl, from the
format of checkpoint.md §Cosignatures."""
import base64
import hashlib
import json
import shutil

import nacl.bindings

from test_bundle_report import attest, demo  # noqa: F401  (the module-scoped demo bundle)

WITNESS_NAME = "witness.example/w1"
SEED = bytes([0x5A]) * 32


def cosigner():
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(SEED)
    key_id = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x04" + pk).digest()[:4]
    vkey = WITNESS_NAME + "+" + key_id.hex() + "+" + base64.b64encode(b"\x04" + pk).decode()
    return sk, key_id, vkey


def cosign(note: str, time: int) -> str:
    sk, key_id, _ = cosigner()
    body = note[:note.index("\n\n") + 1].encode()
    signature = nacl.bindings.crypto_sign(b"cosignature/v1\ntime " + str(time).encode() + b"\n" + body, sk)[:64]
    return note + f"\u2014 {WITNESS_NAME} {base64.b64encode(key_id + time.to_bytes(8, 'big') + signature).decode()}\n"


def jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path, values):
    path.write_text("".join(json.dumps(v, separators=(",", ":")) + "\n" for v in values))


def prepare(demo, tmp_path):  # noqa: F811
    """The demo bundle with checkpoint i cosigned at base + 10 i, and a copy cut back at its
    checkpoint before the last (its later receipts, payloads and checkpoint dropped)."""
    full = tmp_path / "full"
    shutil.copytree(demo["bundle"], full)
    checkpoints = jsonl(full / "logs/0/checkpoints.jsonl")
    base = max(r["time"] for r in jsonl(full / "logs/0/receipts.jsonl")) + 100
    for i, c in enumerate(checkpoints):
        c["note"] = cosign(c["note"], base + 10 * i)
    write_jsonl(full / "logs/0/checkpoints.jsonl", checkpoints)
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    size = int(checkpoints[-2]["note"].split("\n")[1])
    write_jsonl(cut / "logs/0/checkpoints.jsonl", checkpoints[:-1])
    write_jsonl(cut / "logs/0/receipts.jsonl", jsonl(full / "logs/0/receipts.jsonl")[:size])
    payloads = cut / "logs/0/payloads.jsonl"
    if payloads.exists():
        write_jsonl(payloads, [p for p in jsonl(payloads) if p["seq"] < size])
    (tmp_path / "pinned.note").write_text(checkpoints[-1]["note"])
    origin = checkpoints[-1]["note"].split("\n")[0]
    policy = tmp_path / "policy.txt"
    policy.write_text(f"log {demo['log_key']}\nwitness w1 {cosigner()[2]}\nquorum w1\n")
    return full, cut, origin, policy, base + 10 * (len(checkpoints) - 1)


def run(demo, bundle, *extra, keys=True):  # noqa: F811
    key_args = ["--log-key", demo["log_key"]] if keys else []
    return attest("bundle", "verify", bundle, "--authority", demo["authority"], *key_args, "--now", demo["now"], "--json",
                  *extra, ok=False)


def test_a_cut_back_bundle_fails_under_a_pin_or_a_freshness_bound(demo, tmp_path):  # noqa: F811
    full, cut, origin, policy, newest = prepare(demo, tmp_path)
    pin = f"{origin}={tmp_path / 'pinned.note'}"
    for bundle in (full, cut):
        r = run(demo, bundle)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["logs"][0]["end_proven"] is False
    # The auditor's pin of the newest checkpoint: the full bundle passes with its end proven, the cut one fails.
    r = run(demo, full, "--pinned", pin)
    assert r.returncode == 0 and json.loads(r.stdout)["logs"][0]["end_proven"] is True, r.stderr
    pinned_size = int((tmp_path / "pinned.note").read_text().split("\n")[1])
    assert json.loads(r.stdout)["logs"][0]["end_bound"] == {"pinned_size": pinned_size}
    r = run(demo, cut, "--pinned", pin)
    assert r.returncode == 12 and r.stderr.startswith("FAIL BND_PINNED_TRUNCATED"), (r.returncode, r.stderr)
    # The policy's witness and a freshness bound at its newest cosignature.
    r = run(demo, full, "--policy", policy, "--fresh-after", newest, keys=False)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["logs"][0]["witnesses"] == ["w1"] and report["logs"][0]["end_proven"] is True, r.stderr
    assert report["logs"][0]["end_bound"] == {"fresh_after": newest}
    assert "end_bound" not in json.loads(run(demo, cut, "--policy", policy, keys=False).stdout)["logs"][0]
    r = run(demo, cut, "--policy", policy, keys=False)
    assert r.returncode == 0, r.stderr
    r = run(demo, cut, "--policy", policy, "--fresh-after", newest, keys=False)
    assert r.returncode == 12 and r.stderr.startswith("FAIL BND_NOT_FRESH"), (r.returncode, r.stderr)
    # A policy and --log-key together, or a freshness bound without a policy: usage errors.
    assert run(demo, full, "--policy", policy).returncode == 64
    assert run(demo, full, "--fresh-after", newest).returncode == 64


def test_two_pins_for_one_origin_or_a_bound_after_now_are_usage_errors(demo, tmp_path):  # noqa: F811
    """bundle.md §Trust policy (BND-056): one pinned checkpoint per origin and a freshness
    bound at most --now; the controls pass."""
    full, cut, origin, policy, newest = prepare(demo, tmp_path)
    earlier = tmp_path / "earlier.note"
    earlier.write_text(jsonl(full / "logs/0/checkpoints.jsonl")[0]["note"])
    pin = f"{origin}={tmp_path / 'pinned.note'}"
    assert run(demo, cut, "--pinned", f"{origin}={earlier}").returncode == 0
    r = run(demo, cut, "--pinned", f"{origin}={earlier}", "--pinned", pin)
    assert r.returncode == 64 and origin in r.stderr and len(r.stderr.strip().splitlines()) == 1, (r.returncode, r.stderr)
    now = int(demo["now"])
    assert newest <= now
    assert run(demo, full, "--policy", policy, "--fresh-after", now, keys=False).returncode == 12
    r = run(demo, full, "--policy", policy, "--fresh-after", now + 1, keys=False)
    assert r.returncode == 64 and "--fresh-after" in r.stderr, (r.returncode, r.stderr)
