// Fleet jobs (the fleet-jobs branch's /jobs): create an RPC job for tagged devices, watch each job's progress bar
// (polled while one runs), open its per-device outcomes, cancel it.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import type { PageEntry } from "./pages.ts";
import { Pending } from "./Pending.ts";
import { useResource } from "./resource.ts";

interface Job {
  id: string;
  state: string;
  counts: Record<string, number> & { total: number };
  spec?: { description?: string; rpc?: { method: string }; rollout?: { release: string } };
  reason?: string | null;
}
interface Execution {
  device: string;
  state: string;
  attempts: number;
  reason: string | null;
  result?: unknown;
}

const FINAL_STATES = ["succeeded", "failed", "timed_out", "rejected", "rolled_back", "cancelled"];
const jobsOf = (answer: unknown): Job[] => (Array.isArray(answer) ? answer : ((answer as { jobs?: Job[] })?.jobs ?? []));

function Executions({ jobId }: { jobId: string }) {
  const list = useResource<unknown>(`/jobs/${encodeURIComponent(jobId)}/executions?limit=100`);
  const rows: Execution[] = Array.isArray(list.data) ? list.data : ((list.data as { executions?: Execution[] })?.executions ?? []);
  return html`<table class="devices">
    <thead><tr><th>Device</th><th>State</th><th>Attempts</th><th>Reason</th></tr></thead>
    <tbody>${rows.map((e) => html`<tr><td data-label="Device">${e.device}</td><td data-label="State">${e.state}</td><td data-label="Attempts">${e.attempts}</td><td data-label="Reason">${e.reason ?? ""}</td></tr>`)}</tbody>
  </table>`;
}

export function JobsPage({ page }: { page: PageEntry }) {
  const jobs = useResource<unknown>("/jobs");
  const [form, setForm] = useState({ tags: "", method: "", params: "", max: "" });
  const [open, setOpen] = useState("");
  const [note, setNote] = useState("");
  const list = jobsOf(jobs.data);
  const running = list.some((j) => j.state === "in_progress");
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(jobs.reload, 1000);
    return () => clearInterval(timer);
  }, [running]);
  if (jobs.missing) return html`<${Pending} page=${page} />`;
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const body: Record<string, unknown> = {
        selector: { tags: form.tags.split(/[\s,]+/).filter(Boolean) },
        rpc: form.params ? { method: form.method, params: JSON.parse(form.params) } : { method: form.method },
      };
      if (form.max) body.rate = { max_per_minute: Number(form.max) };
      await api("/jobs", { method: "POST", json: body });
      setNote("");
      jobs.reload();
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  const cancel = (j: Job) => api(`/jobs/${encodeURIComponent(j.id)}/cancel`, { method: "POST" }).then(jobs.reload, (err) => setNote(err.message));
  const set = (k: keyof typeof form) => (e: any) => setForm({ ...form, [k]: e.currentTarget.value });
  return html`
    <section>
      <h1>Jobs</h1>
      <form class="card inline" onSubmit=${create}>
        <label>Tags <input name="tags" value=${form.tags} onInput=${set("tags")} placeholder="pump building-4" required /></label>
        <label>Method <input name="method" value=${form.method} onInput=${set("method")} placeholder="pump.stop" required /></label>
        <label>Params (JSON) <input name="params" value=${form.params} onInput=${set("params")} placeholder='{"drain": true}' /></label>
        <label>Per minute <input name="max" type="number" min="1" value=${form.max} onInput=${set("max")} /></label>
        <button type="submit">Create job</button>
        ${note && html`<p class="error" role="alert">${note}</p>`}
      </form>
      ${jobs.error && html`<p class="error">${jobs.error}</p>`}
      ${list.map((j) => {
        const done = FINAL_STATES.reduce((n, s) => n + (j.counts?.[s] ?? 0), 0);
        return html`<div class="card job" data-job=${j.id}>
          <div class="bar">
            <h3>${j.spec?.description || j.spec?.rpc?.method || j.spec?.rollout?.release || j.id} <small>${j.state}${j.reason ? `: ${j.reason}` : ""}</small></h3>
            ${j.state === "in_progress" && html`<button class="link" onClick=${() => cancel(j)}>Cancel</button>`}
          </div>
          <progress max=${j.counts?.total || 1} value=${done}></progress>
          <p class="hint">${Object.entries(j.counts ?? {})
            .filter(([k, n]) => k !== "total" && n > 0)
            .map(([k, n]) => `${k} ${n}`)
            .join(" · ")} (of ${j.counts?.total ?? 0})</p>
          <button class="link" onClick=${() => setOpen(open === j.id ? "" : j.id)}>${open === j.id ? "Hide devices" : "Devices"}</button>
          ${open === j.id && html`<${Executions} jobId=${j.id} />`}
        </div>`;
      })}
    </section>
  `;
}
