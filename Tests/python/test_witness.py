"""Witnesses (spec/witness.md) as processes: two `attest witness serve` cosign the
checkpoints of a portal process configured with them, and the exported bundle's
checkpoints carry both cosignatures; a forked checkpoint of a size both cosigned is
refused by a witness with the protocol's status."""
import base64, hashlib, json, subprocess, time, urllib.error, urllib.request

import nacl.bindings

import evidence
from portal_fixture import AGENT, ORIGIN, SUB, World, assert_allowed, attest, attest_binary, call


class WitnessProcess:
    def __init__(self, world, name):
        self.name = name
        seed = world.root / f"{name.replace('/', '_')}.seed"
        attest("key", "generate", "--out", seed)
        self.vkey = attest("witness", "key", "--key", seed, "--name", name).stdout.strip()
        self.proc = subprocess.Popen(
            [attest_binary(), "witness", "serve", "--listen", "127.0.0.1:0", "--key", str(seed), "--name", name,
             "--state", str(world.root / f"{name.replace('/', '_')}.sqlite"), "--log", world.log_verifier],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert " listening on " in line, f"witness did not start: {line}{self.proc.stderr.read() if self.proc.poll() is not None else ''}"
        self.url = line.rsplit(" ", 1)[1].strip()
        assert line.split(" ")[1] == self.vkey, line

    def post(self, body: bytes):
        request = urllib.request.Request(self.url + "/add-checkpoint", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def verify_cosignature(note, body, vkey):
    name, key_id, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 4, vkey
    line = next(l for l in note.splitlines() if l.startswith(f"\u2014 {name} "))
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4].hex() == key_id and len(blob) == 4 + 8 + 64, line
    t = int.from_bytes(blob[4:12], "big")
    assert t > 0
    message = b"cosignature/v1\ntime %d\n" % t + body
    assert nacl.bindings.crypto_sign_open(blob[12:] + message, raw[1:]) == message


def checkpoint_notes(bundle):
    files = sorted(bundle.glob("logs/*/checkpoints.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line)["note"] for line in files[0].read_text().splitlines() if line.strip()]


def test_portal_checkpoints_cosigned_by_two_witness_processes(tmp_path):
    world = World(tmp_path)
    w1, w2 = WitnessProcess(world, "witness.example/w1"), WitnessProcess(world, "witness.example/w2")
    try:
        config = world.config(witnesses=[{"url": w1.url, "key": w1.vkey}, {"url": w2.url, "key": w2.vkey}],
                              checkpoint={"every": 2, "seconds": 60})
        portal = world.stdio(config)
        try:
            portal.initialize()
            for i in range(5):
                assert_allowed(portal.ask(world.attach(call(i + 1, "echo", {"text": f"call {i}"}), agent=AGENT, sub=SUB)))
        finally:
            assert portal.stop() == 0
        world.export(config)
        notes = checkpoint_notes(world.root / "bundle")
        assert notes, "no checkpoint exported"
        newest = notes[-1]
        for w in (w1, w2):
            assert f"\u2014 {w.name} " in newest, newest
        # Each cosignature verifies with its witness's key (C2SP tlog-cosignature), checked here
        # in Python: the key ID, then the Ed25519 signature of the cosigned message.
        body = newest[:newest.index("\n\n") + 1].encode()
        for w in (w1, w2):
            verify_cosignature(newest, body, w.vkey)
    finally:
        w1.stop()
        w2.stop()


def test_witness_refuses_a_fork_of_a_cosigned_size(tmp_path):
    world = World(tmp_path)
    seed = bytes.fromhex((world.root / "log.seed").read_text().strip())
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed)
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + pk).digest()[:4]

    def note(size, root):
        body = f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
        return body + "\n\u2014 " + ORIGIN + " " + base64.b64encode(key_id + nacl.bindings.crypto_sign(body.encode(), sk)[:64]).decode() + "\n"

    def leaf(d): return hashlib.sha256(b"\x00" + d).digest()
    def node(a, b): return hashlib.sha256(b"\x01" + a + b).digest()
    a = node(leaf(b"receipt 0"), leaf(b"receipt 1"))
    b = node(leaf(b"receipt 0"), leaf(b"another receipt 1"))
    w1, w2 = WitnessProcess(world, "witness.example/w1"), WitnessProcess(world, "witness.example/w2")
    try:
        for w in (w1, w2):
            status, body = w.post(("old 0\n\n" + note(2, a)).encode())
            assert status == 200 and body.startswith(f"\u2014 {w.name} "), (status, body)
        status, body = w2.post(("old 2\n\n" + note(2, b)).encode())
        assert status == 422, (status, body)
        evidence.assert_code(body.split(":", 1)[0], "WIT_ROOT_CONFLICT", body)
        status, body = w2.post(("old 0\n\n" + note(2, b)).encode())
        assert (status, body) == (409, "2\n")
    finally:
        w1.stop()
        w2.stop()


def export_bundle(world, config, name):
    store = json.loads(config.read_text())["store"]
    out = world.root / name
    attest("bundle", "export", "--store", world.root / store, "--config", config, "--out", out, "--disclose", "all")
    return out


def run_calls(world, config, texts):
    portal = world.stdio(config)
    try:
        portal.initialize()
        for i, text in enumerate(texts):
            assert_allowed(portal.ask(world.attach(call(i + 1, "echo", {"text": text}), agent=AGENT, sub=SUB)))
    finally:
        assert portal.stop() == 0


def test_fork_below_the_quorum_fails_the_bundle(tmp_path):
    """THE FORK TEST. Log A (one checkpoint of size n) is cosigned by W1 and W2. The same log
    key and origin then sign a fork B of size n over other calls; submitted to both
    witnesses, each refuses it (each holds A's root for size n), so B's bundle carries no
    cosignature and fails a policy that needs both witnesses with BND_QUORUM_NOT_MET, while
    A's bundle passes under the same policy."""
    world = World(tmp_path)
    w1, w2 = WitnessProcess(world, "witness.example/w1"), WitnessProcess(world, "witness.example/w2")
    try:
        witnesses = [{"url": w1.url, "key": w1.vkey}, {"url": w2.url, "key": w2.vkey}]
        config_a = world.config(name="a.json", store="store-a", witnesses=witnesses)
        config_b = world.config(name="b.json", store="store-b", witnesses=witnesses)
        run_calls(world, config_a, ["genuine 1", "genuine 2"])
        run_calls(world, config_b, ["forked 1", "forked 2"])
        bundle_a, bundle_b = export_bundle(world, config_a, "bundle-a"), export_bundle(world, config_b, "bundle-b")
        note_a, note_b = checkpoint_notes(bundle_a)[-1], checkpoint_notes(bundle_b)[-1]
        # One size, two roots, one log key: a fork.
        assert note_a.split("\n")[:2] == note_b.split("\n")[:2] and note_a.split("\n")[2] != note_b.split("\n")[2], (note_a, note_b)
        for w in (w1, w2):
            assert f"\u2014 {w.name} " in note_a, note_a
            assert f"\u2014 {w.name} " not in note_b, note_b
        policy = world.root / "policy.txt"
        policy.write_text(f"log {world.log_verifier}\nwitness w1 {w1.vkey}\nwitness w2 {w2.vkey}\n"
                          "group both all w1 w2\nquorum both\n")

        def verify(bundle):
            return attest("bundle", "verify", bundle, f"--authority={world.authority}",
                          "--policy", policy, "--now", int(time.time()), check=False)
        passed = verify(bundle_a)
        assert passed.returncode == 0 and passed.stdout.startswith("PASS"), f"{passed.stdout}\n{passed.stderr}"
        failed = verify(bundle_b)
        assert failed.returncode != 0 and failed.stdout.startswith("FAIL"), f"{failed.stdout}\n{failed.stderr}"
        code = next((c for c in ("BND_QUORUM_NOT_MET",) if c in failed.stdout), None)
        evidence.assert_code(code, "BND_QUORUM_NOT_MET", failed.stdout)
    finally:
        w1.stop()
        w2.stop()
