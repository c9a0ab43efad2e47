"""`attest portal http --tls-cert --tls-key`: the portal serves HTTPS. A client that trusts
the certificate gets its health and a governed call answered (with both receipts); one that
does not trust it is refused by TLS before any request."""
import json, ssl, subprocess, urllib.error, urllib.request

import pytest

from portal_fixture import World, call, receipts_of


def test_portal_over_https(tmp_path):
    key, cert = tmp_path / "portal.key", tmp_path / "portal.crt"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                           "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    world = World(tmp_path)
    config = world.config()
    portal = world.http(config, extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        assert portal.url.startswith("https://127.0.0.1:"), portal.url
        trusting = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(portal.base + "/healthz", context=trusting, timeout=10) as r:
            assert r.status == 200
        # A governed call over HTTPS (handshake era: initialize, then the call in the session).
        def post(body, session=None):
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if session:
                headers.update({"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
            request = urllib.request.Request(portal.url, data=json.dumps(body).encode(), headers=headers, method="POST")
            with urllib.request.urlopen(request, context=trusting, timeout=30) as r:
                return r.headers.get("Mcp-Session-Id"), json.loads(r.read() or b"null")
        session, init = post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "tls", "version": "1"}}})
        assert session and init["result"]["capabilities"]["extensions"]
        post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        _, reply = post(world.attach(call(1, "echo", {"text": "over tls"})), session)
        assert reply["result"]["content"][0]["text"] == "echo: over tls", reply
        assert [r["decision"] for r in receipts_of(reply)] == ["ALLOW", "RESULT"]
        # Without trust in the certificate: refused by TLS, no HTTP answer at all.
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(portal.base + "/healthz", context=ssl.create_default_context(), timeout=10)
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError), refused.value
    finally:
        portal.stop()
