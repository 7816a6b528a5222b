// API keys (/keys, the admin scope): the list (never a secret), create with a name, scopes and an expiry (the key is
// shown once), rotate (a new secret; the old one works for the grace period), revoke.
import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import { useResource } from "./resource.ts";

interface KeyRecord {
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  rotated_at: string | null;
  previous_valid_until: string | null;
}

const SCOPES = ["read", "call", "admin", "ota"];
const when = (iso: string | null, none: string) => (iso ? new Date(iso).toLocaleString() : none);

export function KeysPage() {
  const keys = useResource<KeyRecord[]>("/keys");
  const [form, setForm] = useState({ name: "", scopes: ["read"], expires: "" });
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const [note, setNote] = useState("");
  const done = (made: KeyRecord & { key?: string }) => {
    if (made.key) setSecret({ name: made.name, key: made.key });
    setNote("");
    keys.reload();
  };
  const failed = (err: Error) => setNote(err.message);
  const create = (e: Event) => {
    e.preventDefault();
    const json: Record<string, unknown> = { scopes: form.scopes };
    if (form.name) json.name = form.name;
    if (form.expires) json.expires_at = new Date(form.expires).toISOString(); // datetime-local is the browser's zone
    api("/keys", { method: "POST", json }).then((k) => (done(k), setForm({ ...form, name: "" })), failed);
  };
  const act = (k: KeyRecord, how: "revoke" | "rotate") => {
    if (how === "revoke" && !confirm(`Revoke ${k.name}? Callers using it are refused at once.`)) return;
    const path = `/keys/${encodeURIComponent(k.id)}`;
    (how === "revoke" ? api(path, { method: "DELETE" }) : api(`${path}/rotate`, { method: "POST" })).then(done, failed);
  };
  const toggle = (s: string) => setForm({ ...form, scopes: form.scopes.includes(s) ? form.scopes.filter((x) => x !== s) : [...form.scopes, s] });
  return html`
    <section>
      <h1>API keys</h1>
      <form class="card inline key-form" onSubmit=${create}>
        <label>Name <input name="name" value=${form.name} pattern="[A-Za-z0-9._\\-]{1,64}" placeholder="ci-deploy" onInput=${(e: any) => setForm({ ...form, name: e.currentTarget.value })} /></label>
        <fieldset class="scopes"><legend>Scopes</legend>
          ${SCOPES.map((s) => html`<label class="check"><input type="checkbox" name="scope" value=${s} checked=${form.scopes.includes(s)} onChange=${() => toggle(s)} /> ${s}</label>`)}
        </fieldset>
        <label>Expires <input name="expires" type="datetime-local" value=${form.expires} onInput=${(e: any) => setForm({ ...form, expires: e.currentTarget.value })} /></label>
        <button type="submit">Create</button>
        ${
          secret &&
          html`<p role="status" class="new-key">Key <strong>${secret.name}</strong>, shown this once: <code class="secret">${secret.key}</code>
            <button type="button" class="link" onClick=${() => setSecret(null)}>Hide</button></p>`
        }
        ${note && html`<p class="error" role="alert">${note}</p>`}
      </form>
      ${keys.error && html`<p class="error" role="alert">${keys.error}</p>`}
      <table class="devices">
        <thead><tr><th>Name</th><th>Id</th><th>Scopes</th><th>Created</th><th>Expires</th><th>State</th><th></th></tr></thead>
        <tbody>
          ${(keys.data ?? []).map(
            (k) => html`<tr data-key=${k.name} data-key-state=${k.revoked_at ? "revoked" : "active"}>
              <td data-label="Name">${k.name}</td>
              <td data-label="Id"><code>${k.id}</code></td>
              <td data-label="Scopes">${k.scopes.map((s) => html`<span class="tag">${s}</span>`)}</td>
              <td data-label="Created">${when(k.created_at, "")}</td>
              <td data-label="Expires">${when(k.expires_at, "never")}</td>
              <td data-label="State">${
                k.revoked_at
                  ? `revoked ${when(k.revoked_at, "")}`
                  : k.previous_valid_until && Date.parse(k.previous_valid_until) > Date.now()
                    ? `rotated; old secret until ${when(k.previous_valid_until, "")}`
                    : "active"
              }</td>
              <td data-label="">${
                !k.revoked_at &&
                html`<button type="button" class="link rotate" onClick=${() => act(k, "rotate")}>Rotate</button><button type="button" class="link revoke" onClick=${() => act(k, "revoke")}>Revoke</button>`
              }</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>
  `;
}
