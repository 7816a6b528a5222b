// outpost update <id> <release>: starts an OTA update over REST and follows it with a progress bar.
import { Command } from "commander";
import cliProgress from "cli-progress";
import { CliError, urlOption } from "./common.ts";
import { API_KEY, secretFileOption, secretOption, secretValue } from "./secrets.ts";

const POLL_MS = 200;

export function updateCommand(): Command {
  return new Command("update")
    .description("update a device's module to a release (docs/ota.md); exits 0 once it is confirmed")
    .argument("<id>", "device id")
    .argument("<release>", "release id (outpost release list)")
    .addOption(urlOption())
    .addOption(secretOption(API_KEY))
    .addOption(secretFileOption(API_KEY))
    .action(async (id: string, releaseId: string, opts: { url: string }, cmd: Command) => {
      const key = secretValue(cmd, API_KEY);
      if (!key) throw new CliError("an API key is needed: --key-file, OUTPOST_KEY or --key (create one with: outpost key create)");
      const base = `${opts.url.replace(/\/$/, "")}/api/v1/devices/${encodeURIComponent(id)}/update`;
      const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
      const reach = (err: Error): never => {
        throw new CliError(`cannot reach ${opts.url}: ${(err.cause as Error)?.message ?? err.message}`);
      };
      const started = await fetch(base, { method: "POST", headers, body: JSON.stringify({ release: releaseId }) }).catch(reach);
      const body = (await started.json()) as { update?: { total: number }; error?: string; message?: string };
      if (started.status !== 202) throw new CliError(`${body.error ?? "refused"} (HTTP ${started.status}): ${body.message ?? ""}`);
      // Not a terminal (a log, CI): the bar as a line every second and at the end, not redrawn in place.
      const bar = new cliProgress.SingleBar(
        { format: "{state} [{bar}] {value}/{total} bytes", hideCursor: true, noTTYOutput: true, notTTYSchedule: 1000 },
        cliProgress.Presets.shades_classic,
      );
      bar.start(body.update?.total ?? 0, 0, { state: "queued".padEnd(10) });
      let u: { state: string; bytes_sent: number; total: number; outcome: string | null; reason: string | null };
      for (;;) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const res = await fetch(base, { headers }).catch(reach);
        u = await res.json();
        bar.update(u.bytes_sent, { state: u.state.padEnd(10) });
        if (u.outcome) break;
      }
      bar.stop();
      console.log(`${id}: ${u.outcome}${u.reason ? ` (${u.reason})` : ""}`);
      if (u.outcome !== "succeeded") process.exitCode = 1;
    });
}
