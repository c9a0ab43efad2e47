#!/bin/sh
# The README's portal walkthrough as one script: keys, a sealed artifact, a configuration,
# the portal in front of an MCP server, two calls (one allowed, one denied), then the
# exported bundle verified. Usage: examples/portal/quickstart.sh [WORKDIR]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
A=${ATTEST:-$ROOT/.build/debug/attest}
W=${1:-$(mktemp -d)}
mkdir -p "$W" && cd "$W"
AUD=https://tools.example/mcp
ORIGIN=portal.example/log/0
SUB=spiffe://agents.provider.example/support-bot

# 1. Keys: the log key and the policy authority key are the operator's; the provider and
#    agent keys stand in here for a model provider's token issuer and the agent.
for k in log authority provider agent; do [ -f $k.seed ] || "$A" key generate --out $k.seed >/dev/null; done
thumb() { "$A" key show --key "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["thumbprint"])'; }
AUTHORITY=$(thumb authority.seed); AGENT_JKT=$(thumb agent.seed)
"$A" key show --key provider.seed | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["jwks"]))' > provider.jwks.json
LOG_KEY=$("$A" key show --key log.seed --origin $ORIGIN | python3 -c 'import json,sys; print(json.load(sys.stdin)["note_verifier"])')
NOW=$(date +%s)

# 2. The sealed artifact: what the agent may do through this portal.
cat > artifact.unsigned.json <<JSON
{"type": "mcp-attest/artifact/v1", "id": "support-bot-2026", "issuer": "https://policy.example",
 "subject": {"sub": "$SUB", "jkt": "$AGENT_JKT"}, "not_before": $((NOW - 60)), "not_after": $((NOW + 86400)),
 "tools": {"echo": {"arguments": {"text": {"type": "string", "max_length": 64}}, "required": ["text"],
                    "rate_limit": {"max": 100, "window": 60}}},
 "log": {"origins": ["$ORIGIN"]}}
JSON
"$A" artifact seal --in artifact.unsigned.json --key authority.seed --out artifact.json 2>/dev/null

# 3. The portal's configuration, checked.
cat > portal.json <<JSON
{"audience": "$AUD", "artifacts": ["artifact.json"], "authorities": ["$AUTHORITY"],
 "issuers": [{"issuer": "https://provider.example", "trust_domains": ["agents.provider.example"], "jwks": "provider.jwks.json"}],
 "log": {"origin": "$ORIGIN", "key": "log.seed"}, "store": "store", "checkpoint": {"every": 1000, "seconds": 60}}
JSON
"$A" portal check --config portal.json

# 4. An attested agent: a token from the provider, and a fresh proof on each request.
cat > claims.json <<JSON
{"iss": "https://provider.example", "sub": "$SUB", "aud": "$AUD", "iat": $((NOW - 5)), "exp": $((NOW + 600)),
 "jti": "quickstart-$NOW", "cnf": {"jkt": "$AGENT_JKT"},
 "agent": {"provider": "Example", "model_family": "example", "model_version": "1", "deployment": "quickstart",
           "operator": "https://operator.example"}}
JSON
"$A" token issue --key provider.seed --claims claims.json > token.jwt
call() { echo "$1" | "$A" mcp attach --token token.jwt --key agent.seed --audience $AUD --era 2025-11-25; }
{
  echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"quickstart","version":"1"}}}'
  echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  call '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
  call '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_everything","arguments":{}}}'
  sleep 2
} | "$A" portal stdio --config portal.json -- python3 "$HERE/echo_server.py" > responses.jsonl
python3 - <<'PY'
import json
for line in open("responses.jsonl"):
    m = json.loads(line)
    if m.get("id") in (2, 3):
        receipts = (m.get("result", {}).get("_meta") or m.get("error", {}).get("data") or {}).get("dev.agent-attestation/receipts", [])
        outcome = "result: " + m["result"]["content"][0]["text"] if "result" in m else "denied: " + m["error"]["data"]["code"]
        print(f"call {m['id']}: {outcome}; receipts " + ", ".join(f"{r['seq']} {r['decision']}" for r in receipts))
PY

# 5. The evidence: export what the portal recorded, and verify it as an auditor would.
rm -rf bundle
"$A" bundle export --store store --config portal.json --out bundle >/dev/null
"$A" bundle verify bundle --authority="$AUTHORITY" --log-key="$LOG_KEY" --now=$(date +%s)
