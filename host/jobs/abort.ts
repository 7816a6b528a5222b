// A job's abort rules: the first rule whose failures reach its threshold, once enough executions are final.
import type { AbortRule } from "./spec.ts";
import { EXECUTED_STATES, type Counts } from "./types.ts";

/** Why the job must stop now (a sentence for its `reason`), or undefined while every rule holds. */
export function brokenRule(rules: readonly AbortRule[], counts: Counts): string | undefined {
  const executed = EXECUTED_STATES.reduce((n, s) => n + counts[s], 0);
  for (const rule of rules) {
    if (executed < rule.min_executed) continue;
    const failures = rule.on.reduce((n, s) => n + counts[s], 0);
    const pct = (failures * 100) / executed;
    if (pct >= rule.threshold_pct)
      return `${failures} of ${executed} executed (${pct.toFixed(1)}%) ended ${rule.on.join("/")}, at or over the threshold of ${rule.threshold_pct}% (minimum ${rule.min_executed} executed)`;
  }
  return undefined;
}
