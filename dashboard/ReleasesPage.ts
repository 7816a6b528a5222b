// Firmware releases (the OTA branch's /releases, ota scope): list, and upload a signed one (module, manifest and
// signature files from `outpost release create`), sent as base64 in one JSON body.
import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import type { PageEntry } from "./pages.ts";
import { Pending } from "./Pending.ts";
import { useResource } from "./resource.ts";

export interface Release {
  id: string;
  version: number;
  label?: string | null;
  size: number;
  sha256: string;
  key_id?: string | null;
  created_at: string;
}

async function base64Of(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function ReleasesPage({ page }: { page: PageEntry }) {
  const releases = useResource<Release[]>("/releases");
  const [note, setNote] = useState("");
  if (releases.missing) return html`<${Pending} page=${page} />`;
  const upload = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const file = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).files?.[0];
    const [module, manifest, signature] = [file("module"), file("manifest"), file("signature")];
    if (!module || !manifest || !signature) return setNote("choose the module, its manifest and its signature");
    try {
      const made = await api<Release>("/releases", {
        method: "POST",
        json: { module: await base64Of(module), manifest: await base64Of(manifest), signature: await base64Of(signature) },
      });
      setNote(`uploaded ${made.id}`);
      form.reset();
      releases.reload();
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  return html`
    <section>
      <h1>Releases</h1>
      <form class="card inline" onSubmit=${upload}>
        <label>Module <input type="file" name="module" accept=".wasm" /></label>
        <label>Manifest <input type="file" name="manifest" accept=".json" /></label>
        <label>Signature <input type="file" name="signature" accept=".sig" /></label>
        <button type="submit">Upload</button>
        ${note && html`<p role="status">${note}</p>`}
      </form>
      ${releases.error && html`<p class="error">${releases.error}</p>`}
      <table class="devices">
        <thead><tr><th>Release</th><th>Version</th><th>Label</th><th>Size</th><th>Signed by</th><th>Created</th></tr></thead>
        <tbody>
          ${(releases.data ?? []).map(
            (r) => html`<tr>
              <td data-label="Release"><code>${r.id}</code></td>
              <td data-label="Version">${r.version}</td>
              <td data-label="Label">${r.label ?? ""}</td>
              <td data-label="Size">${r.size} B</td>
              <td data-label="Signed by">${r.key_id ? html`<code>${r.key_id}</code>` : "not checked"}</td>
              <td data-label="Created">${new Date(r.created_at).toLocaleString()}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>
  `;
}
