// A device's finished updates, newest first (GET /devices/:id/updates); read again when an update ends (`revision`).
import { useEffect } from "preact/hooks";
import { html } from "./html.ts";
import { useResource } from "./resource.ts";

interface Entry {
  release: string;
  version: number;
  outcome: string;
  reason: string | null;
  started_at: string;
  ended_at: string;
}

export function UpdateHistory({ deviceId, revision }: { deviceId: string; revision: number }) {
  const history = useResource<Entry[]>(`/devices/${encodeURIComponent(deviceId)}/updates`);
  useEffect(() => history.reload(), [revision]);
  return html`
    <div class="card history">
      <h2>Update history</h2>
      ${history.error && html`<p class="error">${history.error}</p>`}
      ${history.data?.length === 0 && html`<p class="hint">Never updated.</p>`}
      ${
        history.data?.length
          ? html`<table class="devices">
              <thead><tr><th>Ended</th><th>Version</th><th>Release</th><th>Outcome</th></tr></thead>
              <tbody>${history.data.map(
                (h) => html`<tr data-history=${h.release}>
                  <td data-label="Ended">${new Date(h.ended_at).toLocaleString()}</td>
                  <td data-label="Version">${h.version}</td>
                  <td data-label="Release"><code>${h.release}</code></td>
                  <td data-label="Outcome"><span class=${h.outcome === "succeeded" ? "badge online" : "badge suspect"}>${h.outcome}</span>${h.reason ? ` ${h.reason}` : ""}</td>
                </tr>`,
              )}</tbody>
            </table>`
          : null
      }
    </div>
  `;
}
