// The outpost command line.
import { Command } from "commander";
import { CliError } from "./common.ts";
import { serveCommand } from "./serve.ts";
import { keyCommand } from "./key.ts";
import { auditCommand } from "./audit.ts";
import { deviceCommand } from "./device.ts";
import { deviceRunCommand } from "./device-run.ts";
import { callCommand } from "./call.ts";
import { simCommand } from "./sim.ts";
import { brokerCommand } from "./broker.ts";
import { keygenCommand, releaseCommand } from "./release.ts";
import { updateCommand } from "./update.ts";
import { jobCommand } from "./job.ts";
import { certCommand } from "./cert.ts";
import { redactUrlsIn } from "../server/log.ts";
import { addDbOptions } from "./db-options.ts";

const program = new Command("outpost")
  // A user mistake is one line (commander's own error, or a CliError below); --help shows the usage.
  .description("microcontrollers dial out: a REST-to-JSON-RPC backend over MQTT, and the device module");
program.addCommand(serveCommand());
program.addCommand(keyCommand());
program.addCommand(auditCommand());
const device = deviceCommand();
program.addCommand(device);
device.addCommand(deviceRunCommand());
program.addCommand(callCommand());
program.addCommand(simCommand());
program.addCommand(brokerCommand());
program.addCommand(keygenCommand());
program.addCommand(releaseCommand());
program.addCommand(updateCommand());
program.addCommand(jobCommand());
program.addCommand(certCommand());
addDbOptions(program);

// commander quotes a refused argument in its error: a URL's password must not end up on the screen or in a log.
const redactErrors = (cmd: Command): void => {
  cmd.configureOutput({ outputError: (text, write) => write(redactUrlsIn(text)) });
  for (const sub of cmd.commands) redactErrors(sub);
};
redactErrors(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`outpost: ${redactUrlsIn(err.message)}`);
    process.exit(1);
  }
  throw err;
}
