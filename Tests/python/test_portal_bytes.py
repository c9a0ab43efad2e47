"""An allowed call's result is byte for byte the one the same server gives directly, apart
from the receipts member the portal adds to `_meta`: the same requests, in raw JSON lines,
to the MCP Python SDK upstream directly and through `attest portal stdio`."""
import json, subprocess

from portal_fixture import LEGACY, EXT, RECEIPTS_KEY, World, attest_binary

CALLS = [("echo", {"text": "h\u00e9llo / \"quoted\" \\ \u2028 tab\t"}), ("add", {"a": 20, "b": 22})]


def raw_lines(command, env, messages, ids):
    """Writes `messages` as lines, keeps stdin open until the responses with `ids` came, and
    returns every line the process wrote, as bytes."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    lines, waiting = [], set(ids)
    try:
        for m in messages:
            process.stdin.write(json.dumps(m).encode() + b"\n")
            process.stdin.flush()
            if "id" in m:  # one request at a time, so that each is answered before the next
                while m["id"] in waiting:
                    line = process.stdout.readline()
                    assert line, "the process ended before answering"
                    lines.append(line.rstrip(b"\n"))
                    waiting.discard(json.loads(line).get("id"))
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    return lines


def result_bytes(lines, id):
    """The bytes of the `result` value of the response with `id`, cut from its line."""
    for line in lines:
        message = json.loads(line)
        if message.get("id") == id and "result" in message:
            start = line.index(b'"result":') + len(b'"result":')
            return line[start:-1]  # the response object ends with the result's closing brace, then its own
    raise AssertionError(f"no result for id {id}")


def test_results_are_byte_identical(tmp_path):
    world = World(tmp_path)
    config = world.config()
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {"extensions": {EXT: {}}}, "clientInfo": {"name": "raw", "version": "1"}}}
    calls = [{"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": n, "arguments": a}}
             for i, (n, a) in enumerate(CALLS)]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    ids = [0] + [c["id"] for c in calls]
    direct = raw_lines(world.upstream_command(), world.env(), [init, initialized] + calls, ids)
    through = raw_lines([attest_binary(), "portal", "stdio", "--config", str(config), "--", *world.upstream_command()],
                        world.env(), [init, initialized] + [world.attach(c) for c in calls], ids)
    for i in range(1, len(CALLS) + 1):
        plain, governed = result_bytes(direct, i), result_bytes(through, i)
        receipts = json.loads(governed)["_meta"][RECEIPTS_KEY]
        assert [r["decision"] for r in receipts] == ["ALLOW", "RESULT"]
        # The portal appends `_meta` with the receipts as the result's last member; the rest is the server's bytes.
        added = b',"_meta":{"' + RECEIPTS_KEY.encode() + b'":' + json.dumps(receipts, separators=(",", ":"), ensure_ascii=False).encode() + b"}}"
        assert b'"_meta"' not in plain, "the server's own _meta would be merged, not appended"
        assert governed == plain[:-1] + added, (plain, governed)
