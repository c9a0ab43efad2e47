"""The MCP binding on Streamable HTTP, against a real MCP peer: the MCP Python SDK (mcp 2.3.0)
as client of `attest mcp serve-http`, a Swift SDK 0.12.1 server on SwiftNIO whose HTTP layer
verifies every tools/call on the POST body before the SDK sees it.

The Swift SDK speaks only the handshake era, so the client runs in legacy mode (2025-11-25:
initialize, then MCP-Session-Id). Tokens and proofs are made in Python (PyNaCl, rfc8785) as in
test_mcp_peers.py and attached to each tools/call just before the SDK sends it. A response hook
on the SDK's HTTP client records the status and WWW-Authenticate of every tools/call POST, so
each rejection is checked on the wire (spec/mcp-binding.md §Rejections) and as the SDK reports
it (-31000, registry code in error.data), after a positive control that differs from it only in
the defect. The demo tool counts its runs, so a rejected call is seen never to reach it.

Nothing here skips: a missing package or binary fails with what to install or build.
"""
import base64, copy, json, os, subprocess, time
from contextlib import AsyncExitStack

import pytest

try:
    import anyio
    import httpx2
    import rfc8785
    from mcp import Client
    from mcp.client import advertise
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPError
except ImportError as error:  # fail, never skip
    pytest.fail(f"missing Python package ({error}); run: pip install -r Tests/python/requirements.txt", pytrace=False)

from test_mcp_peers import (AGENT, AUD, EXT, ISS, PROOF_KEY, PROVIDER, TD, TOKEN_KEY, _Writer, attest_binary, b64u, claims,
                            sha, trust)  # noqa: F401 (trust is a fixture)

SUB = f"spiffe://{TD}/acme/support-bot"
OTHER_AUD = "https://other-tools.example/mcp"


def token(aud=AUD):
    payload = dict(claims(int(time.time())), aud=aud)
    return PROVIDER.jws({"alg": "Ed25519", "kid": PROVIDER.kid, "typ": "agent-attestation+jwt"}, payload)


def tampered(jws):
    """The token with another subject in its payload and the original signature."""
    header, payload, signature = jws.split(".")
    claims_ = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims_["sub"] = f"spiffe://{TD}/acme/admin-bot"
    return ".".join([header, b64u(rfc8785.dumps(claims_)), signature])


def attach(request, tok, aud=AUD, signed_params=None):
    """Token and a fresh proof in params._meta (proof.md); the proof covers `signed_params`
    when given, else the params sent."""
    r = copy.deepcopy(request)
    r["params"].setdefault("_meta", {})[TOKEN_KEY] = tok
    hashed = copy.deepcopy(signed_params if signed_params is not None else r["params"])
    for k in (TOKEN_KEY, PROOF_KEY, "dev.agent-attestation/operator"):
        hashed.get("_meta", {}).pop(k, None)
    payload = {"mth": r["method"], "ph": sha(rfc8785.dumps(hashed)), "aud": aud, "iat": int(time.time()),
               "jti": b64u(os.urandom(16)), "ath": sha(tok.encode())}
    r["params"]["_meta"][PROOF_KEY] = AGENT.jws({"alg": "Ed25519", "jwk": AGENT.jwk, "typ": "agent-proof+jwt"}, payload)
    return r


@pytest.fixture
def serve(tmp_path, trust):
    """Starts `attest mcp serve-http` on an ephemeral port under a policy; returns its URL."""
    procs = []

    def start(policy):
        log = tmp_path / f"serve-http-{len(procs)}.stderr"
        with open(log, "w") as stderr:
            proc = subprocess.Popen([attest_binary(), "mcp", "serve-http", "--port", "0", "--policy", policy, *trust["args"]],
                                    stdout=subprocess.PIPE, stderr=stderr, text=True)
        procs.append(proc)
        first = proc.stdout.readline()
        if not first:
            pytest.fail(f"serve-http printed no URL: {log.read_text()}", pytrace=False)
        return json.loads(first)["url"]

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


class AttestingHTTP:
    """streamable_http_client whose write stream passes each tools/call through `attach(dict) -> dict`,
    and whose HTTP client records (status, WWW-Authenticate) of each tools/call POST in `posts`."""

    def __init__(self, url, attach):
        self.url, self.attach, self.posts = url, attach, []

    async def _record(self, response):
        if response.request.method == "POST" and json.loads(response.request.content).get("method") == "tools/call":
            self.posts.append((response.status_code, response.headers.get("www-authenticate")))

    async def __aenter__(self):
        self._stack = AsyncExitStack()
        http = await self._stack.enter_async_context(create_mcp_http_client())
        http.event_hooks = {"response": [self._record]}
        read, write = await self._stack.enter_async_context(streamable_http_client(self.url, http_client=http))
        return read, _Writer(write, self.attach)

    async def __aexit__(self, *exc):
        return await self._stack.__aexit__(*exc)


def note_of(request):
    return request["params"]["arguments"]["note"]


def test_required_policy_over_streamable_http(serve):
    """A valid token and proof are accepted; each defect is rejected with its HTTP status,
    challenge and registry code, right after the same call made correctly is accepted."""
    url = serve("required")
    good = token()
    sent = {}

    def control_and_attack(request):
        case, kind = note_of(request).split(":")
        attack = kind == "attack"
        if case == "no-token":
            return request if attack else attach(request, good)
        if case == "tampered-token":
            return attach(request, tampered(good) if attack else good)
        if case == "replayed-proof":
            if attack:  # the control's params, token and proof, sent again under a new request id
                return dict(request, params=copy.deepcopy(sent["replayed-proof:control"]["params"]))
            sent[note_of(request)] = attach(request, good)
            return sent[note_of(request)]
        if case == "proof-over-other-params":
            other = dict(request["params"], arguments={"note": "something else"})
            return attach(request, good, signed_params=other if attack else None)
        if case == "wrong-audience":
            return attach(request, token(OTHER_AUD), aud=OTHER_AUD) if attack else attach(request, good)
        raise AssertionError(case)

    cases = [("no-token", "PRF_TOKEN_MISSING", "attestation_required"),
             ("tampered-token", "TOK_SIGNATURE_INVALID", "invalid_attestation"),
             ("replayed-proof", "PRF_REPLAY", "invalid_attestation"),
             ("proof-over-other-params", "PRF_PARAMS_HASH_MISMATCH", "invalid_attestation"),
             ("wrong-audience", "TOK_AUDIENCE_MISMATCH", "invalid_attestation")]

    async def main():
        http = AttestingHTTP(url, control_and_attack)
        async with Client(http, mode="legacy", extensions=[advertise(EXT, {})]) as client:
            assert client.protocol_version == "2025-11-25"
            advertised = client.server_capabilities.model_dump(mode="json", exclude_none=True)
            assert advertised["extensions"][EXT] == {"audience": AUD, "policy": "required"}
            for runs, (case, code, error) in enumerate(cases, start=1):
                ok = await client.call_tool("whoami", {"note": f"{case}:control"})
                assert ok.content[0].text.startswith(f"attested sub={SUB} iss={ISS} ")
                assert ok.content[0].text.endswith(f" runs={runs}")
                assert http.posts[-1] == (200, None)
                with pytest.raises(MCPError) as rejected:
                    await client.call_tool("whoami", {"note": f"{case}:attack"})
                assert http.posts[-1] == (401, f'AgentAttestation error="{error}", code="{code}"'), case
                assert rejected.value.code == -31000
                assert rejected.value.data == {"code": code, "extension": EXT}
                assert rejected.value.message.startswith(code)

    anyio.run(main)


def test_optional_policy_over_streamable_http(serve):
    """Under `optional` a call without token is served unattested, but a present and invalid
    token is still rejected, never treated as absent."""
    url = serve("optional")

    def tamper_or_not(request):
        return attach(request, tampered(token())) if note_of(request) == "tampered" else request

    async def main():
        http = AttestingHTTP(url, tamper_or_not)
        async with Client(http, mode="legacy") as client:
            advertised = client.server_capabilities.model_dump(mode="json", exclude_none=True)
            assert advertised["extensions"][EXT] == {"audience": AUD, "policy": "optional"}
            bare = await client.call_tool("whoami", {"note": "bare"})
            assert bare.content[0].text == "unattested tool=whoami runs=1"
            assert http.posts[-1] == (200, None)
            with pytest.raises(MCPError) as rejected:
                await client.call_tool("whoami", {"note": "tampered"})
            assert rejected.value.data == {"code": "TOK_SIGNATURE_INVALID", "extension": EXT}
            assert http.posts[-1] == (401, 'AgentAttestation error="invalid_attestation", code="TOK_SIGNATURE_INVALID"')

    anyio.run(main)


def test_malformed_request_over_raw_http(serve):
    """Plain POSTs in an SDK session: a body the strict parser refuses (a duplicated member,
    which another parser would read as either tool) is 400 without challenge, with id null;
    the control, the same call without the duplicate, is served."""
    url = serve("required")
    with httpx2.Client(headers={"accept": "application/json, text/event-stream", "content-type": "application/json"}) as http:
        opened = http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"extensions": {EXT: {}}}, "clientInfo": {"name": "raw", "version": "1"}}})
        assert opened.status_code == 200
        http.headers.update({"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"})
        assert http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202

        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {"note": "raw"}}}
        served = http.post(url, content=json.dumps(attach(call, token())))
        assert served.status_code == 200
        reply = json.loads(next(line[6:] for line in served.text.splitlines() if line.startswith("data: {")))
        assert reply["result"]["content"][0]["text"].startswith(f"attested sub={SUB}")

        duplicated = json.dumps(attach(dict(call, id=2), token())).replace('"name": "whoami"', '"name": "whoami", "name": "delete_all"')
        rejected = http.post(url, content=duplicated)
        assert (rejected.status_code, rejected.headers.get("www-authenticate")) == (400, None)
        assert rejected.json() == {"jsonrpc": "2.0", "id": None, "error": {
            "code": -31000, "message": rejected.json()["error"]["message"],
            "data": {"code": "JSON_DUPLICATE_MEMBER", "extension": EXT}}}
