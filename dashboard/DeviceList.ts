// The fleet: every device with its live state (presence events), tags, version, and a search over them all.
import { useEffect, useState } from "preact/hooks";
import { api, type DeviceView } from "./api.ts";
import { html } from "./html.ts";
import { useEvents } from "./live.ts";
import { OnlineBadge } from "./OnlineBadge.ts";
import { href } from "./router.ts";

export const tagsOf = (d: DeviceView): string[] => d.tags ?? [];

/** The module version: the device view's `app.version` (OTA), else what its telemetry (sys.info) said, else metadata's. */
const versionOf = (d: DeviceView, seen: Record<string, string>) =>
  (d.app?.version != null ? String(d.app.version) : undefined) ?? seen[d.id] ?? (d.metadata?.version as string) ?? "";

export function DeviceList() {
  const [devices, setDevices] = useState<DeviceView[] | null>(null);
  const [versions, setVersions] = useState<Record<string, string>>({});
  const [query, setQuery] = useState("");
  const [error, setError] = useState("");
  const load = () =>
    api<DeviceView[]>("/devices").then(
      (list) => (setDevices(list), setError("")),
      (err) => setError(err.message),
    );
  useEffect(() => {
    void load();
    api<Record<string, { data: { version?: unknown } }>>("/telemetry/latest").then(
      (latest) => setVersions(Object.fromEntries(Object.entries(latest).flatMap(([id, s]) => (s.data?.version != null ? [[id, String(s.data.version)]] : [])))),
      () => {},
    );
  }, []);
  // Presence and version changes only: every device's telemetry would be too much for a fleet-wide page.
  useEvents(
    "?types=presence,version",
    {
      presence: (e) =>
        setDevices((list) => {
          if (!list) return list;
          if (!list.some((d) => d.id === e.device)) void load(); // a device created since the list was read
          return list.map((d) => (d.id === e.device ? { ...d, online: e.online, transport: e.transport ?? d.transport, suspect: false } : d));
        }),
      version: (e) => setVersions((v) => ({ ...v, [e.device]: String(e.version) })),
    },
    load,
  );
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = (devices ?? []).filter((d) => {
    const text = [d.id, d.online ? "online" : "offline", versionOf(d, versions), ...tagsOf(d), JSON.stringify(d.metadata)].join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  const online = (devices ?? []).filter((d) => d.online).length;
  return html`
    <section>
      <div class="bar">
        <h1>Devices <small>${devices ? `${online} of ${devices.length} online` : ""}</small></h1>
        <input type="search" class="search" placeholder="Search id, tag, version, metadata" aria-label="search devices" value=${query} onInput=${(e: any) => setQuery(e.currentTarget.value)} />
      </div>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <table class="devices">
        <thead><tr><th>Device</th><th>State</th><th>Tags</th><th>Version</th><th>Transport</th><th>Last seen</th></tr></thead>
        <tbody>
          ${shown.map(
            (d) => html`<tr data-device=${d.id}>
              <td data-label="Device"><a href=${href("devices", d.id)}>${d.id}</a></td>
              <td data-label="State"><${OnlineBadge} online=${d.online} suspect=${d.suspect} /></td>
              <td data-label="Tags">${tagsOf(d).map((t) => html`<span class="tag">${t}</span>`)}</td>
              <td data-label="Version">${versionOf(d, versions)}</td>
              <td data-label="Transport">${d.transport ?? ""}</td>
              <td data-label="Last seen">${d.last_seen ? new Date(d.last_seen).toLocaleString() : "never"}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${devices && shown.length === 0 && html`<p class="hint">${devices.length ? "No device matches." : "No devices yet: outpost device create <id>"}</p>`}
    </section>
  `;
}
