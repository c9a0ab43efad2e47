#!/usr/bin/env python3
"""Verification rate of one attestation token through joserfc and PyJWT, for
`attest bench identity`. Usage: jose_verify_rate.py TOKEN X_BASE64URL N
Prints `library rate` lines. Both libraries verify the signature and decode the claims;
neither checks our claim rules, so the comparison favours them."""
import sys, time

token, x, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
jwk = {"kty": "OKP", "crv": "Ed25519", "x": x}

from joserfc import jwt
from joserfc.jwk import OKPKey
key = OKPKey.import_key(jwk)
jwt.decode(token, key, algorithms=["Ed25519"])
t = time.perf_counter()
for _ in range(n):
    jwt.decode(token, key, algorithms=["Ed25519"])
print("joserfc", n / (time.perf_counter() - t))

import jwt as pyjwt
from jwt.algorithms import OKPAlgorithm
pyjwt.register_algorithm("Ed25519", OKPAlgorithm())
pkey = OKPAlgorithm.from_jwk(jwk)
opts = {"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False}
pyjwt.decode(token, pkey, algorithms=["Ed25519"], options=opts)
t = time.perf_counter()
for _ in range(n):
    pyjwt.decode(token, pkey, algorithms=["Ed25519"], options=opts)
print("PyJWT", n / (time.perf_counter() - t))
