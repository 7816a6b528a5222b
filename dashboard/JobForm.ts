// A new job: the devices by tags, then one RPC (method + params) or a rollout of a release, and a rate limit.
// RPC jobs go to POST /jobs (the call scope), rollouts to POST /jobs/rollouts (the ota scope).
import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import type { Release } from "./ReleasesPage.ts";
import { useResource } from "./resource.ts";

export function JobForm({ onCreated }: { onCreated: () => void }) {
  const [form, setForm] = useState({ kind: "rpc", tags: "", method: "", params: "", release: "", max: "" });
  const [note, setNote] = useState("");
  const releases = useResource<Release[]>("/releases");
  const set = (k: keyof typeof form) => (e: any) => setForm({ ...form, [k]: e.currentTarget.value });
  const create = async (e: Event) => {
    e.preventDefault();
    const body: Record<string, unknown> = { selector: { tags: form.tags.split(/[\s,]+/).filter(Boolean) } };
    try {
      if (form.kind === "rpc") body.rpc = form.params.trim() ? { method: form.method, params: JSON.parse(form.params) } : { method: form.method };
      else body.rollout = { release: form.release || releases.data?.[0]?.id };
    } catch (err) {
      return setNote(`params: not JSON (${(err as Error).message})`);
    }
    if (form.max) body.rate = { max_per_minute: Number(form.max) };
    try {
      await api(form.kind === "rpc" ? "/jobs" : "/jobs/rollouts", { method: "POST", json: body });
      setNote("");
      onCreated();
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  return html`
    <form class="card inline job-form" onSubmit=${create}>
      <label>Kind <select name="kind" value=${form.kind} onChange=${set("kind")}>
        <option value="rpc">RPC</option><option value="rollout">Rollout</option>
      </select></label>
      <label>Tags <input name="tags" value=${form.tags} onInput=${set("tags")} placeholder="pump building-4" required /></label>
      ${
        form.kind === "rpc"
          ? html`<label>Method <input name="method" value=${form.method} onInput=${set("method")} placeholder="pump.stop" required /></label>
              <label>Params (JSON) <input name="params" value=${form.params} onInput=${set("params")} placeholder='{"drain": true}' /></label>`
          : html`<label>Release <select name="release" value=${form.release || releases.data?.[0]?.id} onChange=${set("release")}>
              ${(releases.data ?? []).map((r) => html`<option value=${r.id}>v${r.version} (${r.id})</option>`)}
            </select></label>`
      }
      <label>Per minute <input name="max" type="number" min="1" value=${form.max} onInput=${set("max")} placeholder="no limit" /></label>
      <button type="submit">Create job</button>
      ${note && html`<p class="error" role="alert">${note}</p>`}
    </form>
  `;
}
