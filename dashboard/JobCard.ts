// One job: what it does, its state, a bar of the devices done, the counts per outcome, its devices, cancel.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.ts";
import { useResource } from "./resource.ts";

export interface Job {
  id: string;
  kind: "rpc" | "rollout";
  state: string;
  reason: string | null;
  counts: Record<string, number> & { total: number };
  in_flight: number;
  created_at: string;
  spec: { rpc?: { method: string }; rollout?: { release: string }; selector?: { tags?: string[] } };
}
interface Execution {
  device_id: string;
  state: string;
  attempts: number;
  reason: string | null;
}

const FINAL_STATES = ["succeeded", "failed", "timed_out", "rejected", "rolled_back", "cancelled"];

function Executions({ jobId, done }: { jobId: string; done: number }) {
  // Read again as devices finish (`done` changes).
  const list = useResource<Execution[]>(`/jobs/${encodeURIComponent(jobId)}/executions?limit=100`);
  useEffect(() => list.reload(), [done]);
  return html`<table class="devices executions">
    <thead><tr><th>Device</th><th>State</th><th>Attempts</th><th>Reason</th></tr></thead>
    <tbody>${(list.data ?? []).map(
      (e) => html`<tr data-execution=${e.device_id}>
        <td data-label="Device">${e.device_id}</td><td data-label="State">${e.state}</td>
        <td data-label="Attempts">${e.attempts}</td><td data-label="Reason">${e.reason ?? ""}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

export function JobCard({ job, onCancel }: { job: Job; onCancel: (j: Job) => void }) {
  const [open, setOpen] = useState(false);
  const done = FINAL_STATES.reduce((n, s) => n + (job.counts[s] ?? 0), 0);
  const what = job.spec.rpc ? job.spec.rpc.method : `rollout ${job.spec.rollout?.release ?? ""}`;
  const counts = Object.entries(job.counts).filter(([k, n]) => k !== "total" && n > 0);
  return html`<div class="card job" data-job=${job.id} data-job-state=${job.state}>
    <div class="bar">
      <h3>${what} <small>on ${(job.spec.selector?.tags ?? []).join(" ")} · ${job.state}${job.reason ? `: ${job.reason}` : ""}</small></h3>
      ${job.state === "in_progress" && html`<button type="button" class="link cancel" onClick=${() => onCancel(job)}>Cancel</button>`}
    </div>
    <progress max=${job.counts.total || 1} value=${done}></progress>
    <p class="hint counts" data-done=${done} data-total=${job.counts.total}>
      ${done} of ${job.counts.total} done${counts.length ? " · " : ""}${counts.map(([k, n]) => html`<span class="count" data-count=${k}>${k} ${n}</span> `)}
    </p>
    <button type="button" class="link" onClick=${() => setOpen(!open)}>${open ? "Hide devices" : "Devices"}</button>
    ${open && html`<${Executions} jobId=${job.id} done=${done} />`}
  </div>`;
}
