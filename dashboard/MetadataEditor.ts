// A device's metadata (and tags) as JSON, saved with PATCH /api/v1/devices/:id (the fleet-jobs branch's route).
import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "./api.ts";
import { html } from "./html.ts";

export function MetadataEditor({ deviceId, metadata, onSaved }: { deviceId: string; metadata: Record<string, unknown>; onSaved: () => void }) {
  const [text, setText] = useState(JSON.stringify(metadata, null, 2));
  const [note, setNote] = useState("");
  useEffect(() => setText(JSON.stringify(metadata, null, 2)), [JSON.stringify(metadata)]);
  const save = async (e: Event) => {
    e.preventDefault();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return setNote(`not JSON: ${(err as Error).message}`);
    }
    try {
      await api(`/devices/${encodeURIComponent(deviceId)}`, { method: "PATCH", json: { metadata: value } });
      setNote("saved");
      onSaved();
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      setNote(status === 405 || status === 404 ? "this backend cannot edit devices yet (PATCH /devices/:id comes with fleet jobs)" : (err as Error).message);
    }
  };
  return html`
    <form class="card metadata" onSubmit=${save}>
      <h2>Metadata</h2>
      <textarea name="metadata" rows="6" aria-label="metadata as JSON" value=${text} onInput=${(e: any) => setText(e.currentTarget.value)}></textarea>
      <button type="submit">Save</button>
      ${note && html`<p class="hint" role="status">${note}</p>`}
    </form>
  `;
}
