"""Interoperability of attestation tokens with two independent JOSE libraries.

- joserfc 1.8 knows the RFC 9864 name `Ed25519` natively; it is not in its default
  ("recommended") set, so it is named in `algorithms`. It also knows `EdDSA`, accepted
  only when named.
- PyJWT 2.15 knows only `EdDSA`. Its documented `jwt.register_algorithm` registers its own
  Ed25519 implementation (`OKPAlgorithm`) under the name `Ed25519`, after which it signs
  and verifies our tokens. Without that step it can only sign `EdDSA`, which our verifier
  accepts only under the legacy-issuer option.

Our side runs through `attest token issue`, `attest token verify` and `attest token
verify-jws`.
"""
import base64, hashlib, json, os, pathlib, subprocess, time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws as jose_jws, jwt as jose_jwt
from joserfc.jwk import OKPKey
from jwt.algorithms import OKPAlgorithm

from conftest import ROOT

# RFC 8037 Appendix A.1 / A.2 / A.3.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
PRIVATE_JWK = dict(PUBLIC_JWK, d="nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
# RFC 8037 Appendix A.4: the JWS of "Example of Ed25519 signing" with alg EdDSA.
RFC8037_A4 = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
              "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")

ISS = "https://provider.example"
TD = "agents.provider.example"
AUD = "https://tools.acme.example/mcp"
TYP = "agent-attestation+jwt"
AGENT_JKT = base64.urlsafe_b64encode(hashlib.sha256(b"agent key").digest()).rstrip(b"=").decode()


def attest_binary():
    if os.environ.get("ATTEST_BIN"):
        return os.environ["ATTEST_BIN"]
    built = [p for p in ROOT.glob(".build*/debug/attest") if os.access(p, os.X_OK)]
    if not built:
        pytest.skip("no built attest binary (swift build first, or set ATTEST_BIN)")
    return str(max(built, key=lambda p: p.stat().st_mtime))  # the most recent build


def claims(now=None):
    now = int(time.time()) if now is None else now
    return {"iss": ISS, "sub": f"spiffe://{TD}/acme/support-bot", "aud": AUD, "iat": now - 10, "exp": now + 600,
            "jti": f"tok-{now}", "cnf": {"jkt": AGENT_JKT},
            "agent": {"provider": "Example Provider", "model_family": "example-model", "model_version": "2026-05-01",
                      "deployment": "acme-support-prod", "operator": "https://acme.example", "safety_level": "standard"}}


def issue_with_attest(tmp_path, c):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(c))
    (tmp_path / "issuer.seed").write_text(SEED.hex())
    run = subprocess.run([attest_binary(), "token", "issue", "--key", str(tmp_path / "issuer.seed"), "--claims", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def verify_with_attest(tmp_path, token, *extra):
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [PUBLIC_JWK]}))
    (tmp_path / "token.txt").write_text(token)
    run = subprocess.run([attest_binary(), "token", "verify", "--token", str(tmp_path / "token.txt"), "--audience", AUD,
                          "--issuer", ISS, "--jwks", str(tmp_path / "jwks.json"), "--trust-domain", TD, *extra],
                         capture_output=True, text=True, timeout=60)
    return json.loads(run.stdout.strip().splitlines()[-1]), run.returncode


@pytest.fixture
def pyjwt_ed25519():
    """PyJWT taught the RFC 9864 name with its documented hook, jwt.register_algorithm,
    which registers its own Ed25519 implementation (OKPAlgorithm) under "Ed25519"."""
    pyjwt.register_algorithm("Ed25519", OKPAlgorithm())
    yield pyjwt
    pyjwt.unregister_algorithm("Ed25519")


def pyjwt_private_key():
    return Ed25519PrivateKey.from_private_bytes(SEED)


# ---------------------------------------------------------------- ours -> libraries
def test_our_token_verifies_with_joserfc(tmp_path):
    c = claims()
    token = issue_with_attest(tmp_path, c)
    key = OKPKey.import_key(PUBLIC_JWK)
    obj = jose_jws.deserialize_compact(token, key, algorithms=["Ed25519"])
    assert obj.protected == {"alg": "Ed25519", "kid": KID, "typ": TYP}
    assert json.loads(obj.payload) == c
    decoded = jose_jwt.decode(token, key, algorithms=["Ed25519"])
    jose_jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISS}, aud={"essential": True, "value": AUD}).validate(decoded.claims)


def test_our_token_rejected_by_joserfc_default_algorithms(tmp_path):
    token = issue_with_attest(tmp_path, claims())
    with pytest.raises(Exception):
        jose_jws.deserialize_compact(token, OKPKey.import_key(PUBLIC_JWK))


def test_our_token_verifies_with_pyjwt_registered_ed25519(tmp_path, pyjwt_ed25519):
    c = claims()
    token = issue_with_attest(tmp_path, c)
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(PUBLIC_JWK["x"] + "="))
    decoded = pyjwt_ed25519.decode(token, public, algorithms=["Ed25519"], audience=AUD, issuer=ISS)
    assert decoded == c
    assert pyjwt.get_unverified_header(token) == {"alg": "Ed25519", "kid": KID, "typ": TYP}


def test_stock_pyjwt_does_not_know_ed25519(tmp_path):
    token = issue_with_attest(tmp_path, claims())
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(PUBLIC_JWK["x"] + "="))
    with pytest.raises(pyjwt.exceptions.InvalidAlgorithmError):
        pyjwt.PyJWT().decode(token, public, algorithms=["Ed25519"], audience=AUD)


# ---------------------------------------------------------------- libraries -> ours
def test_joserfc_ed25519_token_verifies_with_ours(tmp_path):
    c = claims()
    token = jose_jws.serialize_compact({"alg": "Ed25519", "kid": KID, "typ": TYP}, json.dumps(c),
                                       OKPKey.import_key(PRIVATE_JWK), algorithms=["Ed25519"])
    out, code = verify_with_attest(tmp_path, token)
    assert code == 0 and out["result"] == "valid" and out["alg"] == "Ed25519" and out["sub"] == c["sub"], out


def test_joserfc_eddsa_token_needs_the_legacy_option(tmp_path):
    token = jose_jws.serialize_compact({"alg": "EdDSA", "kid": KID, "typ": TYP}, json.dumps(claims()),
                                       OKPKey.import_key(PRIVATE_JWK), algorithms=["EdDSA"])
    out, code = verify_with_attest(tmp_path, token)
    assert code == 1 and out["error"] == "JWS_ALG_DEPRECATED", out
    out, code = verify_with_attest(tmp_path, token, "--accept-eddsa")
    assert code == 0 and out["alg"] == "EdDSA", out


def test_pyjwt_registered_ed25519_token_verifies_with_ours(tmp_path, pyjwt_ed25519):
    token = pyjwt_ed25519.encode(claims(), pyjwt_private_key(), algorithm="Ed25519", headers={"kid": KID, "typ": TYP})
    out, code = verify_with_attest(tmp_path, token)
    assert code == 0 and out["alg"] == "Ed25519", out


def test_stock_pyjwt_eddsa_token_needs_the_legacy_option(tmp_path):
    token = pyjwt.encode(claims(), pyjwt_private_key(), algorithm="EdDSA", headers={"kid": KID, "typ": TYP})
    out, code = verify_with_attest(tmp_path, token)
    assert code == 1 and out["error"] == "JWS_ALG_DEPRECATED", out
    out, code = verify_with_attest(tmp_path, token, "--accept-eddsa")
    assert code == 0 and out["alg"] == "EdDSA", out


def test_pyjwt_default_typ_is_rejected(tmp_path, pyjwt_ed25519):
    token = pyjwt_ed25519.encode(claims(), pyjwt_private_key(), algorithm="Ed25519", headers={"kid": KID})
    out, code = verify_with_attest(tmp_path, token)
    assert code == 1 and out["error"] == "JWS_TYP_INVALID", out


# ---------------------------------------------------------------- RFC 8037 A.4
def test_rfc8037_a4_verifies_with_our_jws_layer_under_the_legacy_option(tmp_path):
    (tmp_path / "jwk.json").write_text(json.dumps(PUBLIC_JWK))
    (tmp_path / "jws.txt").write_text(RFC8037_A4)
    base = [attest_binary(), "token", "verify-jws", "--jws", str(tmp_path / "jws.txt"), "--jwk", str(tmp_path / "jwk.json")]
    run = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and json.loads(run.stdout)["error"] == "JWS_ALG_DEPRECATED", run.stdout
    run = subprocess.run(base + ["--accept-eddsa"], capture_output=True, text=True, timeout=60)
    out = json.loads(run.stdout)
    assert run.returncode == 0 and bytes.fromhex(out["payload"]) == b"Example of Ed25519 signing", run.stdout
    # The same JWS with one signature character changed does not verify.
    (tmp_path / "jws.txt").write_text(RFC8037_A4[:-2] + ("B" if RFC8037_A4[-2] != "B" else "C") + RFC8037_A4[-1])
    run = subprocess.run(base + ["--accept-eddsa"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and json.loads(run.stdout)["error"] == "SIG_INVALID", run.stdout
    # joserfc agrees, when EdDSA is named.
    jose_jws.deserialize_compact(RFC8037_A4, OKPKey.import_key(PUBLIC_JWK), algorithms=["EdDSA"])
