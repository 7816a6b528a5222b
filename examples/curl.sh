#!/bin/sh
# A REST session against a running backend (npm start prints the URL and a key).
#   OUTPOST_KEY=opk_… sh examples/curl.sh [device-id]
set -eu
url=${OUTPOST_URL:-http://127.0.0.1:8080}/api/v1
device=${1:-demo}
auth="Authorization: Bearer ${OUTPOST_KEY:?set OUTPOST_KEY to a key from npm start or outpost key create}"
json="Content-Type: application/json"

echo "# the fleet"
curl -sS "$url/devices" -H "$auth"; echo
echo "# a JSON-RPC request; 503 means not delivered (retry), 504 says delivered:true"
curl -sS -X POST "$url/devices/$device/rpc" -H "$auth" -H "$json" -d '{"jsonrpc":"2.0","id":1,"method":"sys.info"}'; echo
echo "# the short form: the body is the params; the Idempotency-Key makes a retry return the first answer"
curl -sS -X POST "$url/devices/$device/rpc/echo" -H "$auth" -H "$json" -H "Idempotency-Key: echo-1" -d '["hello"]'; echo
