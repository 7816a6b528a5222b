// The words of the jobs engine: a job's states, an execution's states, and the Updater a rollout runs through.

/** One device's part of a job. queued: not sent yet (or sent again after a retry); the rest are final but in_progress. */
export const EXECUTION_STATES = ["queued", "in_progress", "succeeded", "failed", "timed_out", "rejected", "rolled_back", "cancelled"] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];
/** What an abort rule may count: the final states that are the device's or the job's failure. */
export const FAILURE_KINDS = ["failed", "timed_out", "rejected", "rolled_back"] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];
/** Final states that count as executed for an abort rule's minimum and percentage (cancelled never ran). */
export const EXECUTED_STATES = ["succeeded", ...FAILURE_KINDS] as const;

/** in_progress until every execution is final (completed), or stopped: cancelled, aborted (a rule), expired. */
export const JOB_STATES = ["in_progress", "completed", "cancelled", "aborted", "expired"] as const;
export type JobState = (typeof JOB_STATES)[number];

export type Counts = Record<ExecutionState, number> & { total: number };
export const emptyCounts = (): Counts => ({
  total: 0,
  queued: 0,
  in_progress: 0,
  succeeded: 0,
  failed: 0,
  timed_out: 0,
  rejected: 0,
  rolled_back: 0,
  cancelled: 0,
});

/** Progress of one update as host/ota/updater.ts reports it. */
export interface UpdateProgress {
  state: string;
  bytesSent?: number;
  total?: number;
  reason?: string;
}
export interface UpdateResult {
  outcome: "succeeded" | "failed" | "rejected" | "rolled_back" | "timed_out";
  reason?: string;
}

/**
 * Updates one device to one release and says how it ended (host/ota/updater.ts's `update`, docs/ota.md). Never
 * rejects for the device's sake. A rollout job runs each device's execution through it.
 */
export interface Updater {
  update(deviceId: string, releaseId: string, opts: { timeoutMs?: number; signal?: AbortSignal; onProgress?(p: UpdateProgress): void }): Promise<UpdateResult>;
}
