#!/usr/bin/env bash
# Makes a local RFC 3161 timestamp authority with openssl: a CA, a TSA certificate (P-256,
# critical extended key usage timeStamping) and the openssl configuration `openssl ts`
# needs. Usage: scripts/timestamp_data.sh DIR. Used once to make the fixed test data under
# Tests/fixtures/timestamp/ (checkpoint.md §Timestamp tokens), and by Tests/python to run
# `openssl ts -reply` as the authority.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
cat > ca.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Example Timestamp Root
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign
[tsa_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[plain_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
CNF
cat > tsa.cnf <<'CNF'
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = .
serial = ./tsaserial
signer_cert = ./tsa.pem
signer_key = ./tsa-key.pem
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
crypto_device = builtin
CNF
echo 01 > tsaserial
[ -f ca-key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem 2>/dev/null
[ -f tsa-key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tsa-key.pem 2>/dev/null
openssl req -x509 -new -key ca-key.pem -config ca.cnf -extensions v3_ca -days 36500 -set_serial 1 -out ca.pem
openssl req -new -key tsa-key.pem -subj "/CN=Example Timestamp Authority" -out tsa.csr
openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca-key.pem -set_serial 4660 -days 36500 \
  -extfile ca.cnf -extensions tsa_ext -out tsa.pem 2>/dev/null
