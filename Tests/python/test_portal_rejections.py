"""The portal's governed rejections, each on the wire with its exact registry code, each
right after a positive control that differs from it only in the one defect, each shown
never to reach the upstream (its call log), and each recorded in the log exactly as
spec/portal.md §Log entries says: nothing for a request refused before an artifact is
chosen (token, replay, no artifact, mandate chain, subject), one DENY for a call the
artifact denies, an ALLOW and a RESULT for a call forwarded. The exported bundle verifies
PASS and holds every receipt a client received.

Over stdio (raw JSON lines, handshake era) and over Streamable HTTP (stateless era, raw
HTTP, so that the status, challenge and routing headers can be checked).

Nothing here skips: a missing package or binary fails with what to install or build.
"""
import urllib.request
import json, time

from portal_fixture import (AGENT, AGENT2, AUD, ECHO_MAX, EXT, LEGACY, MANDATES_KEY, MODERN, STRANGER, SUB, SUB2, SUB3, World,
                            assert_allowed, assert_rejected, call, check_log, receipts_of, request, shape, upstream_identity,
                            upstream_sha256)


def narrowing_body(world, **changes):
    body = world.unsigned(SUB2, AGENT2, kind="mandate", tools={
        "echo": {"arguments": {"text": {"type": "string", "max_length": 16}}, "required": ["text"]}})
    body.update(changes)
    return body


def test_rejections_over_stdio(tmp_path):
    world = World(tmp_path)
    config = world.config()
    mandate = world.derive("narrow", narrowing_body(world))
    assert mandate["parent"] == world.digest
    # Signed here, because `attest mandate derive` refuses to make a mandate that widens.
    widens_tools = world.python_mandate(narrowing_body(world, tools=dict(narrowing_body(world)["tools"], forbidden={})),
                                        world.digest, AGENT)
    widens_constraint = world.python_mandate(narrowing_body(world, tools={"echo": {
        "arguments": {"text": {"type": "string", "max_length": 64}}, "required": ["text"]}}), world.digest, AGENT)
    # The same narrowing mandate, signed here: the positive control of the two above.
    narrow_here = world.python_mandate(narrowing_body(world), world.digest, AGENT)
    past = world.derive("past", narrowing_body(world, not_before=world.now - 3000, not_after=world.now - 1800))

    portal = world.stdio(config)
    received, ran, expected = [], [], []
    ids = iter(range(1, 10_000))

    def ask(message):
        reply = portal.ask(message)
        received.extend(receipts_of(reply))
        return reply

    def ran_so_far(*calls):
        ran.extend(calls)
        assert [(c["tool"], c["arguments"]) for c in world.upstream_calls()] == ran, "the upstream ran other calls than allowed"

    def allowed(tool, arguments, **kw):
        reply = ask(world.attach(call(next(ids), tool, arguments), **kw))
        got = assert_allowed(reply)
        assert got[0]["tool"] == tool and got[0]["upstream"] == upstream_identity()
        ran_so_far((tool, arguments))
        expected.extend([("ALLOW", tool, None), ("RESULT", tool, None)])
        return reply

    def refused(message, code):
        assert_rejected(ask(message), code, receipts=0)
        ran_so_far()

    def denied(message, code):
        got = assert_rejected(ask(message), code, receipts=1)
        ran_so_far()
        expected.append(("DENY", message["params"].get("name"), code))
        return got[0]

    try:
        init = portal.initialize()
        assert init["result"]["protocolVersion"] == LEGACY
        assert init["result"]["capabilities"]["extensions"][EXT] == {"audience": AUD, "policy": "required"}

        # tools/list is governed: refused without a token, filtered to the artifact with one.
        listing = ask(world.attach(request(next(ids), "tools/list")))
        assert_allowed(listing)
        assert sorted(t["name"] for t in listing["result"]["tools"]) == ["add", "ask", "crash", "echo", "slow"]
        expected.extend([("ALLOW", None, None), ("RESULT", None, None)])
        refused(request(next(ids), "tools/list"), "PRF_TOKEN_MISSING")

        # Missing token.
        ok = allowed("echo", {"text": "first"})
        assert ok["result"]["content"][0]["text"] == "echo: first"
        refused(call(next(ids), "echo", {"text": "first"}), "PRF_TOKEN_MISSING")

        # Replayed proof: the same request, token and proof again under another JSON-RPC id.
        once = world.attach(call(next(ids), "echo", {"text": "replay me"}))
        assert_allowed(ask(once))
        ran_so_far(("echo", {"text": "replay me"}))
        expected.extend([("ALLOW", "echo", None), ("RESULT", "echo", None)])
        refused(dict(once, id=next(ids)), "PRF_REPLAY")

        # An expired token (control: the fresh token above).
        allowed("echo", {"text": "fresh token"})
        refused(world.attach(call(next(ids), "echo", {"text": "fresh token"}), token=world.token(iat=int(time.time()) - 4000)),
                "TOK_EXPIRED")

        # Tool not allowed: `forbidden` exists upstream but not in the artifact.
        allowed("echo", {"text": "allowed tool"})
        denied(world.attach(call(next(ids), "forbidden", {})), "PTL_TOOL_NOT_ALLOWED")

        # Constraint violated: one character over max_length.
        allowed("echo", {"text": "x" * ECHO_MAX})
        denied(world.attach(call(next(ids), "echo", {"text": "x" * (ECHO_MAX + 1)})), "PTL_CONSTRAINT_VIOLATED")
        allowed("add", {"a": 1, "b": 2})
        denied(world.attach(call(next(ids), "add", {"a": 1, "b": 2, "c": 3})), "PTL_CONSTRAINT_VIOLATED")

        # Rate limited: add allows 3 calls an hour; the fourth is denied (denials consume nothing).
        allowed("add", {"a": 3, "b": 4})
        allowed("add", {"a": 5, "b": 6})
        denied(world.attach(call(next(ids), "add", {"a": 7, "b": 8})), "PTL_RATE_LIMITED")

        # No artifact for the agent (a valid token and proof of an agent no artifact names).
        allowed("echo", {"text": "known agent"})
        refused(world.attach(call(next(ids), "echo", {"text": "known agent"}), agent=STRANGER, sub=SUB3), "PTL_NO_ARTIFACT")

        # Outside the validity window: the second agent's own artifact has expired.
        deny = denied(world.attach(call(next(ids), "echo", {"text": "late"}), agent=AGENT2, sub=SUB2), "PTL_OUTSIDE_VALIDITY")
        assert deny["artifact"] == World.digest_of(world.expired) and deny["agent"]["sub"] == SUB2

        # Mandates: the second agent acts under a mandate derived from the first agent's artifact.
        allowed("echo", {"text": "under mandate"}, agent=AGENT2, sub=SUB2, mandates=[mandate])
        assert received[-2]["artifact"] != world.digest  # the mandate is the artifact in force
        denied(world.attach(call(next(ids), "echo", {"text": "x" * 17}), agent=AGENT2, sub=SUB2, mandates=[mandate]),
               "PTL_CONSTRAINT_VIOLATED")
        allowed("echo", {"text": "signed here"}, agent=AGENT2, sub=SUB2, mandates=[narrow_here])
        refused(world.attach(call(next(ids), "echo", {"text": "signed here"}), agent=AGENT2, sub=SUB2, mandates=[widens_tools]),
                "MAN_WIDENS_TOOLS")
        refused(world.attach(call(next(ids), "echo", {"text": "signed here"}), agent=AGENT2, sub=SUB2,
                             mandates=[widens_constraint]), "MAN_WIDENS_CONSTRAINT")
        # A mandate whose (narrower) window has passed.
        denied(world.attach(call(next(ids), "echo", {"text": "under mandate"}), agent=AGENT2, sub=SUB2, mandates=[past]),
               "PTL_OUTSIDE_VALIDITY")
        # The first agent presenting the second agent's mandate.
        refused(world.attach(call(next(ids), "echo", {"text": "under mandate"}), agent=AGENT, sub=SUB, mandates=[mandate]),
                "PTL_SUBJECT_MISMATCH")
        # The chain travels in the proof's preimage: moved onto a request whose proof did not cover it, it fails the proof.
        moved = world.attach(call(next(ids), "echo", {"text": "under mandate"}), agent=AGENT2, sub=SUB2)
        moved["params"]["_meta"][MANDATES_KEY] = [mandate]
        reply = ask(moved)
        assert reply["error"]["code"] == -31000 and reply["error"]["data"]["code"].startswith("PRF_"), reply
        ran_so_far()

        # Methods the portal does not know are refused with -32601 and never forwarded; ping passes.
        unknown = ask(world.attach(request(next(ids), "tools/frobnicate", {"name": "echo"})))
        assert unknown["error"]["code"] == -32601, unknown
        assert ask({"jsonrpc": "2.0", "id": next(ids), "method": "ping"})["result"] == {}
        ran_so_far()
    finally:
        code = portal.stop()
    assert code == 0, portal.stderr_text()

    receipts, report = world.export(config)
    check_log(receipts, received)
    assert shape(receipts) == expected
    assert len(received) == len(receipts)
    assert report["verdict"] == "PASS" and report["receipts"] == len(expected), report


def test_upstream_drift_over_stdio(tmp_path):
    """An artifact whose `upstream` pins another executable denies with PTL_UPSTREAM_DRIFT
    (one DENY); the same artifact pinning the executable the portal starts allows."""
    world = World(tmp_path)
    for name, digest, ok in [("pinned-right", upstream_identity(), True), ("pinned-wrong", dict(upstream_identity(), executable_sha256="ab" * 32), False)]:
        artifact = world.seal(name, world.unsigned(SUB, AGENT, upstream=digest))
        config = world.config(f"{name}.json", artifacts=[artifact], store=f"store-{name}")
        portal = world.stdio(config)
        before = len(world.upstream_calls())
        try:
            portal.initialize()
            reply = portal.ask(world.attach(call(1, "echo", {"text": name})))
            if ok:
                assert_allowed(reply)
                assert len(world.upstream_calls()) == before + 1
            else:
                deny = assert_rejected(reply, "PTL_UPSTREAM_DRIFT", receipts=1)[0]
                assert "upstream" not in deny or deny["upstream"]["executable_sha256"] == upstream_sha256()
                assert len(world.upstream_calls()) == before
        finally:
            assert portal.stop() == 0
        receipts, _ = world.export(config, name=f"bundle-{name}")
        check_log(receipts, receipts_of(reply))
        assert shape(receipts) == ([("ALLOW", "echo", None), ("RESULT", "echo", None)] if ok else [("DENY", "echo", "PTL_UPSTREAM_DRIFT")])


def test_rejections_over_stateless_http(tmp_path):
    """Stateless era on raw HTTP: each rejection's status and WWW-Authenticate (mcp-binding.md),
    the -32020 routing-header mismatch, GET 405, Host and Origin checks, the side endpoints."""
    world = World(tmp_path)
    config = world.config()
    portal = world.http(config, extra_args=["--allow-origin", "https://app.acme.example"])
    received, ran = [], []
    ids = iter(range(1, 10_000))

    def post(message, **kw):
        status, headers, body = portal.stateless(message, **kw)
        if body:
            received.extend(receipts_of(body))
        return status, headers, body

    def ran_so_far(*calls):
        ran.extend(calls)
        assert [(c["tool"], c["arguments"]) for c in world.upstream_calls()] == ran

    try:
        assert portal.get("/healthz")[0] == 200 and portal.get("/readyz")[0] == 200
        status, headers, _ = portal.get("/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        assert portal.post(None, raw=b"", headers={}, timeout=10)[0] in (400, 413)
        assert http_get_mcp(portal) == 405
        # server/discover is forwarded, its result advertising the extension (MCP-004).
        status, _, body = portal.stateless(request(next(ids), "server/discover", era=MODERN))
        assert status == 200 and body["result"]["capabilities"]["extensions"][EXT] == {"audience": AUD, "policy": "required"}, body

        # Control: an allowed call, 200.
        status, _, body = post(world.attach(call(next(ids), "echo", {"text": "hello"}, era=MODERN)))
        assert status == 200, (status, body)
        assert_allowed(body)
        ran_so_far(("echo", {"text": "hello"}))

        # Missing token: 401 asking for attestation.
        status, headers, body = post(call(next(ids), "echo", {"text": "hello"}, era=MODERN))
        assert status == 401 and 'code="PRF_TOKEN_MISSING"' in headers.get("www-authenticate", ""), (status, headers)
        assert_rejected(body, "PRF_TOKEN_MISSING")

        # Replay: 401 invalid_attestation.
        once = world.attach(call(next(ids), "echo", {"text": "once"}, era=MODERN))
        assert post(once)[0] == 200
        ran_so_far(("echo", {"text": "once"}))
        status, headers, body = post(dict(once, id=next(ids)))
        assert status == 401 and 'code="PRF_REPLAY"' in headers.get("www-authenticate", ""), (status, headers)
        assert_rejected(body, "PRF_REPLAY")

        # A denial of an identified agent: 403 access_denied, with its DENY receipt.
        status, headers, body = post(world.attach(call(next(ids), "forbidden", {}, era=MODERN)))
        assert status == 403 and 'code="PTL_TOOL_NOT_ALLOWED"' in headers.get("www-authenticate", ""), (status, headers)
        assert_rejected(body, "PTL_TOOL_NOT_ALLOWED", receipts=1)
        status, _, body = post(world.attach(call(next(ids), "echo", {"text": "y" * (ECHO_MAX + 1)}, era=MODERN)))
        assert status == 403
        assert_rejected(body, "PTL_CONSTRAINT_VIOLATED", receipts=1)

        # Routing headers that do not repeat the body: 400 with -32020, before anything else.
        good = world.attach(call(next(ids), "echo", {"text": "routed"}, era=MODERN))
        for headers in ({"Mcp-Name": "add"}, {"Mcp-Method": "tools/list"}):
            status, _, body = portal.stateless(dict(good), headers=headers)
            assert status == 400 and body["error"]["code"] == -32020, (headers, status, body)
        status, _, body = post(good)  # the same request with matching headers: its proof was not spent
        assert status == 200, body
        assert_allowed(body)
        ran_so_far(("echo", {"text": "routed"}))

        # DNS rebinding: a foreign Host or a foreign Origin is 403; the allowed Origin passes.
        status, _, _ = post(world.attach(call(next(ids), "echo", {"text": "host"}, era=MODERN)), headers={"Host": "evil.example"})
        assert status == 403
        status, _, _ = post(world.attach(call(next(ids), "echo", {"text": "origin"}, era=MODERN)),
                            headers={"Origin": "https://evil.example"})
        assert status == 403
        status, _, body = post(world.attach(call(next(ids), "echo", {"text": "origin"}, era=MODERN)),
                               headers={"Origin": "https://app.acme.example"})
        assert status == 200, body
        ran_so_far(("echo", {"text": "origin"}))

        # A method the portal does not know: -32601, not forwarded.
        status, _, body = portal.post(world.attach(request(next(ids), "tools/frobnicate", {"name": "x"}, era=MODERN)),
                                      {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/frobnicate"})
        assert body["error"]["code"] == -32601, (status, body)
        ran_so_far()

        # The metrics count what happened above, by code, and never carry a credential.
        text = urllib.request.urlopen(portal.base + "/metrics", timeout=10).read().decode()
        for family in ("attest_portal_decisions_total", "attest_portal_receipts_total", "attest_portal_flushes_total",
                       "attest_portal_flush_seconds_bucket", "attest_portal_call_seconds_bucket",
                       "attest_portal_verification_seconds_bucket", "attest_portal_refused_messages_total",
                       "attest_portal_replay_store_entries", "attest_portal_open_calls"):
            assert family in text, family
        assert 'code="PTL_TOOL_NOT_ALLOWED"' in text and 'code="ALLOW"' in text and 'code="PRF_TOKEN_MISSING"' in text
        assert "eyJ" not in text, "a JWS in the metrics"
    finally:
        code = portal.stop()
    assert code == 0, portal.stderr_text()
    receipts, _ = world.export(config)
    check_log(receipts, received)
    assert shape(receipts) == [("ALLOW", "echo", None), ("RESULT", "echo", None)] * 2 + [
        ("DENY", "forbidden", "PTL_TOOL_NOT_ALLOWED"), ("DENY", "echo", "PTL_CONSTRAINT_VIOLATED")] + [
        ("ALLOW", "echo", None), ("RESULT", "echo", None)] * 2


def http_get_mcp(portal):
    from portal_fixture import http_request
    return http_request(portal.url, "GET", None, {"Accept": "text/event-stream"}, 10)[0]
