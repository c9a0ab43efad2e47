"""A client audits the receipts a portal returned to it (receipt.md §Auditing held
receipts): a real portal over stdio in front of the test server answers the client with
receipts in `_meta`; the operator then drops one receipt from the log and re-signs the
whole log with the log key, so that the exported bundle passes `attest bundle verify` on
its own; `attest receipts audit` of the client's held receipts against that bundle fails
with RCP_OMITTED naming the dropped receipt, and passes against the unaltered log, by its
bundle and by the operator's per-receipt proofs (`attest portal prove`)."""
import base64, hashlib, json, shutil, time

import nacl.bindings
import rfc8785

import evidence
from portal_fixture import ORIGIN, World, assert_allowed, assert_rejected, attest, call, receipts_of


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sha(b):
    return hashlib.sha256(b).digest()


def merkle_root(leaves):
    """RFC 9162 §2.1.1 over the leaf data (here: each receipt's link hash)."""
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return sha(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))


def canonical(receipt):
    return rfc8785.dumps({k: v for k, v in receipt.items() if k != "sig"})


class Operator:
    """What an operator holding the log key can do: sign receipts and checkpoints."""

    def __init__(self, seed_file):
        self.pk, self.sk = nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex(seed_file.read_text().strip()))
        x = b64u(self.pk)
        self.kid = b64u(sha(rfc8785.dumps({"crv": "Ed25519", "kty": "OKP", "x": x})))

    def sign_receipt(self, body):
        value = nacl.bindings.crypto_sign(b"MCP-ATTEST-v1:receipt\x00" + canonical(body), self.sk)[:64]
        return dict(body, sig={"alg": "Ed25519", "kid": self.kid, "value": b64u(value)})

    def checkpoint(self, size, root):
        body = f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
        key_id = sha(ORIGIN.encode() + b"\n\x01" + self.pk)[:4]
        signature = nacl.bindings.crypto_sign(body.encode(), self.sk)[:64]
        return body + "\n\u2014 " + ORIGIN + " " + base64.b64encode(key_id + signature).decode() + "\n"

    def without(self, bundle, out, seq):
        """A copy of `bundle` whose log lacks receipt `seq`: the later receipts renumbered
        (and a RESULT's `call` with them), the chain rebuilt, every receipt and one
        checkpoint of the new size re-signed. Receipt lines without `sig` stay so."""
        shutil.copytree(bundle, out)
        path = out / "logs" / "0" / "receipts.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept, prev, links = [], bytes(32), []
        for r in lines:
            if r["seq"] == seq:
                continue
            body = {k: v for k, v in r.items() if k != "sig"}
            body["seq"] = len(kept)
            body["prev"] = b64u(prev)
            if "call" in body and body["call"] > seq:
                body["call"] -= 1
            new = self.sign_receipt(body) if "sig" in r else body
            kept.append(new)
            prev = sha(canonical(new))
            links.append(prev)
        path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept))
        note = self.checkpoint(len(kept), merkle_root(links))
        (out / "logs" / "0" / "checkpoints.jsonl").write_text(json.dumps({"note": note}) + "\n")
        return kept


def audit(world, held_file, *where):
    return attest("receipts", "audit", "--receipts", held_file, "--log-key", world.log_verifier, *where, check=False)


def test_client_audit_catches_a_receipt_the_operator_dropped(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.stdio(config)
    held = []
    try:
        portal.initialize()
        held += assert_allowed(portal.ask(world.attach(call(1, "echo", {"text": "one"}))))
        held += assert_rejected(portal.ask(world.attach(call(2, "echo", {"text": "x" * 64}))), "PTL_CONSTRAINT_VIOLATED", receipts=1)
        held += assert_allowed(portal.ask(world.attach(call(3, "add", {"a": 1, "b": 2}))))
    finally:
        assert portal.stop() == 0
    assert [r["seq"] for r in held] == list(range(5)), held
    held_file = tmp_path / "held.jsonl"
    held_file.write_text("".join(json.dumps(r) + "\n" for r in held))
    world.export(config, disclose="none")
    bundle = world.root / "bundle"

    # The control: the unaltered log holds every receipt the client was answered with.
    run = audit(world, held_file, "--bundle", bundle)
    assert run.returncode == 0 and run.stdout.startswith("PASS: 5 held receipt(s)"), run.stdout + run.stderr

    # The same by the operator's own per-receipt proofs of its store.
    proofs = []
    for r in held:
        proof = tmp_path / f"proof-{r['seq']}.json"
        proof.write_text(attest("portal", "prove", "--store", world.root / "store", "--seq", r["seq"]).stdout)
        proofs += ["--proof", proof]
    note = tmp_path / "checkpoint.note"
    note.write_text(json.loads(proofs[-1].read_text())["checkpoint"])
    run = audit(world, held_file, "--checkpoint", note, *proofs)
    assert run.returncode == 0 and run.stdout.startswith("PASS: 5 held receipt(s)"), run.stdout + run.stderr

    # The operator drops the DENY (seq 2) and re-signs the whole log with the log key.
    dropped = held[2]
    assert dropped["decision"] == "DENY"
    edited = world.root / "bundle-without-2"
    kept = Operator(world.root / "log.seed").without(bundle, edited, 2)
    assert len(kept) == 4
    run = attest("bundle", "verify", edited, f"--authority={world.authority}", f"--log-key={world.log_verifier}",
                 "--now", int(time.time()), check=False)
    assert run.returncode == 0 and run.stdout.startswith("PASS"), f"the re-signed log verifies on its own:\n{run.stdout}\n{run.stderr}"

    # The client's audit names the dropped receipt.
    run = audit(world, held_file, "--bundle", edited)
    assert run.returncode != 0, run.stdout
    assert "RCP_OMITTED: held receipt 2 " in run.stderr, run.stderr
    evidence.observed("RCP_OMITTED")

    # Held receipts the re-signed log's checkpoint does not reach yet are another matter:
    # receipt 4 of the client is beyond a log of 4 once receipts 2 and 3 are held no more.
    later = tmp_path / "held-later.jsonl"
    later.write_text(json.dumps(held[4]) + "\n")
    run = audit(world, later, "--bundle", edited)
    assert run.returncode != 0 and "RCP_NOT_COVERED: held receipt 4 " in run.stderr, run.stderr
    evidence.observed("RCP_NOT_COVERED")


def test_audit_refusals(tmp_path):
    world = World(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    run = attest("receipts", "audit", "--receipts", empty, "--log-key", world.log_verifier, "--bundle", tmp_path, check=False)
    assert run.returncode != 0 and "holds no receipt" in run.stderr, run.stderr
    run = attest("receipts", "audit", "--receipts", empty, "--log-key", world.log_verifier, check=False)
    assert run.returncode != 0 and "--bundle" in run.stderr, run.stderr
