// A device's metadata (as JSON) and tags (words), saved with PATCH /api/v1/devices/:id (tags replaced,
// metadata as a JSON merge patch).
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";

export function MetadataEditor({
  deviceId,
  metadata,
  tags,
  onSaved,
}: {
  deviceId: string;
  metadata: Record<string, unknown>;
  tags: string[];
  onSaved: () => void;
}) {
  const [text, setText] = useState(JSON.stringify(metadata, null, 2));
  const [tagText, setTagText] = useState(tags.join(" "));
  useEffect(() => setTagText(tags.join(" ")), [tags.join(" ")]);
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
    if (!value || typeof value !== "object" || Array.isArray(value)) return setNote("metadata is a JSON object");
    try {
      // PATCH takes a JSON merge patch (RFC 7396): a member left out of the editor is sent as null, which removes it.
      const patch: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const k of Object.keys(metadata)) if (!(k in patch)) patch[k] = null;
      const change: Record<string, unknown> = { metadata: patch };
      const tagList = tagText.split(/[\s,]+/).filter(Boolean);
      if (tagList.join(" ") !== tags.join(" ")) change.tags = tagList;
      await api(`/devices/${encodeURIComponent(deviceId)}`, { method: "PATCH", json: change });
      setNote("saved");
      onSaved();
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  return html`
    <form class="card metadata" onSubmit=${save}>
      <h2>Metadata and tags</h2>
      <label>Tags <input name="tags" aria-label="tags" value=${tagText} onInput=${(e: any) => setTagText(e.currentTarget.value)} placeholder="pump building-4" /></label>
      <textarea name="metadata" rows="6" aria-label="metadata as JSON" value=${text} onInput=${(e: any) => setText(e.currentTarget.value)}></textarea>
      <button type="submit">Save</button>
      ${note && html`<p class="hint" role="status">${note}</p>`}
    </form>
  `;
}
