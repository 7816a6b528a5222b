// outpost key create
import { Command } from "commander";
import { Registry } from "../registry/registry.ts";
import { dataOption, jsonOption } from "./common.ts";

export function keyCommand(): Command {
  const key = new Command("key").description("API keys for the REST API");
  key
    .command("create")
    .description("create an API key (shown once)")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((opts: { data: string; json?: boolean }) => {
      const registry = new Registry(opts.data);
      try {
        const { key } = registry.createApiKey();
        console.log(opts.json ? JSON.stringify({ key }) : `${key}\n(shown once: store it now)`);
      } finally {
        registry.close();
      }
    });
  return key;
}
