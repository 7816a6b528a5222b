// Module releases (GET/POST /releases, the ota scope): the list with each one's signature state, and an upload of
// the three files `outpost release create` writes (module, manifest, signature), sent as base64 in one JSON body.
import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import { useResource } from "./resource.ts";

export interface Release {
  id: string;
  version: number;
  label: string | null;
  size: number;
  sha256: string;
  abi: number;
  /** The backend's release key that verified the signature; null: the backend has no release key (not checked). */
  key_id: string | null;
  created_at: string;
}

async function base64Of(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export const signatureState = (r: Release) =>
  r.key_id
    ? html`<span class="badge online" data-signature="verified">verified</span> <code>${r.key_id}</code>`
    : html`<span class="badge suspect" data-signature="unchecked" title="start the backend with --release-key to verify uploads">not checked</span>`;

export function ReleasesPage() {
  const releases = useResource<Release[]>("/releases");
  const [note, setNote] = useState({ text: "", bad: false });
  const upload = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const file = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).files?.[0];
    const [module, manifest, signature] = [file("module"), file("manifest"), file("signature")];
    if (!module || !manifest || !signature) return setNote({ text: "choose the module, its manifest and its signature", bad: true });
    try {
      const made = await api<Release>("/releases", {
        method: "POST",
        json: { module: await base64Of(module), manifest: await base64Of(manifest), signature: await base64Of(signature) },
      });
      setNote({ text: `uploaded ${made.id}`, bad: false });
      form.reset();
      releases.reload();
    } catch (err) {
      setNote({ text: (err as Error).message, bad: true });
    }
  };
  return html`
    <section>
      <h1>Releases</h1>
      <form class="card inline upload" onSubmit=${upload}>
        <label>Module <input type="file" name="module" accept=".wasm" /></label>
        <label>Manifest <input type="file" name="manifest" /></label>
        <label>Signature <input type="file" name="signature" /></label>
        <button type="submit">Upload</button>
        ${note.text && html`<p class=${note.bad ? "error" : "hint"} role="status">${note.text}</p>`}
      </form>
      ${releases.error && html`<p class="error" role="alert">${releases.error}</p>`}
      <table class="devices">
        <thead><tr><th>Release</th><th>Version</th><th>Label</th><th>Size</th><th>Signature</th><th>Uploaded</th></tr></thead>
        <tbody>
          ${(releases.data ?? []).map(
            (r) => html`<tr data-release=${r.id}>
              <td data-label="Release"><code>${r.id}</code></td>
              <td data-label="Version">${r.version}</td>
              <td data-label="Label">${r.label ?? ""}</td>
              <td data-label="Size">${r.size.toLocaleString()} B</td>
              <td data-label="Signature">${signatureState(r)}</td>
              <td data-label="Uploaded">${new Date(r.created_at).toLocaleString()}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${releases.data?.length === 0 && html`<p class="hint">No releases yet: <code>outpost release create --module M --version N --signing-key-file K --upload</code>, or upload its files here.</p>`}
    </section>
  `;
}
