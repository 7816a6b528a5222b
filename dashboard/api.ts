// The dashboard's calls to the backend: same origin, the session cookie carried by the browser (httpOnly: this
// code never sees it). Every answer is parsed JSON; a non-2xx answer throws ApiError with the backend's error body.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: string; message?: string; field?: string; [k: string]: unknown },
  ) {
    super(body.message ?? `HTTP ${status}`);
  }
}

/** Dispatched on window when the API answers 401: the session is gone. */
export const SIGNED_OUT = "outpost:signed-out";

export async function api<T = any>(path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(`/api/v1${path}`, { method: init.method ?? "GET", headers, body, credentials: "same-origin" });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = { message: text };
  }
  // The session ended (expired, signed out elsewhere, key removed): back to the sign-in form.
  if (res.status === 401 && path !== "/session") dispatchEvent(new Event(SIGNED_OUT));
  if (!res.ok) throw new ApiError(res.status, parsed ?? {});
  return parsed as T;
}

export interface DeviceView {
  id: string;
  online: boolean;
  suspect: boolean;
  transport: string | null;
  last_seen: string | null;
  connected_since: string | null;
  metadata: Record<string, unknown>;
  tags: string[];
  /** The module as the last update left it (null: never updated). */
  app: { version: number | null; previous: number | null; state: string | null } | null;
  limits: Record<string, number | null>;
}

export interface MethodInfo {
  name: string;
  description: string;
  params: Record<string, any>;
}

/** A method call: the device's JSON-RPC response (result or error), or an ApiError (not delivered, bad params...). */
export function callMethod(
  id: string,
  method: string,
  params: unknown,
): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }> {
  const path = `/devices/${encodeURIComponent(id)}/rpc/${encodeURIComponent(method)}`;
  return api(path, { method: "POST", json: params });
}

export const signIn = (key: string) => api("/session", { method: "POST", headers: { authorization: `Bearer ${key}` } });
export const signOut = () => api("/session", { method: "DELETE" });
export const whoAmI = () => api<{ key_id: string; expires_at: string | null }>("/session");
