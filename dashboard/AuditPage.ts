// The audit log (the API-keys branch's GET /audit, admin scope): newest first, filtered, paged by cursor.
import { useState } from "preact/hooks";
import { html } from "./html.ts";
import type { PageEntry } from "./pages.ts";
import { Pending } from "./Pending.ts";
import { useResource } from "./resource.ts";

interface AuditRecord {
  at?: string | number;
  kind: string;
  actor: string | null;
  device: string | null;
  method: string | null;
  status: number | null;
  outcome: string | null;
}

export function AuditPage({ page }: { page: PageEntry }) {
  const [filter, setFilter] = useState({ device: "", kind: "", cursor: "" });
  const query = new URLSearchParams(Object.entries({ ...filter, limit: "100" }).filter(([, v]) => v !== "")).toString();
  const log = useResource<{ records: AuditRecord[]; next_cursor: string | number | null }>(`/audit?${query}`);
  if (log.missing) return html`<${Pending} page=${page} />`;
  const set = (k: "device" | "kind") => (e: any) => setFilter({ ...filter, [k]: e.currentTarget.value, cursor: "" });
  return html`
    <section>
      <div class="bar">
        <h1>Audit log</h1>
        <input type="search" placeholder="device" aria-label="device" value=${filter.device} onChange=${set("device")} />
        <select aria-label="kind" value=${filter.kind} onChange=${set("kind")}>
          ${["", "call", "change", "refused", "connect", "disconnect", "login_refused"].map((k) => html`<option value=${k}>${k || "every kind"}</option>`)}
        </select>
      </div>
      ${log.error && html`<p class="error">${log.error}</p>`}
      <table class="devices">
        <thead><tr><th>When</th><th>Kind</th><th>Actor</th><th>Device</th><th>Method</th><th>Outcome</th></tr></thead>
        <tbody>
          ${(log.data?.records ?? []).map(
            (r) => html`<tr>
              <td data-label="When">${r.at ? new Date(r.at).toLocaleString() : ""}</td>
              <td data-label="Kind">${r.kind}</td>
              <td data-label="Actor">${r.actor ?? ""}</td>
              <td data-label="Device">${r.device ?? ""}</td>
              <td data-label="Method">${r.method ?? ""}</td>
              <td data-label="Outcome">${r.status ?? ""} ${r.outcome ?? ""}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${log.data?.next_cursor != null && html`<button onClick=${() => setFilter({ ...filter, cursor: String(log.data!.next_cursor) })}>Older</button>`}
    </section>
  `;
}
