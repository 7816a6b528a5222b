// outpost audit: the audit log, newest first, read from the registry (whether or not the server runs).
import { Command, Option } from "commander";
import { HttpError } from "../server/errors.ts";
import { auditQueryOf, auditRecordView } from "../server/routes/audit.ts";
import { MAX_AUDIT_PAGE } from "../registry/audit.ts";
import { CliError, dataOption, jsonOption, withRegistry } from "./common.ts";

export function auditCommand(): Command {
  return new Command("audit")
    .description("show the audit log: calls, changes, refused callers, device connects, disconnects and refused logins")
    .addOption(new Option("--device <id>", "only this device"))
    .addOption(new Option("--actor <name>", "only this key name, token subject or device"))
    .addOption(new Option("--kind <kind>", "only this kind: call, change, refused, connect, disconnect, login_refused"))
    .addOption(new Option("--since <time>", "only records at or after this ISO 8601 time"))
    .addOption(new Option("--limit <n>", `at most n records (1-${MAX_AUDIT_PAGE})`).default("100"))
    .addOption(new Option("--cursor <cursor>", "the next_cursor a previous --json page printed: older records"))
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((opts: { data: string; json?: boolean; device?: string; actor?: string; kind?: string; since?: string; limit: string; cursor?: string }) => {
      let query: ReturnType<typeof auditQueryOf>;
      try {
        query = auditQueryOf(opts);
      } catch (err) {
        if (err instanceof HttpError) throw new CliError(err.message.replace(/^(\w+) must/, "--$1 must"));
        throw err;
      }
      const page = withRegistry(opts.data, false, (r) => r.audit.query(query));
      const records = page.records.map(auditRecordView);
      if (opts.json) return console.log(JSON.stringify({ records, next_cursor: page.next_cursor }));
      if (records.length === 0) return console.log("no audit records");
      for (const r of records)
        console.log(
          [r.at, r.kind, r.actor ?? "-", r.device ?? "-", r.method ?? "-", r.status ?? "-", r.outcome, r.peer ?? "", r.detail ?? ""].join("\t").trimEnd(),
        );
      if (page.next_cursor !== null) console.log(`(more: --cursor ${page.next_cursor})`);
    });
}
