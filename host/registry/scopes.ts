// What a caller of /api/v1 may do, defined once: API keys hold a set of these, JWT claims map onto them, and every
// route declares the one it needs (`config: { scope }`, checked by host/server/auth.ts).

export const SCOPES = ["read", "call", "admin", "ota"] as const;
export type Scope = (typeof SCOPES)[number];

/** What each scope lets a caller do (the docs and `--help` show these). */
export const SCOPE_MEANING: Record<Scope, string> = {
  read: "list and read devices, their event streams",
  call: "call methods on devices (RPC)",
  admin: "create and delete devices, manage API keys, read the audit log",
  ota: "publish firmware releases and roll them out",
};

export class InvalidScope extends Error {
  override name = "InvalidScope";
}

export function isScope(s: unknown): s is Scope {
  return typeof s === "string" && (SCOPES as readonly string[]).includes(s);
}

/** Scope names from a list (an array, or a comma/space-separated string), de-duplicated in SCOPES order; an unknown name throws. */
export function parseScopes(list: string | readonly unknown[]): Scope[] {
  const names = typeof list === "string" ? list.split(/[\s,]+/).filter(Boolean) : list;
  for (const n of names) if (!isScope(n)) throw new InvalidScope(`unknown scope ${JSON.stringify(String(n).slice(0, 64))}: scopes are ${SCOPES.join(", ")}`);
  return SCOPES.filter((s) => names.includes(s));
}
