"""The MCP binding against a real MCP peer: the MCP Python SDK (mcp 2.3.0), over stdio.

(a) A Python MCP client calls `attest mcp serve-demo`, a Swift SDK 0.12.1 server whose
    transport verifies every tools/call. The Swift SDK speaks only the handshake era, so
    the client runs in legacy mode (2025-11-25). Token and proofs are made here in Python
    (PyNaCl, rfc8785), independently of the Swift code, and attached to the request the
    SDK is about to write, so the proof covers exactly the params on the wire.
(b) A Python MCPServer (dual-era) checks every tools/call with `attest mcp verify`; the
    requests are attested by `attest mcp attach`, sent as raw JSON lines and by the Python
    SDK client, in the stateless era (2026-07-28) and the handshake era (2025-11-25).

Nothing here skips: a missing package or binary fails with what to install or build.
"""
import base64, copy, hashlib, json, os, pathlib, subprocess, sys, time

import pytest

try:
    import anyio
    import nacl.bindings
    import rfc8785
    from mcp import Client, StdioServerParameters
    from mcp.client import advertise
    from mcp.client.stdio import stdio_client
    from mcp.shared.exceptions import MCPError
    from mcp.shared.message import SessionMessage
    from mcp_types.jsonrpc import JSONRPCRequest
except ImportError as error:  # fail, never skip
    pytest.fail(f"missing Python package ({error}); run: pip install -r Tests/python/requirements.txt", pytrace=False)

from conftest import ROOT

HERE = pathlib.Path(__file__).resolve().parent
EXT = "dev.agent-attestation/v1"
TOKEN_KEY, PROOF_KEY = "dev.agent-attestation/token", "dev.agent-attestation/proof"
ISS, TD, AUD = "https://provider.example", "agents.provider.example", "https://tools.acme.example/mcp"
PROVIDER_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8037 A.1
AGENT_SEED = hashlib.sha256(b"mcp peer tests: agent").digest()


def attest_binary():
    if os.environ.get("ATTEST_BIN"):
        return os.environ["ATTEST_BIN"]
    built = [p for p in ROOT.glob(".build*/debug/attest") if os.access(p, os.X_OK)]
    if not built:
        pytest.fail("no built attest binary: run `swift build` first, or set ATTEST_BIN", pytrace=False)
    return str(max(built, key=lambda p: p.stat().st_mtime))


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sha(b: bytes) -> str:
    return b64u(hashlib.sha256(b).digest())


class Ed:
    def __init__(self, seed):
        self.seed = seed
        self.pk, self.sk = nacl.bindings.crypto_sign_seed_keypair(seed)
        self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(self.pk)}
        self.kid = sha(rfc8785.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64u(self.pk)}))

    def jws(self, header, payload):
        si = (b64u(rfc8785.dumps(header)) + "." + b64u(rfc8785.dumps(payload))).encode()
        return si.decode() + "." + b64u(nacl.bindings.crypto_sign(si, self.sk)[:64])


PROVIDER, AGENT = Ed(PROVIDER_SEED), Ed(AGENT_SEED)


def claims(now):
    return {"iss": ISS, "sub": f"spiffe://{TD}/acme/support-bot", "aud": AUD, "iat": now - 10, "exp": now + 600,
            "jti": f"tok-{now}", "cnf": {"jkt": AGENT.kid},
            "agent": {"provider": "Example Provider", "model_family": "example-model", "model_version": "2026-05-01",
                      "deployment": "acme-support-prod", "operator": "https://acme.example", "safety_level": "standard"}}


def python_token():
    return PROVIDER.jws({"alg": "Ed25519", "kid": PROVIDER.kid, "typ": "agent-attestation+jwt"}, claims(int(time.time())))


def python_attach(request, token, jti):
    """Token and proof in params._meta, made here without any Swift code (proof.md)."""
    r = copy.deepcopy(request)
    meta = r.setdefault("params", {}).setdefault("_meta", {})
    meta[TOKEN_KEY] = token
    hashed = copy.deepcopy(r["params"])
    for k in (TOKEN_KEY, PROOF_KEY, "dev.agent-attestation/operator"):
        hashed["_meta"].pop(k, None)
    payload = {"mth": r["method"], "ph": sha(rfc8785.dumps(hashed)), "aud": AUD, "iat": int(time.time()), "jti": jti,
               "ath": sha(token.encode())}
    meta[PROOF_KEY] = AGENT.jws({"alg": "Ed25519", "jwk": AGENT.jwk, "typ": "agent-proof+jwt"}, payload)
    return r


@pytest.fixture
def trust(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [PROVIDER.jwk]}))
    return {"jwks": str(jwks), "args": ["--audience", AUD, "--issuer", ISS, "--jwks", str(jwks), "--trust-domain", TD]}


class AttestingTransport:
    """stdio_client whose write stream passes every tools/call through `attach(dict) -> dict`
    just before it is serialized: the last point where the request can change."""

    def __init__(self, params, attach):
        self.params, self.attach = params, attach

    async def __aenter__(self):
        self._cm = stdio_client(self.params)
        read, write = await self._cm.__aenter__()
        return read, _Writer(write, self.attach)

    async def __aexit__(self, *exc):
        return await self._cm.__aexit__(*exc)


class _Writer:
    def __init__(self, inner, attach):
        self.inner, self.attach = inner, attach

    async def send(self, item):
        m = item.message
        if isinstance(m, JSONRPCRequest) and m.method == "tools/call":
            wire = self.attach(m.model_dump(by_alias=True, mode="json", exclude_unset=True))
            item = SessionMessage(JSONRPCRequest.model_validate(wire), metadata=item.metadata)
        await self.inner.send(item)

    async def aclose(self):
        await self.inner.aclose()

    async def __aenter__(self):
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc):
        return await self.inner.__aexit__(*exc)


# ---------------------------------------------------------------- (a) Python client -> Swift server


def test_python_client_to_swift_server(trust):
    """Accepted with a fresh proof; rejected with -31000 and the registry code in error.data
    for a call without token and for a replayed proof; the Swift server advertises the
    extension in its initialize result (which its SDK types cannot express)."""
    token = python_token()
    proofs = {}

    def attach(request):
        note = request["params"]["arguments"].get("note", "")
        if note == "no-token":
            return request
        if note == "replay" and "replay" in proofs:
            r = copy.deepcopy(request)
            r["params"].setdefault("_meta", {}).update(proofs["replay"])
            return r
        attached = python_attach(request, token, b64u(os.urandom(16)))
        proofs[note] = {k: attached["params"]["_meta"][k] for k in (TOKEN_KEY, PROOF_KEY)}
        return attached

    server = StdioServerParameters(command=attest_binary(), args=["mcp", "serve-demo", *trust["args"]])

    async def main():
        async with Client(AttestingTransport(server, attach), mode="legacy",
                          extensions=[advertise(EXT, {})]) as client:
            assert client.protocol_version == "2025-11-25"
            advertised = client.server_capabilities.model_dump(mode="json", exclude_none=True)
            assert advertised["extensions"][EXT] == {"audience": AUD, "policy": "required"}
            ok = await client.call_tool("whoami", {"note": "first"})
            assert ok.content[0].text.startswith(f"attested sub=spiffe://{TD}/acme/support-bot iss={ISS}")
            for note, code in [("no-token", "PRF_TOKEN_MISSING"), (None, None), ("replay", "PRF_REPLAY")]:
                if note is None:  # the first sending of the request to be replayed is accepted
                    await client.call_tool("whoami", {"note": "replay"})
                    continue
                with pytest.raises(MCPError) as rejected:
                    await client.call_tool("whoami", {"note": note})
                assert rejected.value.code == -31000
                assert rejected.value.data == {"code": code, "extension": EXT}
                assert rejected.value.message.startswith(code)

    anyio.run(main)


# ---------------------------------------------------------------- (b) Swift-attested requests -> Python server


@pytest.fixture
def python_server(tmp_path, trust):
    env = dict(os.environ, ATTEST_BIN=attest_binary(), PEER_JWKS=trust["jwks"], PEER_REPLAY_DB=str(tmp_path / "replay.sqlite"),
               PEER_LOG=str(tmp_path / "verdicts.jsonl"), PEER_AUDIENCE=AUD, PEER_ISSUER=ISS, PEER_TRUST_DOMAIN=TD)
    return {"params": StdioServerParameters(command=sys.executable, args=[str(HERE / "mcp_peer_server.py")], env=env),
            "log": tmp_path / "verdicts.jsonl", "env": env}


def swift_token(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(claims(int(time.time()))))
    (tmp_path / "provider.seed").write_text(PROVIDER_SEED.hex())
    run = subprocess.run([attest_binary(), "token", "issue", "--key", str(tmp_path / "provider.seed"), "--claims", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    (tmp_path / "token.txt").write_text(run.stdout.strip())
    return tmp_path / "token.txt"


def swift_attach(request, era, token_file):
    (token_file.parent / "agent.seed").write_text(AGENT_SEED.hex())
    run = subprocess.run([attest_binary(), "mcp", "attach", "--token", str(token_file), "--key", str(token_file.parent / "agent.seed"),
                          "--audience", AUD, "--era", era], input=json.dumps(request), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def verdicts(server):
    return [json.loads(line) for line in server["log"].read_text().splitlines()]


class Lines:
    """Raw JSON lines to a stdio MCP server process."""

    def __init__(self, server):
        p = server["params"]
        self.proc = subprocess.Popen([p.command, *p.args], env=server["env"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def send(self, message):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def ask(self, message):
        self.send(message)
        while True:
            reply = json.loads(self.proc.stdout.readline())
            if reply.get("id") == message["id"]:
                return reply

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_swift_attested_raw_lines_to_python_server(tmp_path, python_server):
    """Both eras on one raw stdio stream each: an `attest mcp attach` request is accepted,
    the same bytes again are a replay, and a bare call is refused without a token."""
    token_file = swift_token(tmp_path)
    caps = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}}
    stateless = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"_meta": caps, "name": "whoami", "arguments": {"note": "stateless"}}}
    handshake = {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "whoami", "arguments": {"note": "handshake"}}}

    modern = Lines(python_server)
    try:
        attached = swift_attach(stateless, "2026-07-28", token_file)
        assert attached["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]["extensions"] == {EXT: {}}
        assert modern.ask(attached)["result"]["content"][0]["text"] == "ran whoami stateless"
        replayed = modern.ask(dict(attached, id=2))
        assert replayed["error"]["code"] == -31000 and replayed["error"]["data"] == {"code": "PRF_REPLAY", "extension": EXT}
        bare = modern.ask(dict(stateless, id=3))
        assert bare["error"]["data"]["code"] == "PRF_TOKEN_MISSING"
    finally:
        modern.close()

    legacy = Lines(python_server)
    try:
        init = legacy.ask({"jsonrpc": "2.0", "id": 10, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"extensions": {EXT: {}}}, "clientInfo": {"name": "raw", "version": "1"}}})
        assert init["result"]["protocolVersion"] == "2025-11-25"
        legacy.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        attached = swift_attach(handshake, "2025-11-25", token_file)
        assert legacy.ask(attached)["result"]["content"][0]["text"] == "ran whoami handshake"
        assert legacy.ask(dict(attached, id=12))["error"]["data"]["code"] == "PRF_REPLAY"
    finally:
        legacy.close()

    seen = [(v["era"], v["result"], v.get("error"), v.get("sub")) for v in verdicts(python_server)]
    assert seen == [("2026-07-28", "valid", None, f"spiffe://{TD}/acme/support-bot"), ("2026-07-28", "invalid", "PRF_REPLAY", None),
                    ("2026-07-28", "invalid", "PRF_TOKEN_MISSING", None),
                    ("2025-11-25", "valid", None, f"spiffe://{TD}/acme/support-bot"), ("2025-11-25", "invalid", "PRF_REPLAY", None)]


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
def test_python_client_with_swift_attach_to_python_server(tmp_path, python_server, mode):
    """The Python SDK client in each era, its tools/call requests attested by `attest mcp
    attach` on their way out (after the SDK stamped its own _meta), verified by the Python
    server through `attest mcp verify`."""
    token_file = swift_token(tmp_path)
    era = "2026-07-28" if mode == "2026-07-28" else "2025-11-25"

    async def main():
        async with Client(AttestingTransport(python_server["params"], lambda r: swift_attach(r, era, token_file)),
                          mode=mode, extensions=[advertise(EXT, {})]) as client:
            assert client.protocol_version == era
            for i in range(2):
                result = await client.call_tool("whoami", {"note": f"call {i}"})
                assert result.content[0].text == f"ran whoami call {i}"

    anyio.run(main)
    assert [(v["era"], v["result"], v["attested"]) for v in verdicts(python_server)] == [(era, "valid", True)] * 2
