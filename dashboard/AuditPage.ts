// The audit log (GET /audit, the admin scope): newest first, filtered by device, actor, kind and time, paged by
// cursor (Older walks back; Newest returns to the first page).
import { useState } from "preact/hooks";
import { html } from "./html.ts";
import { useResource } from "./resource.ts";

interface AuditRecord {
  id: number;
  at: string;
  kind: string;
  actor: string | null;
  actor_kind: string | null;
  device: string | null;
  method: string | null;
  status: number | null;
  outcome: string;
  peer: string | null;
}

const KINDS = ["call", "change", "refused", "connect", "disconnect", "login_refused"];
const PAGE = 50;

export function AuditPage() {
  const [filter, setFilter] = useState({ device: "", actor: "", kind: "", since: "" });
  /** The cursors of the pages walked back through (empty: the newest page). */
  const [cursors, setCursors] = useState<string[]>([]);
  const query = { ...filter, since: filter.since && new Date(filter.since).toISOString(), cursor: cursors.at(-1) ?? "", limit: String(PAGE) };
  const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "")).toString();
  const log = useResource<{ records: AuditRecord[]; next_cursor: number | null }>(`/audit?${qs}`);
  const set = (k: keyof typeof filter) => (e: any) => (setFilter({ ...filter, [k]: e.currentTarget.value }), setCursors([]));
  return html`
    <section>
      <div class="bar">
        <h1>Audit log</h1>
        <button type="button" class="link" onClick=${log.reload}>Refresh</button>
      </div>
      <form class="card inline audit-filter" onSubmit=${(e: Event) => e.preventDefault()}>
        <label>Device <input type="search" name="device" value=${filter.device} onChange=${set("device")} /></label>
        <label>Actor <input type="search" name="actor" value=${filter.actor} onChange=${set("actor")} /></label>
        <label>Kind <select name="kind" value=${filter.kind} onChange=${set("kind")}>
          ${["", ...KINDS].map((k) => html`<option value=${k}>${k || "every kind"}</option>`)}
        </select></label>
        <label>Since <input type="datetime-local" name="since" value=${filter.since} onChange=${set("since")} /></label>
      </form>
      ${log.error && html`<p class="error" role="alert">${log.error}</p>`}
      <table class="devices audit">
        <thead><tr><th>When</th><th>Kind</th><th>Actor</th><th>Device</th><th>Method</th><th>Outcome</th><th>Peer</th></tr></thead>
        <tbody>
          ${(log.data?.records ?? []).map(
            (r) => html`<tr data-audit=${r.id} data-kind=${r.kind}>
              <td data-label="When">${new Date(r.at).toLocaleString()}</td>
              <td data-label="Kind">${r.kind}</td>
              <td data-label="Actor">${r.actor ?? ""}${r.actor_kind ? html` <small class="hint">${r.actor_kind}</small>` : ""}</td>
              <td data-label="Device">${r.device ?? ""}</td>
              <td data-label="Method"><code>${r.method ?? ""}</code></td>
              <td data-label="Outcome">${r.status ?? ""} ${r.outcome}</td>
              <td data-label="Peer">${r.peer ?? ""}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${log.data?.records.length === 0 && html`<p class="hint">Nothing recorded${qs.includes("=") ? " that matches" : ""}.</p>`}
      <div class="bar pager">
        <button type="button" class="link newest" disabled=${cursors.length === 0} onClick=${() => setCursors([])}>Newest</button>
        <span class="hint">page ${cursors.length + 1}</span>
        <button type="button" class="link older" disabled=${log.data?.next_cursor == null} onClick=${() => setCursors([...cursors, String(log.data!.next_cursor)])}>Older</button>
      </div>
    </section>
  `;
}
