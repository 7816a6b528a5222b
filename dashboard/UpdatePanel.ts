// One device's update (the OTA branch's POST/GET /devices/:id/update): pick a release, start, watch the bar. The
// device's own event stream carries each state change (`event: ota`); hidden on a backend without releases.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import type { Release } from "./ReleasesPage.ts";
import { useResource } from "./resource.ts";

interface Update {
  release: string;
  state: string;
  bytes_sent: number;
  total: number;
  outcome: string | null;
  reason: string | null;
}

const FINAL = new Set(["succeeded", "failed", "rejected", "rolled_back", "timed_out"]);

export function UpdatePanel({ deviceId, online }: { deviceId: string; online: boolean }) {
  const releases = useResource<Release[]>("/releases");
  const path = `/devices/${encodeURIComponent(deviceId)}/update`;
  const [update, setUpdate] = useState<Update | null>(null);
  const [choice, setChoice] = useState("");
  const [note, setNote] = useState("");
  const available = releases.data !== undefined;
  useEffect(() => {
    if (!available) return; // a backend without OTA: no second stream
    api<Update>(path).then(setUpdate, () => {});
    const source = new EventSource(`/api/v1/devices/${encodeURIComponent(deviceId)}/events`);
    source.addEventListener("ota", (e) => setUpdate(JSON.parse((e as MessageEvent).data)));
    return () => source.close();
  }, [deviceId, available]);
  if (releases.missing || !releases.data) return null;
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
  const running = update && !FINAL.has(update.state);
  return html`
    <form class="card update" onSubmit=${start}>
      <h2>Update</h2>
      <label>Release <select value=${choice} onChange=${(e: any) => setChoice(e.currentTarget.value)}>
        ${releases.data.map((r) => html`<option value=${r.id}>${r.label ?? r.id} (v${r.version})</option>`)}
      </select></label>
      <button type="submit" disabled=${!online || running || releases.data.length === 0}>Update</button>
      ${
        update &&
        html`<p>${update.release}: <strong data-update-state=${update.state}>${update.state}</strong>${update.reason ? ` (${update.reason})` : ""}</p>
        <progress max=${update.total || 1} value=${update.state === "succeeded" ? update.total || 1 : update.bytes_sent}></progress>`
      }
      ${note && html`<p class="error" role="alert">${note}</p>`}
    </form>
  `;
}
