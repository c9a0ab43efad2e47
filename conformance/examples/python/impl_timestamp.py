#!/usr/bin/env python3
"""RFC 3161 timestamp tokens over checkpoint notes (checkpoint.md §Timestamp tokens),
written from the text of that section: the response and the trusted certificate are read
with a small DER reader that follows the steps element by element (a general ASN.1
library reads more than the steps name, and would reject what they skip); ECDSA with
pyca/cryptography.

Ops: checkpoint.timestamp.

    read_certificate(der) -> Certificate     KEY_INVALID
    verify_timestamp(response, note, salt, certificate) -> genTime (POSIX seconds)
        the nine ordered checks: TSA_MALFORMED, TSA_NOT_GRANTED, TSA_MALFORMED,
        TSA_IMPRINT_MISMATCH, TSA_SIGNER_UNTRUSTED, TSA_CERT_USAGE, TSA_CERT_VALIDITY,
        TSA_ALG_UNSUPPORTED, TSA_SIGNATURE_INVALID
"""
import calendar
import datetime
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from attest_core import BadRequest, OpError, field, from_hex

MAX_BYTES = 65536
SALT_LENGTH = 32


def _malformed(why):
    return OpError("TSA_MALFORMED", why)


class _Der:
    """Reads DER one element at a time as step 3 says: single-byte tags, definite and
    minimal lengths of at most four bytes, each length within the enclosing bytes. An
    element that the steps do not name is skipped whole, its contents unread."""

    def __init__(self, data: bytes, code: str):
        self.data, self.pos, self.code = data, 0, code

    def fail(self, why):
        return OpError(self.code, why)

    def empty(self):
        return self.pos >= len(self.data)

    def next(self, tag=None):
        d, p = self.data, self.pos
        if p >= len(d):
            raise self.fail("DER ends where an element was expected")
        t = d[p]
        if t & 0x1F == 0x1F:
            raise self.fail("DER tag of more than one byte")
        p += 1
        if p >= len(d):
            raise self.fail("DER element without a length")
        first = d[p]
        p += 1
        if first < 0x80:
            n = first
        else:
            k = first & 0x7F
            if not 1 <= k <= 4 or len(d) - p < k or d[p] == 0:
                raise self.fail("DER length indefinite, too long, cut or not minimal")
            n = int.from_bytes(d[p:p + k], "big")
            p += k
            if n < 0x80:
                raise self.fail("DER length not minimal")
        if len(d) - p < n:
            raise self.fail("DER element longer than its enclosing bytes")
        encoded, value = d[self.pos:p + n], d[p:p + n]
        self.pos = p + n
        if tag is not None and t != tag:
            raise self.fail(f"DER tag {t} where {tag} was expected")
        return t, value, encoded

    def optional(self, tag):
        return self.next(tag) if not self.empty() and self.data[self.pos] == tag else None

    def end(self):
        if not self.empty():
            raise self.fail("DER has bytes after its last element")

    def inner(self, tag):
        return _Der(self.next(tag)[1], self.code)

    def algorithm_with_parameters(self):
        """An AlgorithmIdentifier: ((OID contents, the parameters element or None), plain):
        plain when the parameters are absent or NULL."""
        r = self.inner(0x30)
        oid = r.next(0x06)[1]
        params = None if r.empty() else r.next()
        r.end()
        return (oid, params), params is None or (params[0] == 0x05 and params[1] == b"")

    def algorithm(self):
        """An AlgorithmIdentifier: (OID contents, parameters absent or NULL)."""
        (oid, _), plain = self.algorithm_with_parameters()
        return oid, plain


def _small_integer(element, code):
    tag, value, _ = element
    if tag != 0x02 or not 1 <= len(value) <= 4 or value[0] & 0x80:
        raise OpError(code, "DER INTEGER is not a small non-negative number")
    return int.from_bytes(value, "big")


def _time(element, code) -> int:
    """A UTCTime (years 1950 to 2049) or GeneralizedTime as DER writes them, in whole POSIX
    seconds: seconds and Z always, a fraction only in a GeneralizedTime, without a trailing 0."""
    tag, value, _ = element
    text = value.decode("ascii", "replace")
    if tag == 0x17:
        m = re.fullmatch(r"([0-9]{12})Z", text)
    elif tag == 0x18:
        m = re.fullmatch(r"([0-9]{14})(\.[0-9]*[1-9])?Z", text)
    else:
        m = None
    if m is None or len(text) > 26:
        raise OpError(code, "not a UTCTime or GeneralizedTime of the DER form")
    digits = m.group(1)
    if tag == 0x17:
        year = int(digits[:2])
        digits = str(year + (1900 if year >= 50 else 2000)) + digits[2:]
    if int(digits[12:14]) > 59 or digits[:4] == "0000":
        raise OpError(code, "not a valid date and time")
    try:
        return calendar.timegm(datetime.datetime.strptime(digits, "%Y%m%d%H%M%S").timetuple())
    except ValueError:
        raise OpError(code, "not a valid date and time")


OID_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")
OID_P256 = bytes.fromhex("2a8648ce3d030107")
OID_EXT_KEY_USAGE = bytes.fromhex("551d25")
OID_TIME_STAMPING = bytes.fromhex("2b06010505070308")
OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
OID_TST_INFO = bytes.fromhex("2a864886f70d0109100104")
OID_SHA256 = bytes.fromhex("608648016503040201")
OID_ECDSA_SHA256 = bytes.fromhex("2a8648ce3d040302")
OID_CONTENT_TYPE = bytes.fromhex("2a864886f70d010903")
OID_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")


class Certificate:
    """The trusted authority's certificate as the steps read it: issuer and serial number
    (DER bytes), validity, the extended key usage extension, and the P-256 key if it is one."""

    def __init__(self, der: bytes):
        K = "KEY_INVALID"
        if len(der) > MAX_BYTES:
            raise OpError(K, "TSA certificate over 64 KiB")
        outer = _Der(der, K)
        c = outer.inner(0x30)
        outer.end()
        tbs = c.inner(0x30)
        c.algorithm()
        c.next(0x03)
        c.end()
        tbs.optional(0xA0)
        self.serial = tbs.next(0x02)[2]
        tbs.algorithm()
        self.issuer = tbs.next(0x30)[2]
        validity = tbs.inner(0x30)
        self.not_before = _time(validity.next(), K)
        self.not_after = _time(validity.next(), K)
        validity.end()
        tbs.next(0x30)
        spki = tbs.inner(0x30)
        key_oid, _ = spki.algorithm_with_parameters()
        key_bits = spki.next(0x03)[1]
        spki.end()
        self.p256 = None
        if key_oid[0] == OID_EC_PUBLIC_KEY and key_oid[1] is not None and key_oid[1][0] == 0x06 and key_oid[1][1] == OID_P256:
            point = key_bits[1:]
            try:
                if key_bits[:1] != b"\x00" or len(point) != 65 or point[0] != 4:
                    raise ValueError("not an uncompressed point")
                self.p256 = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            except ValueError:
                raise OpError(K, "TSA certificate's P-256 key does not decode")
        tbs.optional(0x81)
        tbs.optional(0x82)
        self.usage = None
        extensions = tbs.optional(0xA3)
        if extensions is not None:
            wrapper = _Der(extensions[1], K)
            items = wrapper.inner(0x30)
            wrapper.end()
            while not items.empty():
                e = items.inner(0x30)
                oid = e.next(0x06)[1]
                critical = False
                flag = e.optional(0x01)
                if flag is not None:
                    if flag[1] != b"\xff":
                        raise OpError(K, "extension criticality is not DER TRUE")
                    critical = True
                value = e.next(0x04)[1]
                e.end()
                if oid != OID_EXT_KEY_USAGE:
                    continue
                if self.usage is not None:
                    raise OpError(K, "two extendedKeyUsage extensions")
                inner = _Der(value, K)
                purposes = inner.inner(0x30)
                inner.end()
                found = []
                while not purposes.empty():
                    found.append(purposes.next(0x06)[1])
                self.usage = (critical, found)
        tbs.end()


def read_certificate(der: bytes) -> Certificate:
    """The trusted authority's certificate, read before the token: KEY_INVALID unless it
    is one DER X.509 certificate of the form read here."""
    return Certificate(der)


def verify_timestamp(response: bytes, note: bytes, salt: bytes, cert) -> int:
    M = "TSA_MALFORMED"
    # Step 1: the salt and the response's size.
    if len(salt) != SALT_LENGTH:
        raise _malformed("the salt is not 32 bytes")
    if len(response) > MAX_BYTES:
        raise _malformed("the response is over 64 KiB")
    # Step 2: TimeStampResp and its status.
    outer = _Der(response, M)
    resp = outer.inner(0x30)
    outer.end()
    status = _small_integer(resp.inner(0x30).next(), M)
    if status not in (0, 1):
        raise OpError("TSA_NOT_GRANTED", f"the authority's status is {status}")
    # Step 3: the token's structure.
    content_info = resp.inner(0x30)
    resp.end()
    if content_info.next(0x06)[1] != OID_SIGNED_DATA:
        raise _malformed("the token is not CMS SignedData")
    explicit = content_info.inner(0xA0)
    content_info.end()
    signed = explicit.inner(0x30)
    explicit.end()
    signed.next(0x02)
    signed.next(0x31)
    encap = signed.inner(0x30)
    if encap.next(0x06)[1] != OID_TST_INFO:
        raise _malformed("the encapsulated content is not id-ct-TSTInfo")
    wrapper = encap.inner(0xA0)
    encap.end()
    e_content = wrapper.next(0x04)[1]
    wrapper.end()
    signed.optional(0xA0)
    signed.optional(0xA1)
    signers = signed.inner(0x31)
    signed.end()
    signer = signers.inner(0x30)
    if not signers.empty():
        raise _malformed("the token has more than one signer")
    signer.next(0x02)
    sid = signer.next()
    digest_algorithm = signer.algorithm()
    signed_attrs = signer.optional(0xA0)
    if signed_attrs is None:
        raise _malformed("the signer has no signed attributes")
    signature_algorithm = signer.algorithm()
    signature = signer.next(0x04)[1]
    signer.optional(0xA1)
    signer.end()
    tst_outer = _Der(e_content, M)
    tst = tst_outer.inner(0x30)
    tst_outer.end()
    if _small_integer(tst.next(), M) != 1:
        raise _malformed("TSTInfo version is not 1")
    tst.next(0x06)
    imprint = tst.inner(0x30)
    imprint_algorithm = imprint.algorithm()
    hashed = imprint.next(0x04)[1]
    imprint.end()
    tst.next(0x02)
    seconds = _time(tst.next(0x18), M)
    # Step 4: the imprint is SHA-256(salt || note).
    if imprint_algorithm != (OID_SHA256, True) or hashed != hashlib.sha256(salt + note).digest():
        raise OpError("TSA_IMPRINT_MISMATCH", "the message imprint is not SHA-256(salt || note)")
    # Step 5: the signer is the trusted certificate, by issuer and serial number (DER bytes).
    if sid[0] != 0x30 or sid[1] != cert.issuer + cert.serial:
        raise OpError("TSA_SIGNER_UNTRUSTED", "the signer is not the trusted authority's certificate")
    # Step 6: exactly the timeStamping purpose, in a critical extension.
    if cert.usage is None or not cert.usage[0] or cert.usage[1] != [OID_TIME_STAMPING]:
        raise OpError("TSA_CERT_USAGE", "no critical extendedKeyUsage of timeStamping alone")
    # Step 7: genTime within the validity (whole seconds).
    if not cert.not_before <= seconds <= cert.not_after:
        raise OpError("TSA_CERT_VALIDITY", "genTime outside the certificate's validity")
    # Step 8: ECDSA P-256 with SHA-256 only.
    if cert.p256 is None or digest_algorithm != (OID_SHA256, True) or signature_algorithm[0] != OID_ECDSA_SHA256:
        raise OpError("TSA_ALG_UNSUPPORTED", "only ECDSA P-256 with SHA-256 is verified")
    # Step 9: the signed attributes bind the TSTInfo; the signature over them verifies.
    I = "TSA_SIGNATURE_INVALID"
    attrs = _Der(signed_attrs[1], I)
    found = {}
    count = 0
    while not attrs.empty() and count < 64:
        count += 1
        attribute = attrs.inner(0x30)
        kind = attribute.next(0x06)[1]
        values = attribute.inner(0x31)
        if kind in (OID_CONTENT_TYPE, OID_MESSAGE_DIGEST):
            if kind in found:
                raise OpError(I, "a content-type or message-digest attribute is repeated")
            found[kind] = values.next(0x06 if kind == OID_CONTENT_TYPE else 0x04)[1]
            if not values.empty():
                raise OpError(I, "a content-type or message-digest attribute has more than one value")
    if (not attrs.empty() or found.get(OID_CONTENT_TYPE) != OID_TST_INFO
            or found.get(OID_MESSAGE_DIGEST) != hashlib.sha256(e_content).digest()):
        raise OpError(I, "the signed attributes do not carry the TSTInfo's content type and digest")
    try:
        cert.p256.verify(signature, b"\x31" + signed_attrs[2][1:], ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as e:
        raise OpError(I, f"the authority's signature does not verify: {e}")
    return seconds


def op_checkpoint_timestamp(context: dict, inp: dict) -> dict:
    cert = read_certificate(from_hex(field(inp, "certificate"), "certificate"))
    gen_time = verify_timestamp(from_hex(field(inp, "token"), "token"), field(inp, "note").encode("utf-8"),
                                from_hex(field(inp, "salt"), "salt"), cert)
    return {"gen_time": gen_time}


OPS = {"checkpoint.timestamp": op_checkpoint_timestamp}
