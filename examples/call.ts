// Call a device through the backend's REST API, retrying only what is safe to retry.
//   OUTPOST_KEY=<from `outpost key create`> node --import tsx examples/call.ts thermo-1 thermo.set '[22]'
import { randomUUID } from "node:crypto";

const [id = "thermo-1", method = "thermo.read", params = "[]"] = process.argv.slice(2);
const url = process.env.OUTPOST_URL ?? "http://127.0.0.1:8080";
const key = process.env.OUTPOST_KEY;
if (!key) {
  console.error("set OUTPOST_KEY to a key from `outpost key create`");
  process.exit(1);
}

// One Idempotency-Key for every attempt: a retry after a lost answer returns the first answer
// instead of running the method again.
const idempotencyKey = randomUUID();
for (let attempt = 1; ; attempt++) {
  const res = await fetch(`${url}/api/v1/devices/${encodeURIComponent(id)}/rpc`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "idempotency-key": idempotencyKey },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: JSON.parse(params) }),
  });
  const body = await res.json();
  // 503: not delivered, always safe to retry. 504: maybe ran; safe here only because of the key.
  if ((res.status === 503 || res.status === 504) && attempt < 3) {
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    continue;
  }
  console.log(res.status, JSON.stringify(body));
  process.exit(res.ok ? 0 : 1);
}
