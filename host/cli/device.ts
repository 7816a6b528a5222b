// outpost device add | list | remove (directly on the registry, whether or not the server runs), and device run.
import { Command, Option } from "commander";
import { DeviceExists, InvalidDeviceId } from "../registry/registry.ts";
import { CliError, dataOption, jsonOption, parseNonNegative, withRegistry } from "./common.ts";
import { MAX_GRACE_S } from "../server/routes/credentials.ts";
import { existsSync } from "node:fs";
import { issueDeviceCert, printIssued, tlsPaths, withRegistryAsync } from "./cert.ts";

export function deviceCommand(): Command {
  const device = new Command("device").description("devices: register, list, remove, run");
  device
    .command("add <id>")
    .description("register a device; its credential is shown once")
    .addOption(dataOption())
    .addOption(jsonOption())
    .option("--cert", "also issue a client certificate for it from <data>/tls's CA (outpost cert ca), pinned: it logs in with that instead")
    .action(async (id: string, opts: { data: string; json?: boolean; cert?: boolean }) => {
      if (opts.cert && !existsSync(tlsPaths(opts.data).caCert)) throw new CliError(`--cert needs a CA: run \`outpost cert ca --data ${opts.data}\` first`);
      const created = withRegistry(opts.data, true, (r) => {
        try {
          return r.addDevice(id);
        } catch (err) {
          if (err instanceof InvalidDeviceId || err instanceof DeviceExists) throw new CliError(err.message);
          throw err;
        }
      });
      const cert = opts.cert ? await withRegistryAsync(opts.data, (r) => issueDeviceCert(opts.data, r, id, undefined)) : undefined;
      if (opts.json) return console.log(JSON.stringify(cert ? { ...created, certificate: cert } : created));
      console.log(`device ${created.id}\ncredential ${created.credential}\n(shown once: the device logs in with its id as username and this as password)`);
      if (cert) printIssued(cert);
    });
  device
    .command("list")
    .description("list devices")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((opts: { data: string; json?: boolean }) => {
      const devices = withRegistry(opts.data, false, (r) => r.listDevices());
      const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());
      const rows = devices.map((d) => ({ ...d, last_seen: iso(d.last_seen), connected_since: iso(d.connected_since), created_at: iso(d.created_at) }));
      if (opts.json) return console.log(JSON.stringify(rows));
      if (rows.length === 0) return console.log("no devices");
      for (const d of rows) console.log(`${d.id}\t${d.online ? "online" : "offline"}\tlast seen ${d.last_seen ?? "never"}`);
    });
  device
    .command("rotate <id>")
    .description("give a device a new password, shown once; the old one stays valid for --grace seconds (default 0: it ends now)")
    .addOption(new Option("--grace <seconds>", "how long the old password keeps working").argParser(parseNonNegative).default(0))
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((id: string, opts: { data: string; json?: boolean; grace: number }) => {
      if (opts.grace > MAX_GRACE_S) throw new CliError(`--grace is at most ${MAX_GRACE_S} seconds (a week)`);
      const rotated = withRegistry(opts.data, false, (r) => {
        if (!r.hasDevice(id)) throw new CliError(`no device ${id}`);
        return r.previousSecrets.rotate(id, opts.grace * 1000, (d) => r.rotateCredential(d));
      });
      const until = rotated.previousValidUntil === null ? null : new Date(rotated.previousValidUntil).toISOString();
      if (opts.json) return console.log(JSON.stringify({ id, credential: rotated.credential, previous_valid_until: until }));
      console.log(`device ${id}\ncredential ${rotated.credential}\n(shown once; the old one ${until ? `works until ${until}` : "no longer works"})`);
    });
  device
    .command("remove <id>")
    .description("remove a device (a running server on the same --data disconnects it within a moment)")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((id: string, opts: { data: string; json?: boolean }) => {
      const removed = withRegistry(opts.data, false, (r) => r.removeDevice(id));
      if (!removed) throw new CliError(`no device ${id}`);
      console.log(opts.json ? JSON.stringify({ id, removed: true }) : `removed ${id}`);
    });
  return device;
}
