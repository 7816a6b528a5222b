// outpost broker mosquitto: the password file and ACL for running with an external mosquitto.
import { Command, Option } from "commander";
import { join, resolve } from "node:path";
import { writeMosquittoConfig } from "../broker/mosquitto.ts";
import { DEFAULT_PREFIX } from "../broker/acl.ts";
import { dataOption, jsonOption, openRegistry } from "./common.ts";

export function brokerCommand(): Command {
  const broker = new Command("broker").description("external broker support");
  broker
    .command("mosquitto")
    .description("write mosquitto's password file, %u ACL and config lines from the registry (run again after adding devices, then SIGHUP mosquitto)")
    .addOption(dataOption())
    .addOption(new Option("--out <dir>", "where to write passwd, acl and mosquitto.conf (default <data>/mosquitto)"))
    .addOption(new Option("--prefix <prefix>", "topic prefix").default(DEFAULT_PREFIX))
    .addOption(jsonOption())
    .action((opts: { data: string; out?: string; prefix: string; json?: boolean }) => {
      const out = resolve(opts.out ?? join(opts.data, "mosquitto"));
      const registry = openRegistry(opts.data, { create: false });
      try {
        const lines = writeMosquittoConfig(registry, out, opts.prefix);
        if (opts.json) return console.log(JSON.stringify({ dir: out, conf: lines }));
        console.log(`wrote ${out}/passwd, ${out}/passwd-backend, ${out}/acl and ${out}/mosquitto.conf`);
        console.log(`run: mosquitto -c ${out}/mosquitto.conf (devices on port 1883, backends on 127.0.0.1:1884)`);
        console.log(`then: outpost serve --broker mqtt://127.0.0.1:1884 --data ${opts.data}`);
      } finally {
        registry.close();
      }
    });
  return broker;
}
