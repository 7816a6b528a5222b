// outpost call <id> <method> [params-json]: one RPC over REST.
import { Command, Option } from "commander";
import { InvalidArgumentError } from "commander";
import { CliError, parsePositive, urlOption } from "./common.ts";
import { API_KEY, secretFileOption, secretOption, secretValue } from "./secrets.ts";

/** The REST API takes timeout_ms 1...300000; a bigger one is refused here rather than as an HTTP 400. */
function parseTimeout(value: string): number {
  const n = parsePositive(value);
  if (n > 300_000) throw new InvalidArgumentError(`at most 300000 ms: ${value}`);
  return n;
}

export function callCommand(): Command {
  return new Command("call")
    .description("call a method on a device over the REST API; prints the JSON-RPC response")
    .argument("<id>", "device id")
    .argument("<method>", "method name")
    .argument("[params-json]", "params as JSON (array or object)")
    .addOption(urlOption())
    .addOption(secretOption(API_KEY))
    .addOption(secretFileOption(API_KEY))
    .addOption(new Option("--timeout <ms>", "how long the device may take (1-300000)").argParser(parseTimeout).default(5000))
    .action(async (id: string, method: string, paramsJson: string | undefined, opts: { url: string; timeout: number }, cmd: Command) => {
      const key = secretValue(cmd, API_KEY);
      if (!key) throw new CliError("an API key is needed: --key-file, OUTPOST_KEY or --key (create one with: outpost key create)");
      let params: unknown;
      if (paramsJson !== undefined) {
        try {
          params = JSON.parse(paramsJson);
        } catch {
          throw new CliError(`params are not JSON: ${paramsJson}`);
        }
      }
      const url = `${opts.url.replace(/\/$/, "")}/api/v1/devices/${encodeURIComponent(id)}/rpc?timeout_ms=${opts.timeout}`;
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, ...(params === undefined ? {} : { params }) }),
      }).catch((err: Error) => {
        throw new CliError(`cannot reach ${opts.url}: ${(err.cause as Error)?.message ?? err.message}`);
      });
      const text = await res.text();
      console.log(text);
      if (res.status !== 200) throw new CliError(`HTTP ${res.status}`);
      if (JSON.parse(text).error) process.exitCode = 1;
    });
}
