#!/usr/bin/env python3
"""RFC 3161 timestamp tokens over checkpoint notes (checkpoint.md §Timestamp tokens),
written from the text of that section with asn1crypto (DER) and cryptography (ECDSA).

Ops: checkpoint.timestamp.

    read_certificate(der) -> asn1crypto x509.Certificate     KEY_INVALID
    verify_timestamp(response, note, salt, certificate) -> genTime (POSIX seconds)
        the nine ordered checks: TSA_MALFORMED, TSA_NOT_GRANTED, TSA_MALFORMED,
        TSA_IMPRINT_MISMATCH, TSA_SIGNER_UNTRUSTED, TSA_CERT_USAGE, TSA_CERT_VALIDITY,
        TSA_ALG_UNSUPPORTED, TSA_SIGNATURE_INVALID
"""
import hashlib

from asn1crypto import cms, core, tsp, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from attest_core import BadRequest, OpError, field, from_hex

MAX_BYTES = 65536
SALT_LENGTH = 32


def read_certificate(der: bytes):
    """The trusted authority's certificate, read before the token: KEY_INVALID unless it
    is one DER X.509 certificate."""
    if len(der) > MAX_BYTES:
        raise OpError("KEY_INVALID", "TSA certificate over 64 KiB")
    try:
        cert = x509.Certificate.load(der, strict=True)
        cert.native  # parses every field
        return cert
    except (ValueError, TypeError, KeyError) as e:
        raise OpError("KEY_INVALID", f"TSA certificate does not parse: {e}")


def _malformed(why):
    return OpError("TSA_MALFORMED", why)


def verify_timestamp(response: bytes, note: bytes, salt: bytes, cert) -> int:
    # Step 1: the salt and the response's size.
    if len(salt) != SALT_LENGTH:
        raise _malformed("the salt is not 32 bytes")
    if len(response) > MAX_BYTES:
        raise _malformed("the response is over 64 KiB")
    # Step 2: TimeStampResp and its status.
    try:
        # Read as a plain SEQUENCE: the token is absent when the status is not granted.
        resp = core.Sequence.load(response, strict=True)
        if len(resp) not in (1, 2):
            raise ValueError("a TimeStampResp has a status and an optional token")
        status = tsp.PKIStatusInfo.load(resp[0].dump(), strict=True)["status"].native
    except (ValueError, TypeError, KeyError) as e:
        raise _malformed(f"not a TimeStampResp: {e}")
    if status not in ("granted", "granted_with_mods"):
        raise OpError("TSA_NOT_GRANTED", f"the authority's status is {status}")
    # Step 3: the token's structure.
    try:
        if len(resp) != 2:
            raise ValueError("a granted response without a token")
        token = cms.ContentInfo.load(resp[1].dump(), strict=True)
        if token["content_type"].dotted != "1.2.840.113549.1.7.2":
            raise ValueError("the token is not CMS SignedData")
        signed = token["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].dotted != "1.2.840.113549.1.9.16.1.4":
            raise ValueError("the encapsulated content is not id-ct-TSTInfo")
        e_content = encap["content"].parsed
        tst_der = encap["content"].contents  # the TSTInfo DER (the OCTET STRING's contents)
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise ValueError("the token has not exactly one signer")
        signer = signers[0]
        if signer["signed_attrs"].native is None or len(signer["signed_attrs"]) == 0:
            raise ValueError("the signer has no signed attributes")
        if e_content["version"].native != "v1":
            raise ValueError("TSTInfo version is not 1")
        imprint = e_content["message_imprint"]
        gen_time = e_content["gen_time"].native
        signer.native
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise _malformed(f"the token does not parse: {e}")
    # Step 4: the imprint is SHA-256(salt || note).
    algorithm = imprint["hash_algorithm"]
    if (algorithm["algorithm"].dotted != "2.16.840.1.101.3.4.2.1" or algorithm["parameters"].native is not None
            or imprint["hashed_message"].native != hashlib.sha256(salt + note).digest()):
        raise OpError("TSA_IMPRINT_MISMATCH", "the message imprint is not SHA-256(salt || note)")
    # Step 5: the signer is the trusted certificate, by issuer and serial number (DER bytes).
    sid = signer["sid"]
    tbs = cert["tbs_certificate"]
    if (sid.name != "issuer_and_serial_number"
            or sid.chosen["issuer"].dump() != tbs["issuer"].dump()
            or sid.chosen["serial_number"].dump() != tbs["serial_number"].dump()):
        raise OpError("TSA_SIGNER_UNTRUSTED", "the signer is not the trusted authority's certificate")
    # Step 6: exactly the timeStamping purpose, in a critical extension.
    usages = [e for e in tbs["extensions"] if e["extn_id"].dotted == "2.5.29.37"] if tbs["extensions"].native else []
    if (len(usages) != 1 or not usages[0]["critical"].native
            or [p.dotted for p in usages[0]["extn_value"].parsed] != ["1.3.6.1.5.5.7.3.8"]):
        raise OpError("TSA_CERT_USAGE", "no critical extendedKeyUsage of timeStamping alone")
    # Step 7: genTime within the validity (whole seconds).
    seconds = int(gen_time.timestamp())
    validity = tbs["validity"]
    if not (int(validity["not_before"].native.timestamp()) <= seconds <= int(validity["not_after"].native.timestamp())):
        raise OpError("TSA_CERT_VALIDITY", "genTime outside the certificate's validity")
    # Step 8: ECDSA P-256 with SHA-256 only.
    spki = tbs["subject_public_key_info"]
    if (spki["algorithm"]["algorithm"].dotted != "1.2.840.10045.2.1"
            or spki["algorithm"]["parameters"].chosen.dotted != "1.2.840.10045.3.1.7"
            or signer["digest_algorithm"]["algorithm"].dotted != "2.16.840.1.101.3.4.2.1"
            or signer["digest_algorithm"]["parameters"].native is not None
            or signer["signature_algorithm"]["algorithm"].dotted != "1.2.840.10045.4.3.2"):
        raise OpError("TSA_ALG_UNSUPPORTED", "only ECDSA P-256 with SHA-256 is verified")
    # Step 9: the signed attributes bind the TSTInfo; the signature over them verifies.
    attrs = signer["signed_attrs"]
    types = [a for a in attrs if a["type"].dotted == "1.2.840.113549.1.9.3"]
    digests = [a for a in attrs if a["type"].dotted == "1.2.840.113549.1.9.4"]
    if (len(types) != 1 or len(digests) != 1 or len(types[0]["values"]) != 1 or len(digests[0]["values"]) != 1
            or types[0]["values"][0].dotted != "1.2.840.113549.1.9.16.1.4"
            or digests[0]["values"][0].native != hashlib.sha256(tst_der).digest()):
        raise OpError("TSA_SIGNATURE_INVALID", "the signed attributes do not carry the TSTInfo's type and digest")
    signed_bytes = b"\x31" + attrs.dump()[1:]
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), spki["public_key"].native)
        key.verify(signer["signature"].native, signed_bytes, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as e:
        raise OpError("TSA_SIGNATURE_INVALID", f"the authority's signature does not verify: {e}")
    return seconds


def op_checkpoint_timestamp(context: dict, inp: dict) -> dict:
    cert = read_certificate(from_hex(field(inp, "certificate"), "certificate"))
    gen_time = verify_timestamp(from_hex(field(inp, "token"), "token"), field(inp, "note").encode("utf-8"),
                                from_hex(field(inp, "salt"), "salt"), cert)
    return {"gen_time": gen_time}


OPS = {"checkpoint.timestamp": op_checkpoint_timestamp}
