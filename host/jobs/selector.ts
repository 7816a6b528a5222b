// Which devices a job reaches: its selector resolved against the registry once, when the job is created (a device
// added later is not in it; the job's executions are the list of devices, and that list survives a restart).
import type { DeviceTags } from "../registry/tags.ts";
import { JobSpecError, MAX_SELECTED_IDS, type Selector } from "./spec.ts";

/** The job's devices in id order; every condition of the selector holds for each. */
export function selectDevices(tags: DeviceTags, selector: Selector, max = MAX_SELECTED_IDS): string[] {
  const out: string[] = [];
  for (const id of tags.matching(selector)) {
    if (out.length === max) throw new JobSpecError("too_many_devices", `the selector matches more than ${max} devices; a job reaches at most ${max}`);
    out.push(id);
  }
  if (out.length === 0) throw new JobSpecError("no_devices_selected", "no registered device matches the selector");
  return out;
}
