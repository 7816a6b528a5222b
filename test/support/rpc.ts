// Shared checks for JSON-RPC tests: what a well-formed response looks like.
import { expect } from "vitest";

export const CODES = [-32700, -32600, -32601, -32602, -32603, -32000, -32001];

/** Asserts `text` is one JSON-RPC 2.0 response object (or a non-empty array of them). */
export function expectValidResponse(text: string | null, opts: { batchAllowed?: boolean } = {}): void {
  if (text === null) return;
  const parsed = JSON.parse(text);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (Array.isArray(parsed)) {
    expect(opts.batchAllowed ?? true).toBe(true);
    expect(parsed.length).toBeGreaterThan(0);
  }
  for (const r of list) {
    expect(r.jsonrpc).toBe("2.0");
    expect("id" in r).toBe(true);
    expect(["string", "number"].includes(typeof r.id) || r.id === null).toBe(true);
    expect("result" in r !== "error" in r).toBe(true);
    if ("error" in r) {
      expect(Number.isInteger(r.error.code)).toBe(true);
      expect(typeof r.error.message).toBe("string");
    }
  }
}

/** The compact form of a JSON text, keeping member order (what the module writes). */
export const compact = (json: string): string => JSON.stringify(JSON.parse(json));
