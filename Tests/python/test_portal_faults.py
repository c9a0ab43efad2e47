"""The portal under faults (spec/portal.md §Log entries, §Transports, POR-004/005/010/012):

(a) kill -9 of the HTTP portal under load from several concurrent clients, restart on the
    same store, clean stop, export, verify PASS: every response a client received has its
    receipts in the log, no seq twice, each ALLOW closed by exactly one RESULT, and the
    calls forwarded without an outcome closed with PTL_OUTCOME_UNKNOWN.
(b) a store that cannot grow (the portal under `prlimit --fsize`; it ignores SIGXFSZ, so
    the write fails with EFBIG): after the first calls succeed, a call is denied with
    PTL_RECEIPT_WRITE_FAILED and never reaches the upstream.
(c) the upstream dies mid-call (or outlives the portal's time limit): PTL_UPSTREAM_FAILED to
    the client, a RESULT with that code in the exported log; over HTTP other sessions live on.
(d) malformed, oversized and unexpected JSON-RPC from the client: each answered with its
    code (id null where unreadable) or ignored, and a valid call afterwards succeeds; over
    HTTP another session keeps working.

Nothing here skips: a missing package or binary fails with what to install or build.
"""
import json, shutil, threading, time

import evidence

import pytest

from portal_fixture import (LEGACY, MODERN, World, assert_allowed, assert_rejected, call, check_log, code_of, receipts_of,
                            request, require_tools, shape)


# ---------------------------------------------------------------- (a) kill -9 under load


def test_kill_9_under_load_then_recovery(tmp_path):
    world = World(tmp_path)
    config = world.config(checkpoint={"every": 5, "seconds": 1})
    portal = world.http(config)
    received, failures, lock = [], [], threading.Lock()
    sent = {"n": 0}
    stop = threading.Event()

    def client(k):
        i = 0
        while not stop.is_set():
            i += 1
            tool, arguments = ("slow", {"seconds": 20}) if k < 2 else ("echo", {"text": f"client {k} call {i}"})
            message = world.attach(call(f"{k}-{i}", tool, arguments, era=MODERN))
            with lock:
                sent["n"] += 1
            try:
                status, _, body = portal.stateless(message, timeout=40)
            except Exception as error:  # the portal was killed under this request
                with lock:
                    failures.append(repr(error))
                return
            if body is None:
                return
            with lock:
                received.append(body)
            if k < 2:
                return

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # load until at least 30 calls were answered and both slow calls are upstream
        with lock:
            answered = len(received)
        slow_running = sum(1 for c in world.upstream_calls() if c["tool"] == "slow")
        if answered >= 30 and slow_running == 2:
            break
        time.sleep(0.05)
    assert slow_running == 2, f"the slow calls never reached the upstream; stderr:\n{portal.stderr_text()}"
    portal.kill()  # SIGKILL, mid-load
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(received) >= 30, f"only {len(received)} answers before the kill"
    got = [r for body in received for r in receipts_of(body)]
    for body in received:
        assert_allowed(body)

    # Restart on the same store: recovery closes the open calls before serving.
    again = world.http(config)
    try:
        status, _, body = again.stateless(world.attach(call("after-restart", "echo", {"text": "after restart"}, era=MODERN)))
        assert status == 200, body
        got += assert_allowed(body)
    finally:
        assert again.stop() == 0, again.stderr_text()

    receipts, _ = world.export(config)
    results = check_log(receipts, got)
    answered_calls = {r["call"] for r in got if r["decision"] == "RESULT"}
    unknown = {seq for seq, r in results.items() if r.get("code") == "PTL_OUTCOME_UNKNOWN"}
    # The two slow calls were forwarded and never answered: their outcome is unknown.
    slow_allows = {r["seq"] for r in receipts if r["decision"] == "ALLOW" and r.get("tool") == "slow"}
    assert len(slow_allows) == 2 and slow_allows <= unknown, (slow_allows, unknown)
    # A call a client got an answer for has its real RESULT, never PTL_OUTCOME_UNKNOWN.
    assert not (unknown & answered_calls)
    # Every PTL_OUTCOME_UNKNOWN closes a call nobody was answered for, and comes after the kill (in the restarted run).
    for seq in unknown:
        assert seq not in answered_calls
    codes = {r.get("code") for r in results.values()}
    assert codes <= {None, "PTL_OUTCOME_UNKNOWN"}, codes
    evidence.observed("PTL_OUTCOME_UNKNOWN")
    assert sum(1 for r in receipts if r["decision"] == "DENY") == 0


# ---------------------------------------------------------------- (b) a full store


def wal_growth(world):
    """How much the store grows at start and per allowed call, measured on a scratch store."""
    config = world.config("measure.json", store="measure-store")
    portal = world.stdio(config)

    def size():
        return sum(f.stat().st_size for f in (world.root / "measure-store").iterdir() if not f.name.endswith("-shm"))

    try:
        portal.initialize()
        start = size()
        for i in range(3):
            assert_allowed(portal.ask(world.attach(call(i, "echo", {"text": f"measure {i}"}))))
        per_call = (size() - start) / 3
    finally:
        portal.stop()
    shutil.rmtree(world.root / "measure-store")
    world.upstream_log.unlink()
    return start, per_call


def test_store_full_denies_with_receipt_write_failed(tmp_path):
    require_tools()
    world = World(tmp_path)
    start, per_call = wal_growth(world)
    limit = int(start + 2.5 * per_call)  # room for two calls and a half
    config = world.config(checkpoint={"every": 1000, "seconds": 3600})
    portal = world.stdio(config, prefix=["prlimit", f"--fsize={limit}", "--"])
    received, ok = [], 0
    try:
        portal.initialize()
        # Positive control: the first calls succeed.
        for i in range(2):
            reply = portal.ask(world.attach(call(i, "echo", {"text": f"fits {i}"})))
            received += assert_allowed(reply)
            ok += 1
        # Calls until the store is full: the first failure may be a RESULT (its call ran, its outcome withheld) ...
        failed = None
        for i in range(2, 12):
            reply = portal.ask(world.attach(call(i, "echo", {"text": f"fills {i}"})))
            if "error" in reply:
                failed = reply
                break
            received += assert_allowed(reply)
            ok += 1
        assert failed is not None, f"the store never filled under --fsize={limit}"
        assert_rejected(failed, "PTL_RECEIPT_WRITE_FAILED")
        # ... but once it is full, a call is refused before anything is forwarded.
        before = len(world.upstream_calls())
        for i in range(20, 23):
            assert_rejected(portal.ask(world.attach(call(i, "echo", {"text": f"never runs {i}"}))), "PTL_RECEIPT_WRITE_FAILED")
            assert len(world.upstream_calls()) == before, "a call the portal could not record reached the upstream"
        assert all(not c["arguments"]["text"].startswith("never runs") for c in world.upstream_calls())
        # Rejections that write nothing still work.
        assert_rejected(portal.ask(call(30, "echo", {"text": "no token"})), "PRF_TOKEN_MISSING")
    finally:
        portal.stop()

    # The same store, restarted without the limit: it recovers, verifies, and holds every receipt a client received.
    again = world.stdio(config)
    try:
        again.initialize()
        received += assert_allowed(again.ask(world.attach(call(40, "echo", {"text": "room again"}))))
    finally:
        assert again.stop() == 0, again.stderr_text()
    receipts, _ = world.export(config)
    check_log(receipts, received)
    texts = [c["arguments"]["text"] for c in world.upstream_calls()]
    assert not any(t.startswith("never runs") for t in texts)
    assert len([r for r in receipts if r["decision"] == "ALLOW"]) >= ok + 1


# ---------------------------------------------------------------- (c) the upstream fails mid-call


def test_upstream_crash_over_stdio(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.stdio(config)
    received = []
    try:
        portal.initialize()
        received += assert_allowed(portal.ask(world.attach(call(1, "echo", {"text": "before the crash"}))))
        reply = portal.ask(world.attach(call(2, "crash", {})))
        got = reply
        assert code_of(got) == "PTL_UPSTREAM_FAILED" and got["error"]["code"] == -31000, got
        pair = receipts_of(got)
        assert [(r["decision"], r.get("code")) for r in pair] == [("ALLOW", None), ("RESULT", "PTL_UPSTREAM_FAILED")], pair
        assert pair[1]["call"] == pair[0]["seq"]
        received += pair
    finally:
        code = portal.stop()  # the upstream is gone: the stdio portal ends with it, after a checkpoint
    assert code == 0, portal.stderr_text()
    assert [c["tool"] for c in world.upstream_calls()] == ["echo", "crash"]
    receipts, _ = world.export(config)
    check_log(receipts, received)
    assert shape(receipts) == [("ALLOW", "echo", None), ("RESULT", "echo", None), ("ALLOW", "crash", None),
                               ("RESULT", "crash", "PTL_UPSTREAM_FAILED")]


def test_upstream_crash_and_timeout_over_http_sessions(tmp_path):
    world = World(tmp_path)
    config = world.config(limits={"upstream_timeout_seconds": 1})
    portal = world.http(config)
    received = []
    legacy = {"MCP-Protocol-Version": LEGACY}
    try:
        one, init = portal.open_session()
        two, _ = portal.open_session()
        assert init["result"]["capabilities"]["extensions"]
        status, _, body = portal.post(world.attach(call(1, "slow", {"seconds": 0})), legacy, session=one)
        received += assert_allowed(body)
        # The upstream outlives the portal's time limit (1 s): PTL_UPSTREAM_FAILED. A forwarded
        # call is answered on an event stream (the client accepts one), so the status is 200.
        status, headers, body = portal.post(world.attach(call(2, "slow", {"seconds": 3})), legacy, session=one)
        assert status == 200 and headers["content-type"].startswith("text/event-stream"), (status, headers)
        assert code_of(body) == "PTL_UPSTREAM_FAILED", (status, body)
        assert [(r["decision"], r.get("code")) for r in receipts_of(body)] == [("ALLOW", None), ("RESULT", "PTL_UPSTREAM_FAILED")]
        received += receipts_of(body)
        # The upstream of session one dies mid-call.
        status, _, body = portal.post(world.attach(call(3, "crash", {})), legacy, session=one)
        assert status == 200 and code_of(body) == "PTL_UPSTREAM_FAILED", (status, body)
        assert [(r["decision"], r.get("code")) for r in receipts_of(body)] == [("ALLOW", None), ("RESULT", "PTL_UPSTREAM_FAILED")]
        received += receipts_of(body)
        # Session two, with its own upstream, keeps working.
        status, _, body = portal.post(world.attach(call(4, "echo", {"text": "other session"})), legacy, session=two)
        assert status == 200, body
        received += assert_allowed(body)
    finally:
        assert portal.stop() == 0, portal.stderr_text()
    receipts, _ = world.export(config)
    check_log(receipts, received)
    assert shape(receipts) == [("ALLOW", "slow", None), ("RESULT", "slow", None), ("ALLOW", "slow", None),
                               ("RESULT", "slow", "PTL_UPSTREAM_FAILED"), ("ALLOW", "crash", None),
                               ("RESULT", "crash", "PTL_UPSTREAM_FAILED"), ("ALLOW", "echo", None), ("RESULT", "echo", None)]


# ---------------------------------------------------------------- (d) malformed client input


def test_malformed_input_over_stdio(tmp_path):
    world = World(tmp_path)
    config = world.config(limits={"max_message_bytes": 4096})
    portal = world.stdio(config)
    received = []

    def next_reply():
        return portal.wait_for(lambda m: True, 15, "an answer")

    try:
        portal.initialize()
        received += assert_allowed(portal.ask(world.attach(call(1, "echo", {"text": "control"}))))
        cases = [
            (b"this is not json\n", "JSON_SYNTAX"),
            (b'{"jsonrpc":"2.0","id":7,"id":8,"method":"ping"}\n', "JSON_DUPLICATE_MEMBER"),
            (b"[1,2,3]\n", "MCP_MALFORMED_REQUEST"),
            (json.dumps({"jsonrpc": "2.0", "id": {}, "method": "tools/call", "params": {"name": "echo"}}).encode() + b"\n",
             "MCP_MALFORMED_REQUEST"),
        ]
        # A line over limits.max_message_bytes, skipped unread (control: the same call, short, is allowed).
        big = world.attach(call(9, "echo", {"text": "z" * 10}))
        big["params"]["_meta"]["padding"] = "p" * 5000
        cases.append((json.dumps(big).encode() + b"\n", "JSON_TOO_LARGE"))
        for data, code in cases:
            portal.send_bytes(data)
            reply = next_reply()
            assert reply["id"] is None and reply["error"]["code"] == -31000 and code_of(reply) == code, (data[:80], reply)
        # A response to a request the server never sent is passed on and answered by nobody.
        portal.send({"jsonrpc": "2.0", "id": "no-such-request", "result": {}})
        assert portal.ask({"jsonrpc": "2.0", "id": "ping-1", "method": "ping"})["result"] == {}
        time.sleep(0.3)
        with portal.cond:
            assert portal.lines == [], portal.lines
        # And a valid call afterwards succeeds.
        received += assert_allowed(portal.ask(world.attach(call(10, "echo", {"text": "still serving"}))))
    finally:
        assert portal.stop() == 0, portal.stderr_text()
    assert [c["arguments"]["text"] for c in world.upstream_calls()] == ["control", "still serving"]
    receipts, _ = world.export(config)
    check_log(receipts, received)
    assert shape(receipts) == [("ALLOW", "echo", None), ("RESULT", "echo", None)] * 2


def test_malformed_input_over_http_sessions(tmp_path):
    world = World(tmp_path)
    config = world.config(limits={"max_message_bytes": 4096})
    portal = world.http(config)
    received = []
    legacy = {"MCP-Protocol-Version": LEGACY}
    try:
        one, _ = portal.open_session()
        two, _ = portal.open_session()
        for raw, statuses, code in [(b"this is not json", (400,), "JSON_SYNTAX"),
                                    (json.dumps({"jsonrpc": "2.0", "id": {}, "method": "tools/call"}).encode(), (400,),
                                     "MCP_MALFORMED_REQUEST"),
                                    (json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"pad": "p" * 5000}}).encode(),
                                     (413, 400), "JSON_TOO_LARGE")]:
            status, _, body = portal.post(None, legacy, raw=raw, session=one)
            assert status in statuses, (raw[:60], status, body)
            if body is not None:
                assert body["id"] is None and code_of(body) == code, (raw[:60], body)
        # An unknown session is 404; a stateless request with mismatched headers is -32020.
        assert portal.post(request(6, "ping"), legacy, session="no-such-session")[0] == 404
        status, _, body = portal.post(world.attach(call(7, "echo", {"text": "m"}, era=MODERN)),
                                      {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "add"})
        assert status == 400 and body["error"]["code"] == -32020, body
        # The other session, and the first one too, keep working.
        for session, text in [(two, "session two"), (one, "session one")]:
            status, _, body = portal.post(world.attach(call(8, "echo", {"text": text})), legacy, session=session)
            assert status == 200, body
            received += assert_allowed(body)
    finally:
        assert portal.stop() == 0, portal.stderr_text()
    assert [c["arguments"].get("text") for c in world.upstream_calls()] == ["session two", "session one"]
    receipts, _ = world.export(config)
    check_log(receipts, received)
    assert shape(receipts) == [("ALLOW", "echo", None), ("RESULT", "echo", None)] * 2
