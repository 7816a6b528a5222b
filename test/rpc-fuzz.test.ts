// Hostile input: every prefix of valid requests, random bytes and random
// mutations. The module must never trap, and must answer a well-formed
// JSON-RPC response (an error, for broken input) or nothing.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Device } from "../host/device.ts";
import { ENGINES } from "./support/engines.ts";
import { expectValidResponse } from "./support/rpc.ts";

const requests = [
  '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
  '[{"jsonrpc":"2.0","method":"echo","params":["\\ud83d\\ude00\\n é",-1.5e-3,true,false,null,{}],"id":"x"},{"jsonrpc":"2.0","method":"note"}]',
  '{"jsonrpc":"2.0","method":"rpc.list","id":18446744073709551615}',
  '{"jsonrpc":"2.0","method":"sys.info","params":[],"id":null}',
];

describe.each(ENGINES)("hostile input under %s", (engine) => {
  const device = new Device({
    id: "fuzz",
    engine,
    limits: { requestMax: 1024, responseMax: 2048, maxTokens: 64, maxDepth: 8 },
    methods: { subtract: (p: any) => (Array.isArray(p) ? p[0] - p[1] : p?.minuend - p?.subtrahend), note: () => null },
  });

  it.each(requests)("every truncation of %s is a parse error", async (request) => {
    const bytes = Buffer.from(request);
    for (let n = 0; n < bytes.length; n++) {
      const response = await device.handleRpc(bytes.subarray(0, n));
      expect(response === null ? null : JSON.parse(response).error?.code, `prefix of ${n} bytes`).toBe(-32700);
    }
    expectValidResponse(await device.handleRpc(bytes));
  });

  it("random bytes give a valid response or nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        expectValidResponse(await device.handleRpc(bytes));
      }),
      { numRuns: engine === "v8" ? 2000 : 500 },
    );
  });

  it("random JSON-ish text gives a valid response or nothing", async () => {
    const piece = fc.constantFrom(
      '{"jsonrpc":"2.0"',
      '"method":',
      '"echo"',
      '"params":',
      '"id":',
      "[",
      "]",
      "{",
      "}",
      ",",
      ":",
      '"\\u',
      "d83d",
      "1e9",
      "-0",
      "null",
      '"',
      "\\",
      " ",
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), async (pieces) => {
        expectValidResponse(await device.handleRpc(pieces.join("")));
      }),
      { numRuns: engine === "v8" ? 2000 : 500 },
    );
  });

  it("single-byte mutations of valid requests give a valid response or nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...requests), fc.nat(), fc.integer({ min: 0, max: 255 }), async (request, at, byte) => {
        const bytes = Buffer.from(request);
        bytes[at % bytes.length] = byte;
        expectValidResponse(await device.handleRpc(bytes));
      }),
      { numRuns: engine === "v8" ? 2000 : 500 },
    );
  });
});
