"""What the portal tests share: a world in a temporary directory (keys, a provider JWK Set,
tokens, sealed artifacts and mandates, a portal configuration), the portal started over
stdio or Streamable HTTP in front of portal_upstream.py, raw JSON-RPC clients for both,
and the export and offline verification of what the portal recorded.

Tokens and proofs are made here in Python (PyNaCl, rfc8785) as in test_mcp_peers.py; the
log and authority keys are made by `attest key generate`, the artifacts sealed by
`attest artifact seal` and the narrowing mandates derived by `attest mandate derive`.
Mandates that widen (which `attest mandate derive` refuses to make) are signed here.

Nothing here skips: a missing package or binary fails with what to install or build.
"""
from contextlib import AsyncExitStack
import copy, hashlib, json, os, pathlib, shutil, signal, subprocess, sys, threading, time, urllib.error, urllib.request

import pytest

try:
    import nacl.bindings
    import rfc8785
    import mcp  # noqa: F401 (the upstream and the peers need it)
except ImportError as error:  # fail, never skip
    pytest.fail(f"missing Python package ({error}); run: pip install -r Tests/python/requirements.txt", pytrace=False)

import evidence
from test_mcp_peers import AUD, EXT, ISS, PROOF_KEY, PROVIDER, TD, TOKEN_KEY, Ed, attest_binary, b64u, sha

HERE = pathlib.Path(__file__).resolve().parent
UPSTREAM = HERE / "portal_upstream.py"
RECEIPTS_KEY = "dev.agent-attestation/receipts"
MANDATES_KEY = "dev.agent-attestation/mandates"
ORIGIN = "portal.example/log/0"
MODERN, LEGACY = "2026-07-28", "2025-11-25"

AGENT = Ed(hashlib.sha256(b"portal tests: agent").digest())
AGENT2 = Ed(hashlib.sha256(b"portal tests: second agent").digest())
STRANGER = Ed(hashlib.sha256(b"portal tests: agent without an artifact").digest())
SUB = f"spiffe://{TD}/acme/support-bot"
SUB2 = f"spiffe://{TD}/acme/helper-bot"
SUB3 = f"spiffe://{TD}/acme/stranger-bot"
ECHO_MAX = 32


def require_tools():
    if shutil.which("prlimit") is None:
        pytest.fail("prlimit is missing: apt-get install util-linux", pytrace=False)


def attest(*args, check=True, timeout=120, **kw):
    run = subprocess.run([attest_binary(), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert run.returncode == 0, f"attest {' '.join(map(str, args))}: {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


def upstream_sha256():
    """What the portal observes of `python3 portal_upstream.py`: the SHA-256 of the executable."""
    return hashlib.sha256(pathlib.Path(sys.executable).read_bytes()).hexdigest()


def upstream_identity():
    """What the portal observes of `python3 portal_upstream.py` (artifact.md §Upstream identity
    and drift): the interpreter the process executes, and the script its command names."""
    return {"transport": "stdio", "executable_sha256": upstream_sha256(),
            "files_sha256": [hashlib.sha256(UPSTREAM.read_bytes()).hexdigest()]}


def tool_policies():
    return {
        "echo": {"arguments": {"text": {"type": "string", "max_length": ECHO_MAX}}, "required": ["text"]},
        "add": {"arguments": {"a": {"type": "integer", "minimum": 0, "maximum": 1000},
                              "b": {"type": "integer", "minimum": 0, "maximum": 1000}},
                "required": ["a", "b"], "rate_limit": {"max": 3, "window": 3600}},
        "crash": {},
        "slow": {"arguments": {"seconds": {"type": "integer", "minimum": 0, "maximum": 30}}},
        "ask": {"arguments": {"question": {"type": "string", "max_length": 64}}, "required": ["question"]},
    }


class World:
    """Keys, trust inputs, artifacts and configurations in `root` (a tmp_path)."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.now = int(time.time())
        self.upstream_log = root / "upstream-calls.jsonl"
        attest("key", "generate", "--out", root / "authority.seed")
        attest("key", "generate", "--out", root / "log.seed")
        self.authority = json.loads(attest("key", "show", "--key", root / "authority.seed").stdout)["thumbprint"]
        self.log_verifier = json.loads(attest("key", "show", "--key", root / "log.seed", "--origin", ORIGIN).stdout)["note_verifier"]
        (root / "provider.jwks.json").write_text(json.dumps({"keys": [dict(PROVIDER.jwk, kid=PROVIDER.kid)]}))
        (root / "agent.seed").write_text(AGENT.seed.hex())
        (root / "agent2.seed").write_text(AGENT2.seed.hex())
        self.artifact = self.seal("agent", self.unsigned(SUB, AGENT))
        # The second agent's own artifact has expired: its calls are outside the window.
        self.expired = self.seal("agent2-expired", self.unsigned(SUB2, AGENT2, not_before=self.now - 7200, not_after=self.now - 3600))
        self.digest = self.digest_of(self.artifact)

    # ------------------------------------------------------------ artifacts and mandates

    def unsigned(self, sub, agent, kind="artifact", **changes):
        body = {"type": f"mcp-attest/{kind}/v1", "id": f"{kind}-{sub.rsplit('/', 1)[-1]}", "issuer": "https://policy.acme.example",
                "subject": {"sub": sub, "jkt": agent.kid}, "not_before": self.now - 3600, "not_after": self.now + 3600,
                "tools": tool_policies(), "log": {"origins": [ORIGIN]}}
        body.update(changes)
        return body

    def seal(self, name, body):
        unsigned = self.root / f"{name}.unsigned.json"
        unsigned.write_text(json.dumps(body))
        out = self.root / f"{name}.artifact.json"
        attest("artifact", "seal", "--in", unsigned, "--key", self.root / "authority.seed", "--out", out)
        return out

    def derive(self, name, body, parent=None, key="agent.seed"):
        """A mandate derived (and checked to narrow) by `attest mandate derive`; returns its JSON."""
        unsigned = self.root / f"{name}.unsigned.json"
        unsigned.write_text(json.dumps(body))
        out = self.root / f"{name}.mandate.json"
        attest("mandate", "derive", "--parent", parent or self.artifact, "--in", unsigned, "--key", self.root / key, "--out", out)
        return json.loads(out.read_text())

    @staticmethod
    def digest_of(path):
        doc = json.loads(pathlib.Path(path).read_text())
        body = {k: v for k, v in doc.items() if k != "sig"}
        jwk = doc["sig"]["jwk"]
        signer = sha(rfc8785.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}))
        return sha(rfc8785.dumps({"body": body, "signer": signer}))

    @staticmethod
    def python_mandate(body, parent_digest, signer: Ed):
        """A mandate signed here (signatures.md: "MCP-ATTEST-v1:" || "mandate" || 0x00 || JCS), whatever it says."""
        body = dict(body, type="mcp-attest/mandate/v1", parent=parent_digest)
        body.pop("sig", None)
        message = b"MCP-ATTEST-v1:mandate\x00" + rfc8785.dumps(body)
        value = nacl.bindings.crypto_sign(message, signer.sk)[:64]
        return dict(body, sig={"alg": "Ed25519", "jwk": dict(signer.jwk, kid=signer.kid), "value": b64u(value)})

    def config(self, name="portal.json", artifacts=None, store="store", limits=None, checkpoint=None, **extra):
        c = {"audience": AUD, "artifacts": [str(a) for a in (artifacts or [self.artifact, self.expired])],
             "authorities": [self.authority],
             "issuers": [{"issuer": ISS, "trust_domains": [TD], "jwks": "provider.jwks.json"}],
             "log": {"origin": ORIGIN, "key": "log.seed"}, "store": store,
             "checkpoint": checkpoint or {"every": 1000, "seconds": 60}}
        if limits:
            c["limits"] = limits
        c.update(extra)
        path = self.root / name
        path.write_text(json.dumps(c, indent=1))
        return path

    # ------------------------------------------------------------ tokens and proofs

    def token(self, agent=AGENT, sub=SUB, iat=None, lifetime=600):
        iat = int(time.time()) - 10 if iat is None else iat
        claims = {"iss": ISS, "sub": sub, "aud": AUD, "iat": iat, "exp": iat + lifetime, "jti": b64u(os.urandom(12)),
                  "cnf": {"jkt": agent.kid},
                  "agent": {"provider": "Example Provider", "model_family": "example-model", "model_version": "2026-05-01",
                            "deployment": "acme-support-prod", "operator": "https://acme.example", "safety_level": "standard"}}
        return PROVIDER.jws({"alg": "Ed25519", "kid": PROVIDER.kid, "typ": "agent-attestation+jwt"}, claims)

    def attach(self, request, agent=AGENT, sub=SUB, token=None, mandates=None):
        """Token, mandates and a fresh proof in params._meta (proof.md, portal.md): the mandates
        are part of the proof's preimage, the three carrier members are not."""
        token = token or self.token(agent, sub)
        r = copy.deepcopy(request)
        meta = r.setdefault("params", {}).setdefault("_meta", {})
        if mandates is not None:
            meta[MANDATES_KEY] = mandates
        meta[TOKEN_KEY] = token
        hashed = copy.deepcopy(r["params"])
        for k in (TOKEN_KEY, PROOF_KEY, "dev.agent-attestation/operator"):
            hashed["_meta"].pop(k, None)
        payload = {"mth": r["method"], "ph": sha(rfc8785.dumps(hashed)), "aud": AUD, "iat": int(time.time()),
                   "jti": b64u(os.urandom(16)), "ath": sha(token.encode())}
        meta[PROOF_KEY] = agent.jws({"alg": "Ed25519", "jwk": agent.jwk, "typ": "agent-proof+jwt"}, payload)
        return r

    # ------------------------------------------------------------ the portal

    def env(self, **extra):
        return {**os.environ, "PORTAL_UPSTREAM_LOG": str(self.upstream_log), **extra}

    def upstream_command(self):
        return [sys.executable, str(UPSTREAM)]

    def upstream_calls(self):
        if not self.upstream_log.exists():
            return []
        return [json.loads(line) for line in self.upstream_log.read_text().splitlines() if line.strip()]

    def stdio(self, config, prefix=(), **kw):
        """`extra_args` (keyword) go before the `--` of the upstream command."""
        return StdioPortal(self, config, prefix=prefix, **kw)

    def http(self, config, prefix=(), extra_args=(), upstream_url=None):
        return HTTPPortal(self, config, prefix=prefix, extra_args=extra_args, upstream_url=upstream_url)

    def export(self, config, name="bundle", disclose="all"):
        """Exports the store, verifies the bundle offline; returns (receipts, report)."""
        store = json.loads(pathlib.Path(config).read_text())["store"]
        out = self.root / name
        shutil.rmtree(out, ignore_errors=True)
        attest("bundle", "export", "--store", self.root / store, "--config", config, "--out", out, "--disclose", disclose)
        report = self.root / f"{name}.report.json"
        run = attest("bundle", "verify", out, f"--authority={self.authority}", f"--log-key={self.log_verifier}",
                     "--now", int(time.time()), "--report", report, check=False)
        assert run.returncode == 0 and run.stdout.startswith("PASS"), f"bundle verify: {run.returncode}\n{run.stdout}\n{run.stderr}"
        files = sorted(out.glob("logs/*/receipts.jsonl"))
        assert len(files) == 1, f"one log expected in the bundle: {files}"
        receipts = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
        report = json.loads(report.read_text())
        # After a clean stop the log ends at the final checkpoint with every call closed.
        assert report["verdict"] == "PASS" and report["receipts"] == len(receipts) and report["open_calls"] == 0, report
        return receipts, report


def stateless_meta(name="raw"):
    return {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {"extensions": {EXT: {}}},
            "io.modelcontextprotocol/clientInfo": {"name": name, "version": "1"}}


def call(id_, tool, arguments, era=LEGACY):
    params = {"name": tool, "arguments": arguments}
    if era == MODERN:
        params["_meta"] = stateless_meta()
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params}


def request(id_, method, params=None, era=LEGACY):
    params = copy.deepcopy(params or {})
    if era == MODERN:
        params.setdefault("_meta", {}).update(stateless_meta())
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


class PortalProcess:
    """What both portal drivers share: `proc`, `stderr` and `stderr_path`."""

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.stderr.close()

    def stderr_text(self):
        if not self.stderr.closed:
            self.stderr.flush()
        return self.stderr_path.read_text()[-4000:]


class StdioPortal(PortalProcess):
    """`attest portal stdio` spoken to in raw JSON lines; a reader thread files every line."""

    def __init__(self, world, config, prefix=(), env=None, extra_args=()):
        self.world = world
        self.stderr_path = world.root / f"portal-stdio-{time.monotonic_ns()}.stderr"
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([*prefix, attest_binary(), "portal", "stdio", "--config", str(config), *extra_args, "--",
                                      *world.upstream_command()], env=env or world.env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.lines, self.cond = [], threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            message = json.loads(raw)
            with self.cond:
                self.lines.append(message)
                self.cond.notify_all()

    def send_bytes(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        self.send_bytes(json.dumps(message).encode() + b"\n")

    def wait_for(self, predicate, timeout=30, what="a reply"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.lines:
                    if predicate(m):
                        self.lines.remove(m)
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    pytest.fail(f"no {what} from the portal in {timeout}s; stderr:\n{self.stderr_text()}", pytrace=False)
                self.cond.wait(min(left, 0.2))

    def ask(self, message, timeout=30):
        self.send(message)
        return self.wait_for(lambda m: "method" not in m and m.get("id") == message["id"], timeout, f"reply to id {message['id']}")

    def initialize(self):
        init = self.ask({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {"extensions": {EXT: {}}}, "clientInfo": {"name": "raw", "version": "1"}}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return init

    def stop(self, timeout=30):
        """Closes stdin: the portal drains, checkpoints and exits."""
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the stdio portal did not stop in {timeout}s; stderr:\n{self.stderr_text()}", pytrace=False)
        self.reader.join(timeout=5)
        self.stderr.close()
        return code



class HTTPPortal(PortalProcess):
    """`attest portal http` on an ephemeral port."""

    def __init__(self, world, config, prefix=(), extra_args=(), upstream_url=None):
        self.world = world
        self.stderr_path = world.root / f"portal-http-{time.monotonic_ns()}.stderr"
        self.stderr = open(self.stderr_path, "w")
        upstream = ["--upstream", upstream_url] if upstream_url else ["--", *world.upstream_command()]
        self.proc = subprocess.Popen([*prefix, attest_binary(), "portal", "http", "--config", str(config), "--listen", "127.0.0.1:0",
                                      *extra_args, *upstream], env=world.env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        first = self.proc.stdout.readline()
        if not first.startswith("portal listening on "):
            self.proc.kill()
            pytest.fail(f"the HTTP portal printed no URL ({first!r}); stderr:\n{self.stderr_path.read_text()}", pytrace=False)
        self.url = first.split("portal listening on ", 1)[1].strip()
        self.base = self.url.rsplit("/mcp", 1)[0]
        self.port = int(self.base.rsplit(":", 1)[1])

    def post(self, body, headers=None, raw=None, timeout=60, session=None):
        """One POST /mcp; returns (status, headers, parsed JSON body or None)."""
        data = raw if raw is not None else json.dumps(body).encode()
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if session:
            h["Mcp-Session-Id"] = session
        h.update(headers or {})
        return http_request(self.url, "POST", data, h, timeout)

    def stateless(self, message, headers=None, timeout=60):
        """A stateless-era request with the routing headers that repeat its body."""
        h = {"MCP-Protocol-Version": MODERN, "Mcp-Method": message["method"]}
        name = message.get("params", {}).get("name") if message["method"] in ("tools/call", "prompts/get") else None
        if name is not None:
            h["Mcp-Name"] = name
        h.update(headers or {})
        return self.post(message, h, timeout=timeout)

    def open_session(self):
        status, headers, body = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {"extensions": {EXT: {}}}, "clientInfo": {"name": "raw", "version": "1"}}})
        assert status == 200, (status, body)
        session = headers["mcp-session-id"]
        status, _, _ = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"},
                                 {"MCP-Protocol-Version": LEGACY}, session=session)
        assert status == 202, status
        return session, body

    def get(self, path, headers=None):
        return http_request(self.base + path, "GET", None, headers or {}, 30)

    def stop(self, timeout=60):
        """SIGTERM: the portal drains, writes a final checkpoint and exits."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the HTTP portal did not stop in {timeout}s on SIGTERM; stderr:\n{self.stderr_text()}", pytrace=False)
        self.stderr.close()
        return code



def http_request(url, method, data, headers, timeout):
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    body = None
    if raw and hdrs.get("content-type", "").startswith("application/json"):
        body = json.loads(raw)
    elif raw and hdrs.get("content-type", "").startswith("text/event-stream"):
        # Streamable HTTP: the answer may be an event stream; the response is the event that
        # is a JSON-RPC response (the others are the server's own messages).
        for event in sse_events(raw.decode()):
            if "method" not in event and ("result" in event or "error" in event):
                body = event
    return status, hdrs, body


def sse_events(text):
    """The JSON messages of a text/event-stream body, one per event (data lines joined)."""
    events, data = [], []
    for line in text.split("\n"):
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "" and data:
            events.append(json.loads("\n".join(data)))
            data = []
    if data:
        events.append(json.loads("\n".join(data)))
    return events


# ------------------------------------------------------------ what the tests assert about replies and logs


def receipts_of(reply):
    """The receipts a client received with a reply (result._meta or error.data)."""
    if "result" in reply:
        return (reply["result"].get("_meta") or {}).get(RECEIPTS_KEY, [])
    data = reply.get("error", {}).get("data")
    return data.get(RECEIPTS_KEY, []) if isinstance(data, dict) else []


def code_of(reply):
    error = reply.get("error") or {}
    data = error.get("data")
    return data.get("code") if isinstance(data, dict) else None


def assert_rejected(reply, code, receipts=0):
    assert "error" in reply, f"expected {code}, got a result: {json.dumps(reply)[:600]}"
    assert reply["error"]["code"] == -31000, reply
    assert code_of(reply) == code, f"expected {code}: {json.dumps(reply)[:600]}"
    got = receipts_of(reply)
    assert len(got) == receipts, f"{code}: {len(got)} receipts with the error, expected {receipts}: {reply}"
    if receipts:
        assert got[0]["decision"] == "DENY" and got[0]["code"] == code, got
    evidence.observed(code)
    return got


def assert_allowed(reply):
    assert "result" in reply, f"expected a result: {json.dumps(reply)[:800]}"
    got = receipts_of(reply)
    assert [r["decision"] for r in got] == ["ALLOW", "RESULT"], got
    assert got[1]["call"] == got[0]["seq"] and "response" not in got[0] and "code" not in got[1], got
    return got


def without_receipts(result):
    r = copy.deepcopy(result)
    meta = r.get("_meta")
    if isinstance(meta, dict):
        meta.pop(RECEIPTS_KEY, None)
        if not meta:
            r.pop("_meta")
    return r


def check_log(receipts, received):
    """The exported log against what clients received: seqs 0..n-1 once each, every received
    receipt in it byte for byte (as JSON), every ALLOW closed by exactly one RESULT."""
    seqs = [r["seq"] for r in receipts]
    assert seqs == list(range(len(receipts))), f"seqs not 0..n-1 exactly once: {seqs}"
    by_seq = {r["seq"]: r for r in receipts}
    for r in received:
        # A client gets each receipt signed; a bundle's line is the same receipt without its
        # signature (bundle.md §Receipts without signatures).
        assert "sig" in r, f"a receipt a client received is not signed: {r}"
        held = {k: v for k, v in r.items() if k != "sig"}
        assert by_seq.get(r["seq"]) == held, f"a receipt a client received is not in the log as received: {r}"
    results = {}
    for r in receipts:
        if r["decision"] == "RESULT":
            assert r["call"] not in results, f"two RESULTs for seq {r['call']}"
            assert by_seq[r["call"]]["decision"] == "ALLOW", r
            results[r["call"]] = r
    for r in receipts:
        if r["decision"] == "ALLOW":
            assert r["seq"] in results, f"ALLOW {r['seq']} has no RESULT"
    return results


def shape(receipts):
    """The log as (decision, tool, code) triples, in order."""
    return [(r["decision"], r.get("tool"), r.get("code")) for r in receipts]


def http_transport(portal):
    """A Streamable HTTP client transport of the MCP Python SDK to `portal`, for `mcp.Client`."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    class HTTPTransport:
        async def __aenter__(self):
            self._stack = AsyncExitStack()
            http = await self._stack.enter_async_context(create_mcp_http_client())
            return await self._stack.enter_async_context(streamable_http_client(portal.url, http_client=http))

        async def __aexit__(self, *exc):
            return await self._stack.__aexit__(*exc)

    return HTTPTransport
