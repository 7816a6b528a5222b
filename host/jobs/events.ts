// A job's progress for its event streams: changes are coalesced (at most one event per `everyMs` per job), each
// event carries the job's revision as its id, and the last one (the job ended) is sent at once.

export type ProgressListener = (revision: number, event: "progress" | "end", data: unknown) => void;
/** A listener to every job's progress (the fleet event stream), coalesced like the per-job ones. */
export type AnyJobListener = (jobId: string, revision: number, event: "progress" | "end", data: unknown) => void;

export class JobEvents {
  private readonly listeners = new Map<string, Set<ProgressListener>>();
  private readonly due = new Map<string, NodeJS.Timeout>();
  private readonly everyJob = new Set<AnyJobListener>();

  /** `snapshot(jobId)`: the job's view now, with its revision and whether it has ended. */
  constructor(
    private readonly snapshot: (jobId: string) => { revision: number; ended: boolean; view: unknown } | undefined,
    private readonly everyMs = 100,
  ) {}

  listen(jobId: string, l: ProgressListener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(l);
    return () => {
      set.delete(l);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  listenAll(l: AnyJobListener): () => void {
    this.everyJob.add(l);
    return () => this.everyJob.delete(l);
  }

  /** Something in the job changed; `now`: send without waiting (the job ended). */
  changed(jobId: string, now = false): void {
    if (!this.listeners.has(jobId) && this.everyJob.size === 0) return;
    if (now) {
      clearTimeout(this.due.get(jobId));
      this.due.delete(jobId);
      return this.send(jobId);
    }
    if (this.due.has(jobId)) return;
    this.due.set(
      jobId,
      setTimeout(() => {
        this.due.delete(jobId);
        this.send(jobId);
      }, this.everyMs),
    );
  }

  private send(jobId: string): void {
    const set = this.listeners.get(jobId);
    const s = (set || this.everyJob.size > 0) && this.snapshot(jobId);
    if (!s) return;
    const event = s.ended ? "end" : "progress";
    for (const l of [...(set ?? [])]) l(s.revision, event, s.view);
    for (const l of [...this.everyJob]) l(jobId, s.revision, event, s.view);
  }

  close(): void {
    for (const t of this.due.values()) clearTimeout(t);
    this.due.clear();
  }
}
