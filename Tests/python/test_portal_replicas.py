"""Two portal replicas on one PostgreSQL server (spec/portal.md §Replicas, POR-014..016):

(a) load: 2 `attest portal http` processes, each with its own log origin, key and store,
    one shared state; concurrent clients at both send a mix of calls that are allowed,
    denied by the artifact (a tool it does not list, an argument over its bound) and
    rate limited (`add`, one limit shared by both replicas). Every answer a client
    received has its receipts in the logs (none lost), the shared limit allowed exactly
    its `max`, and the bundle of both logs verifies PASS, its recount across the logs
    included (bundle.md step 10).
(b) kill -9 of one replica under load: the other keeps serving; the killed one restarts
    on its store, closes its open calls, and the bundle of both logs verifies PASS.

The server is the one scripts/postgres.sh starts (`make test` runs these tests under it).
Nothing here skips: without ATTEST_POSTGRES_URL the test fails with what to run.
"""
import json, os, shutil, threading, time

import pytest

from portal_fixture import AGENT, AUD, ISS, MODERN, SUB, TD, World, attest, call, code_of, receipts_of, tool_policies

ORIGINS = ["portal.example/replica/a", "portal.example/replica/b"]
ADD_MAX = 40
# Clients per replica and calls per client of the load test: scaled to fit `make test`;
# `make load-replicas` runs the full 2 x 25 sessions x 1,000 calls.
LOAD = tuple(int(n) for n in os.environ.get("ATTEST_REPLICA_LOAD", "8x24").split("x"))


def postgres_url():
    url = os.environ.get("ATTEST_POSTGRES_URL")
    if not url:
        pytest.fail("ATTEST_POSTGRES_URL is not set: run under scripts/postgres.sh run (make test does)", pytrace=False)
    return url


class Replicas:
    """Two replica configurations in one world: one artifact naming both logs."""

    def __init__(self, world: World, shared: str):
        self.world = world
        policies = tool_policies()
        policies["add"]["rate_limit"] = {"max": ADD_MAX, "window": 3600}
        self.artifact = world.seal("replicated", world.unsigned(SUB, AGENT, tools=policies, log={"origins": ORIGINS}))
        self.configs, self.verifiers = [], []
        for i, origin in enumerate(ORIGINS):
            seed = world.root / f"log-{i}.seed"
            attest("key", "generate", "--out", seed)
            self.verifiers.append(json.loads(attest("key", "show", "--key", seed, "--origin", origin).stdout)["note_verifier"])
            path = world.root / f"replica-{i}.json"
            path.write_text(json.dumps({
                "audience": AUD,
                "artifacts": [str(self.artifact)], "authorities": [world.authority],
                "issuers": [{"issuer": ISS, "trust_domains": [TD], "jwks": "provider.jwks.json"}],
                "log": {"origin": origin, "key": seed.name}, "store": f"store-{i}",
                "shared_state": "env:ATTEST_TEST_SHARED_STATE",
                "checkpoint": {"every": 50, "seconds": 1}}, indent=1))
            self.configs.append(path)
        self.env = {"ATTEST_TEST_SHARED_STATE": shared}

    def start(self, i):
        os.environ.update(self.env)
        return self.world.http(self.configs[i])

    def export(self, name="bundle"):
        """Both stores exported as one bundle of two logs, verified offline."""
        out = self.world.root / name
        shutil.rmtree(out, ignore_errors=True)
        stores = [a for i in range(len(self.configs)) for a in ("--store", self.world.root / f"store-{i}")]
        configs = [a for c in self.configs for a in ("--config", c)]
        attest("bundle", "export", *stores, *configs, "--out", out, "--disclose", "all")
        report = self.world.root / f"{name}.report.json"
        run = attest("bundle", "verify", out, f"--authority={self.world.authority}",
                     *[f"--log-key={v}" for v in self.verifiers], "--now", int(time.time()) + 5, "--report", report, check=False)
        assert run.returncode == 0 and run.stdout.startswith("PASS"), f"bundle verify: {run.returncode}\n{run.stdout}\n{run.stderr}"
        manifest = json.loads((out / "manifest.json").read_text())
        receipts = {log["origin"]: [json.loads(line) for line in (out / log["receipts"]).read_text().splitlines() if line]
                    for log in manifest["logs"]}
        assert sorted(receipts) == sorted(ORIGINS), manifest
        return receipts, json.loads(report.read_text())


MIX = [  # (tool, arguments, the code the artifact denies it with, or None)
    ("echo", {"text": "hello"}, None),
    ("add", {"a": 1, "b": 2}, None),
    ("forbidden", {}, "PTL_TOOL_NOT_ALLOWED"),
    ("echo", {"text": "x" * 40}, "PTL_CONSTRAINT_VIOLATED"),
]


def hammer(world, portals, clients, calls, received, lock, stop=None, label="c"):
    """`clients` threads per portal, `calls` calls each through the mix; answers kept."""
    def client(p, k):
        for i in range(calls):
            if stop is not None and stop.is_set() and p == 1:
                return
            tool, arguments, _ = MIX[(k + i) % len(MIX)]
            message = world.attach(call(f"{label}{p}-{k}-{i}", tool, arguments, era=MODERN))
            try:
                status, _, body = portals[p].stateless(message, timeout=60)
            except Exception:  # this replica was killed under the request
                return
            if body is None:
                return
            with lock:
                received.append((p, tool, arguments, body))
    threads = [threading.Thread(target=client, args=(p, k), daemon=True) for p in range(len(portals)) for k in range(clients)]
    for t in threads:
        t.start()
    return threads


def check_answers(received, receipts):
    """Every receipt a client received is in its log, byte for byte as a JSON value."""
    by_key = {(r["log"], r["seq"]): r for log in receipts.values() for r in log}
    for _, _, _, body in received:
        for r in receipts_of(body):
            held = {k: v for k, v in r.items() if k != "sig"}  # a bundle line carries no signature
            assert "sig" in r and by_key.get((r["log"], r["seq"])) == held, f"a receipt a client holds is not in the log: {r}"


def test_two_replicas_under_load(tmp_path):
    world = World(tmp_path)
    replicas = Replicas(world, postgres_url())
    portals = [replicas.start(0), replicas.start(1)]
    received, lock = [], threading.Lock()
    try:
        started = time.monotonic()
        for t in hammer(world, portals, clients=LOAD[0], calls=LOAD[1], received=received, lock=lock):
            t.join(timeout=3600)
        elapsed = time.monotonic() - started
    finally:
        for p in portals:
            assert p.stop() == 0, p.stderr_text()
    assert len(received) == 2 * LOAD[0] * LOAD[1]
    print(f"\nreplicas under load: {len(received)} calls from {2 * LOAD[0]} clients in {elapsed:.1f} s ({len(received) / elapsed:.0f} calls/s)")
    codes = {}
    for _, tool, arguments, body in received:
        codes.setdefault(tool if tool != "echo" or len(arguments["text"]) < 33 else "echo-long", []).append(code_of(body))
    assert set(codes["forbidden"]) == {"PTL_TOOL_NOT_ALLOWED"}
    assert set(codes["echo-long"]) == {"PTL_CONSTRAINT_VIOLATED"}
    assert set(codes["echo"]) == {None}
    # One limit of ADD_MAX shared by both replicas: exactly ADD_MAX allowed, the rest limited.
    assert codes["add"].count(None) == ADD_MAX, codes["add"]
    assert set(codes["add"]) == {None, "PTL_RATE_LIMITED"}
    receipts, report = replicas.export()
    check_answers(received, receipts)
    allowed_adds = [r for log in receipts.values() for r in log if r["decision"] == "ALLOW" and r.get("tool") == "add"]
    assert len(allowed_adds) == ADD_MAX and {r["log"] for r in allowed_adds} == set(ORIGINS), "both replicas served the limit"
    assert report["receipts"] == sum(len(log) for log in receipts.values()) and report["open_calls"] == 0, report


def test_kill_9_one_replica_under_load(tmp_path):
    world = World(tmp_path)
    replicas = Replicas(world, postgres_url())
    portals = [replicas.start(0), replicas.start(1)]
    received, lock, stop = [], threading.Lock(), threading.Event()
    threads = hammer(world, portals, clients=4, calls=60, received=received, lock=lock, stop=stop, label="k")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if sum(1 for p, *_ in received if p == 1) >= 20:
                break
        time.sleep(0.02)
    portals[1].kill()  # SIGKILL mid-load
    stop.set()
    with lock:
        at_kill = sum(1 for p, *_ in received if p == 0)
    for t in threads:
        t.join(timeout=300)
    survivor = [body for p, *_, body in received if p == 0]
    assert len(survivor) == 4 * 60 and len(survivor) > at_kill, "the surviving replica stopped serving"
    restarted = replicas.start(1)
    try:
        status, _, body = restarted.stateless(world.attach(call("after-restart", "echo", {"text": "after restart"}, era=MODERN)))
        assert status == 200 and code_of(body) is None, body
        received.append((1, "echo", {"text": "after restart"}, body))
    finally:
        assert restarted.stop() == 0, restarted.stderr_text()
        assert portals[0].stop() == 0, portals[0].stderr_text()
    receipts, report = replicas.export()
    check_answers(received, receipts)
    allowed_adds = [r for log in receipts.values() for r in log if r["decision"] == "ALLOW" and r.get("tool") == "add"]
    assert len(allowed_adds) <= ADD_MAX
    assert report["open_calls"] == 0, report
