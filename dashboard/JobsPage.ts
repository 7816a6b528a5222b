// Fleet jobs (/jobs): create an RPC job or a rollout for the devices with some tags, watch each job's counts on
// the fleet event stream (`event: job`), open its per-device outcomes, cancel it.
import { useRef, useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";
import { JobCard, type Job } from "./JobCard.ts";
import { JobForm } from "./JobForm.ts";
import { useEvents } from "./live.ts";
import { useResource } from "./resource.ts";

export function JobsPage() {
  const jobs = useResource<Job[]>("/jobs?limit=50");
  const [live, setLive] = useState<Record<string, Partial<Job>>>({});
  const [note, setNote] = useState("");
  /** The jobs listed (read by the event handler, which is set up once). */
  const listed = useRef(new Set<string>());
  listed.current = new Set((jobs.data ?? []).map((j) => j.id));
  useEvents(
    "?types=job",
    {
      job: (e: { job: string } & Partial<Job>) => {
        if (!listed.current.has(e.job)) jobs.reload(); // made elsewhere (the CLI, another tab)
        setLive((l) => ({ ...l, [e.job]: { state: e.state, reason: e.reason, counts: e.counts, in_flight: e.in_flight } }));
      },
    },
    jobs.reload,
  );
  const cancel = (j: Job) =>
    api<Job>(`/jobs/${encodeURIComponent(j.id)}/cancel`, { method: "POST" }).then(
      (after) => setLive((l) => ({ ...l, [j.id]: after })),
      (err) => setNote(err.message),
    );
  return html`
    <section>
      <h1>Jobs</h1>
      <${JobForm} onCreated=${jobs.reload} />
      ${(jobs.error || note) && html`<p class="error" role="alert">${jobs.error || note}</p>`}
      ${(jobs.data ?? []).map((j) => html`<${JobCard} key=${j.id} job=${{ ...j, ...live[j.id] }} onCancel=${cancel} />`)}
      ${jobs.data?.length === 0 && html`<p class="hint">No jobs yet.</p>`}
    </section>
  `;
}
