// One device's update (POST/GET /devices/:id/update, the ota scope): pick a release, start, watch the bar. Progress
// comes on the fleet event stream (`event: update` for this device: each state change, bytes at most every 200 ms).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api.ts";
import { html } from "./html.ts";
import { useEvents } from "./live.ts";
import type { Release } from "./ReleasesPage.ts";
import { useResource } from "./resource.ts";

export interface Update {
  release: string;
  version: number;
  state: string;
  bytes_sent: number;
  total: number;
  outcome: string | null;
  reason: string | null;
}

const FINAL = new Set(["succeeded", "failed", "rejected", "rolled_back", "timed_out"]);

export function UpdatePanel({ deviceId, online, onFinished }: { deviceId: string; online: boolean; onFinished: () => void }) {
  const releases = useResource<Release[]>("/releases");
  const path = `/devices/${encodeURIComponent(deviceId)}/update`;
  const [update, setUpdate] = useState<Update | null>(null);
  const [choice, setChoice] = useState("");
  const [note, setNote] = useState("");
  const load = () =>
    api<Update>(path).then(setUpdate, (err) => {
      if (!(err instanceof ApiError && err.body.error === "no_update")) setNote(err.message);
    });
  useEffect(() => void load(), [deviceId]);
  useEvents(
    `?device=${encodeURIComponent(deviceId)}&types=update`,
    {
      update: (u: Update) => {
        setUpdate(u);
        if (FINAL.has(u.state)) onFinished();
      },
    },
    load,
  );
  if (releases.error) return html`<div class="card update"><h2>Update</h2><p class="error">${releases.error}</p></div>`;
  if (!releases.data) return null;
  const start = async (e: Event) => {
    e.preventDefault();
    try {
      const res = await api<{ update: Update }>(path, { method: "POST", json: { release: choice || releases.data![0]?.id } });
      setUpdate(res.update);
      setNote("");
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  const running = update !== null && !FINAL.has(update.state);
  const done = update?.state === "succeeded" ? update.total : (update?.bytes_sent ?? 0);
  return html`
    <form class="card update" onSubmit=${start}>
      <h2>Update</h2>
      <div class="inline">
        <label>Release <select name="release" value=${choice || releases.data[0]?.id} onChange=${(e: any) => setChoice(e.currentTarget.value)}>
          ${releases.data.map((r) => html`<option value=${r.id}>v${r.version} ${r.label ?? ""} (${r.id})</option>`)}
        </select></label>
        <button type="submit" disabled=${!online || running || releases.data.length === 0}>Update</button>
      </div>
      ${releases.data.length === 0 && html`<p class="hint">No releases yet: upload one on the Releases page.</p>`}
      ${
        update &&
        html`<p>v${update.version} <code>${update.release}</code>: <strong data-update-state=${update.state}>${update.state}</strong>${
          update.reason ? ` (${update.reason})` : ""
        } <small class="hint">${done.toLocaleString()} of ${update.total.toLocaleString()} B</small></p>
        <progress max=${update.total || 1} value=${done} data-update-progress=${Math.round((100 * done) / (update.total || 1))}></progress>`
      }
      ${note && html`<p class="error" role="alert">${note}</p>`}
    </form>
  `;
}
