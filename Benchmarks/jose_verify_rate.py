#!/usr/bin/env python3
"""Verification rate of one attestation token through joserfc and PyJWT, for
`bench-jose` (`make bench-jose`), which alternates these rounds with its own.

Usage: jose_verify_rate.py --serve TOKEN X_BASE64URL AUDIENCE ISSUER
Prints `ready`, then for each line `LIBRARY SECONDS` read from standard input (LIBRARY is
`joserfc` or `PyJWT`) runs verifications for SECONDS and prints `LIBRARY RATE`.

What each library checks: the Ed25519 signature, then the claims it offers checks for:
joserfc's claims registry (`iss` and `aud` values, `exp`, `iat`, `sub`, `jti` present,
`exp` not passed), PyJWT's decode (`exp`, `iat`, `nbf` times, `aud` and `iss` values,
`exp`, `iat`, `sub` and `jti` required). Neither applies the protocol's claim rules
(trust domain, lifetime bound, `cnf.jkt`, agent claims), so the comparison favours them.
"""
import sys
import time

if len(sys.argv) != 6 or sys.argv[1] != "--serve":
    sys.exit(__doc__)
token, x, audience, issuer = sys.argv[2:6]
jwk = {"kty": "OKP", "crv": "Ed25519", "x": x}

from joserfc import jwt
from joserfc.jwk import OKPKey
from joserfc.jwt import JWTClaimsRegistry

key = OKPKey.import_key(jwk)
registry = JWTClaimsRegistry(iss={"essential": True, "value": issuer}, aud={"essential": True, "value": audience},
                             exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
                             jti={"essential": True})


def joserfc_verify():
    registry.validate(jwt.decode(token, key, algorithms=["Ed25519"]).claims)


import jwt as pyjwt
from jwt.algorithms import OKPAlgorithm

pyjwt.register_algorithm("Ed25519", OKPAlgorithm())
pkey = OKPAlgorithm.from_jwk(jwk)
options = {"require": ["exp", "iat", "sub", "jti"]}


def pyjwt_verify():
    pyjwt.decode(token, pkey, algorithms=["Ed25519"], audience=audience, issuer=issuer, options=options)


libraries = {"joserfc": joserfc_verify, "PyJWT": pyjwt_verify}
for verify in libraries.values():
    verify()  # each accepts the token before it is timed
print("ready", flush=True)
for line in sys.stdin:
    name, seconds = line.split()
    verify = libraries[name]
    count, start = 0, time.perf_counter()
    deadline = start + float(seconds)
    while (now := time.perf_counter()) < deadline:
        for _ in range(16):
            verify()
        count += 16
    print(name, count / (now - start), flush=True)
