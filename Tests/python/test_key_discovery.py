"""`attest keys discover` against an HTTPS issuer served by Python's own HTTP and TLS
stacks (http.server, ssl), with the test PKI of Tests/AttestDiscoveryTests/Fixtures:
a second server implementation beside the NIO one of the Swift tests.

Each rejection is checked with its registry code, next to the same server answering
correctly (the positive control)."""
import base64, hashlib, http.server, json, ssl, subprocess, threading, time

import nacl.bindings
import pytest

from conftest import ROOT
from test_jose_interop import attest_binary

FIXTURES = ROOT / "Tests" / "AttestDiscoveryTests" / "Fixtures"
META_PATH = "/.well-known/agent-attestation-issuer"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


PUBLIC, _ = nacl.bindings.crypto_sign_seed_keypair(hashlib.sha256(b"python discovery issuer").digest())
JWK = {"kty": "OKP", "crv": "Ed25519", "x": b64u(PUBLIC)}
KID = b64u(hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": JWK["x"]}, separators=(",", ":")).encode()).digest())


class Issuer:
    """An HTTPS issuer on localhost; `documents` maps a path to (status, headers, body)."""

    def __init__(self):
        self.documents = {}
        self.requests = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.requests.append(self.path)
                status, headers, body = issuer.documents.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(FIXTURES / "server.pem", FIXTURES / "server.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        self.publish(self.url, {"keys": [JWK]})
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, named_issuer, keyset, cache_control="max-age=600"):
        metadata = {"issuer": named_issuer, "jwks_uri": self.url + "/jwks.json", "token_types": ["agent-attestation+jwt"]}
        self.documents[META_PATH] = (200, {"Content-Type": "application/json"}, json.dumps(metadata).encode())
        self.documents["/jwks.json"] = (200, {"Content-Type": "application/json", "Cache-Control": cache_control},
                                        json.dumps(keyset).encode())

    def close(self):
        self.server.shutdown()


@pytest.fixture
def issuer():
    server = Issuer()
    yield server
    server.close()


def discover(issuer, ca="ca.pem", *extra):
    now = 1_780_000_000
    result = subprocess.run([attest_binary(), "keys", "discover", "--issuer", issuer.url, "--ca-file", str(FIXTURES / ca),
                             "--kid", KID, "--now", str(now), *extra], capture_output=True, text=True, timeout=60)
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1]), now


def test_discovers_the_key_set(issuer, tmp_path):
    out = tmp_path / "jwks.json"
    code, report, now = discover(issuer, "ca.pem", "--out", str(out))
    assert code == 0, report
    assert report["found"] is True and report["error"] is None
    assert report["kids"] == [KID]
    assert report["expires"] == now + 600
    assert report["fetched"] == [issuer.url + META_PATH, issuer.url + "/jwks.json"]
    assert json.loads(out.read_text())["keys"][0]["x"] == JWK["x"]


def test_untrusted_ca_is_refused_before_any_request(issuer):
    code, report, _ = discover(issuer, "other-ca.pem")
    assert code == 1 and report["error"] == "DISC_TRANSPORT", report
    assert "CERTIFICATE_VERIFY_FAILED" in report["message"]
    assert issuer.requests == []


def test_look_alike_issuer_in_metadata_is_refused(issuer):
    issuer.publish("https://issuer-example.com", {"keys": [JWK]})
    code, report, _ = discover(issuer)
    assert code == 1 and report["error"] == "DISC_ISSUER_MISMATCH", report
    assert issuer.requests == [META_PATH]


def test_set_with_private_material_is_rejected_whole(issuer):
    issuer.publish(issuer.url, {"keys": [JWK, dict(JWK, x=b64u(b"\x01" * 32), d=b64u(b"\x02" * 32))]})
    code, report, _ = discover(issuer)
    assert code == 1 and report["error"] == "JWK_PRIVATE_MATERIAL", report
    assert report["kids"] == []


def test_cache_lifetime_is_clamped(issuer):
    issuer.publish(issuer.url, {"keys": [JWK]}, cache_control="max-age=5")
    code, report, now = discover(issuer)
    assert code == 0 and report["expires"] == now + 300, report


def test_oversized_key_set_is_refused(issuer):
    text = json.dumps({"keys": [JWK]}).encode()
    issuer.documents["/jwks.json"] = (200, {}, text + b" " * (65_537 - len(text)))
    code, report, _ = discover(issuer)
    assert code == 1 and report["error"] == "DISC_TOO_LARGE", report
    issuer.documents["/jwks.json"] = (200, {}, text + b" " * (65_536 - len(text)))
    code, report, _ = discover(issuer)
    assert code == 0 and report["found"] is True, report


def test_mcp_verify_discovers_the_issuers_keys(issuer, tmp_path):
    """A governed request whose token names the HTTPS issuer verifies with the key set
    `attest mcp verify --discover` fetched; the same request fails TOK_KID_UNKNOWN when
    the issuer publishes another key, and the verifier never reads a key from the token."""
    from test_mcp_peers import AUD, PROVIDER, TD, claims, python_attach

    token = PROVIDER.jws({"alg": "Ed25519", "kid": PROVIDER.kid, "typ": "agent-attestation+jwt"},
                         dict(claims(int(time.time())), iss=issuer.url))
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}

    def verify(jti):
        path = tmp_path / f"request-{jti}.json"
        path.write_text(json.dumps(python_attach(request, token, jti)))
        result = subprocess.run([attest_binary(), "mcp", "verify", "--request", str(path), "--era", "2025-11-25",
                                 "--audience", AUD, "--issuer", issuer.url, "--trust-domain", TD,
                                 "--discover", "--ca-file", str(FIXTURES / "ca.pem")],
                                capture_output=True, text=True, timeout=60)
        return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])

    issuer.publish(issuer.url, {"keys": [PROVIDER.jwk]})
    code, verdict = verify("jti-1")
    assert code == 0 and verdict["attested"] is True and verdict["iss"] == issuer.url, verdict
    assert issuer.requests == [META_PATH, "/jwks.json"]

    issuer.publish(issuer.url, {"keys": [JWK]})
    code, verdict = verify("jti-2")
    assert code == 1 and verdict["error"] == "TOK_KID_UNKNOWN" and verdict["http_status"] == 401, verdict
