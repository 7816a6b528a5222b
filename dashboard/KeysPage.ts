// API keys (the API-keys branch's /keys, admin scope): list, create (the key is shown once), revoke.
import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import type { PageEntry } from "./pages.ts";
import { Pending } from "./Pending.ts";
import { useResource } from "./resource.ts";

interface KeyRecord {
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export function KeysPage({ page }: { page: PageEntry }) {
  const keys = useResource<KeyRecord[]>("/keys");
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState("read");
  const [shown, setShown] = useState("");
  const [note, setNote] = useState("");
  if (keys.missing) return html`<${Pending} page=${page} />`;
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const made = await api<{ key: string }>("/keys", { method: "POST", json: { name: name || undefined, scopes: scopes.split(/[\s,]+/).filter(Boolean) } });
      setShown(made.key);
      setNote("");
      setName("");
      keys.reload();
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  const revoke = (k: KeyRecord) => api(`/keys/${encodeURIComponent(k.id)}`, { method: "DELETE" }).then(keys.reload, (err) => setNote(err.message));
  return html`
    <section>
      <h1>API keys</h1>
      <form class="card inline" onSubmit=${create}>
        <label>Name <input name="name" value=${name} onInput=${(e: any) => setName(e.currentTarget.value)} /></label>
        <label>Scopes <input name="scopes" value=${scopes} onInput=${(e: any) => setScopes(e.currentTarget.value)} placeholder="read call admin ota" /></label>
        <button type="submit">Create</button>
        ${shown && html`<p role="status">New key, shown this once: <code class="secret">${shown}</code></p>`}
        ${note && html`<p class="error" role="alert">${note}</p>`}
      </form>
      ${keys.error && html`<p class="error">${keys.error}</p>`}
      <table class="devices">
        <thead><tr><th>Name</th><th>Id</th><th>Scopes</th><th>Created</th><th>Expires</th><th></th></tr></thead>
        <tbody>
          ${(keys.data ?? []).map(
            (k) => html`<tr>
              <td data-label="Name">${k.name}</td>
              <td data-label="Id"><code>${k.id}</code></td>
              <td data-label="Scopes">${k.scopes.map((s) => html`<span class="tag">${s}</span>`)}</td>
              <td data-label="Created">${new Date(k.created_at).toLocaleString()}</td>
              <td data-label="Expires">${k.expires_at ? new Date(k.expires_at).toLocaleString() : "never"}</td>
              <td>${k.revoked_at ? "revoked" : html`<button class="link" onClick=${() => revoke(k)}>Revoke</button>`}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>
  `;
}
