// One device: its state, sys.info, tags and metadata, its update and update history, a form per method (rpc.list),
// and its telemetry over the last hour.
import { useEffect, useState } from "preact/hooks";
import { api, callMethod, type DeviceView, type MethodInfo } from "./api.ts";
import { tagsOf } from "./DeviceList.ts";
import { html } from "./html.ts";
import { useEvents } from "./live.ts";
import { MetadataEditor } from "./MetadataEditor.ts";
import { MethodForm } from "./MethodForm.ts";
import { OnlineBadge } from "./OnlineBadge.ts";
import { href } from "./router.ts";
import { TelemetryChart, type Sample } from "./TelemetryChart.ts";
import { UpdateHistory } from "./UpdateHistory.ts";
import { UpdatePanel } from "./UpdatePanel.ts";

/** Samples kept on the page: an hour at one a second. */
const MAX_SAMPLES = 3600;

export function DevicePage({ id }: { id: string }) {
  const [device, setDevice] = useState<DeviceView | null>(null);
  const [info, setInfo] = useState<Record<string, unknown> | null>(null);
  const [methods, setMethods] = useState<MethodInfo[]>([]);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState("");
  /** Counts finished updates: the history is read again at each. */
  const [updates, setUpdates] = useState(0);
  const path = `/devices/${encodeURIComponent(id)}`;

  const ask = () => {
    callMethod(id, "sys.info", undefined).then(
      (r) => setInfo((r.result as Record<string, unknown>) ?? null),
      () => {},
    );
    callMethod(id, "rpc.list", undefined).then(
      (r) => Array.isArray(r.result) && setMethods(r.result as MethodInfo[]),
      () => {},
    );
  };
  const load = () => {
    api<DeviceView>(path).then(
      (d) => {
        setDevice(d);
        setError("");
        if (d.online) ask();
      },
      (err) => setError(err.message),
    );
    api<{ samples: Sample[] }>(`${path}/telemetry`).then(
      (t) => setSamples(t.samples),
      () => {},
    );
  };
  useEffect(load, [id]);
  useEvents(
    `?device=${encodeURIComponent(id)}`,
    {
      presence: (e) => {
        setDevice((d) => d && { ...d, online: e.online, transport: e.transport ?? d.transport, suspect: false });
        if (e.online) ask();
      },
      telemetry: (e) => setSamples((list) => [...list.slice(-(MAX_SAMPLES - 1)), { at: e.at, data: e.data }]),
    },
    load,
  );

  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!device) return html`<p class="hint">Loading…</p>`;
  return html`
    <section class="device" data-device=${id}>
      <div class="bar">
        <h1><a href=${href("devices")}>Devices</a> / ${id}</h1>
        <${OnlineBadge} online=${device.online} suspect=${device.suspect} />
      </div>
      <div class="grid">
        <div class="card info">
          <h2>Info</h2>
          <dl>
            <dt>Transport</dt><dd>${device.transport ?? "—"}</dd>
            <dt>Connected since</dt><dd>${device.connected_since ? new Date(device.connected_since).toLocaleString() : "—"}</dd>
            <dt>Last seen</dt><dd>${device.last_seen ? new Date(device.last_seen).toLocaleString() : "never"}</dd>
            <dt>Module version</dt><dd data-app-version>${device.app?.version ?? "—"}${device.app?.previous != null ? html` <small class="hint">(was ${device.app.previous})</small>` : ""}</dd>
            <dt>Tags</dt><dd>${tagsOf(device).map((t) => html`<span class="tag">${t}</span>`)}</dd>
            ${info && Object.entries(info).map(([k, v]) => html`<dt>${k}</dt><dd data-info=${k}>${typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>`)}
          </dl>
          ${!info && html`<p class="hint">${device.online ? "Asking sys.info…" : "sys.info when the device is online."}</p>`}
        </div>
        <${MetadataEditor} deviceId=${id} metadata=${device.metadata} tags=${tagsOf(device)} onSaved=${load} />
      </div>
      <div class="grid">
        <${UpdatePanel} deviceId=${id} online=${device.online} onFinished=${() => (load(), setUpdates((n) => n + 1))} />
        <${UpdateHistory} deviceId=${id} revision=${updates} />
      </div>
      <div class="card">
        <h2>Telemetry, last hour</h2>
        <${TelemetryChart} samples=${samples} />
      </div>
      <h2>Methods</h2>
      ${methods.length === 0 && html`<p class="hint">${device.online ? "Asking rpc.list…" : "The methods show when the device is online."}</p>`}
      <div class="methods">${methods.map((m) => html`<${MethodForm} key=${m.name} deviceId=${id} method=${m} disabled=${!device.online} />`)}</div>
    </section>
  `;
}
