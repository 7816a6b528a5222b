// outpost key create
import { Command } from "commander";
import { dataOption, jsonOption, openRegistry } from "./common.ts";

export function keyCommand(): Command {
  const key = new Command("key").description("API keys for the REST API");
  key
    .command("create")
    .description("create an API key (shown once)")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((opts: { data: string; json?: boolean }) => {
      const registry = openRegistry(opts.data, { create: true });
      try {
        const { key } = registry.createApiKey();
        console.log(opts.json ? JSON.stringify({ key }) : `${key}\n(shown once: store it now)`);
      } finally {
        registry.close();
      }
    });
  return key;
}
