// outpost device add | list | remove (directly on the registry, whether or not the server runs), and device run.
import { Command, InvalidArgumentError, Option } from "commander";
import { DeviceExists, InvalidDeviceId } from "../registry/registry.ts";
import { InvalidMetadata, InvalidTag } from "../registry/tags.ts";
import { CliError, dataOption, jsonOption, parseNonNegative, withRegistry } from "./common.ts";
import { MAX_GRACE_S } from "../server/routes/credentials.ts";
import { existsSync } from "node:fs";
import { issueDeviceCert, printIssued, refreshCrlsOrSay, tlsPaths, withRegistryAsync } from "./cert.ts";

const collect = (v: string, all: string[] = []) => [...all, v];
function parseMeta(v: string, all: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError(`not key=value: ${v}`);
  return { ...all, [v.slice(0, eq)]: v.slice(eq + 1) };
}

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
    .description("list devices, optionally those with every --tag, the --meta given, and --online/--offline")
    .addOption(dataOption())
    .addOption(jsonOption())
    .addOption(new Option("--tag <tag>", "only devices with this tag (repeatable: all of them)").argParser(collect))
    .addOption(new Option("--meta <key=value>", "only devices whose metadata has this (repeatable)").argParser(parseMeta))
    .addOption(new Option("--online", "only devices online (as the server last wrote it)"))
    .addOption(new Option("--offline", "only devices offline").conflicts("online"))
    .action((opts: { data: string; json?: boolean; tag?: string[]; meta?: Record<string, string>; online?: boolean; offline?: boolean }) => {
      const devices = withRegistry(opts.data, false, (r) => {
        try {
          const ids = [...r.tags.matching({ tags: opts.tag, metadataText: opts.meta })];
          const tags = r.tags.tagsOfMany(ids);
          return ids.map((id) => ({ ...r.getDevice(id)!, tags: tags.get(id) ?? [] }));
        } catch (err) {
          if (err instanceof InvalidMetadata) throw new CliError(err.message);
          throw err;
        }
      }).filter((d) => (opts.online ? d.online : opts.offline ? !d.online : true));
      const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());
      const rows = devices.map((d) => ({ ...d, last_seen: iso(d.last_seen), connected_since: iso(d.connected_since), created_at: iso(d.created_at) }));
      if (opts.json) return console.log(JSON.stringify(rows));
      if (rows.length === 0) return console.log("no devices");
      for (const d of rows)
        console.log(`${d.id}\t${d.online ? "online" : "offline"}\tlast seen ${d.last_seen ?? "never"}${d.tags.length ? `\t${d.tags.join(",")}` : ""}`);
    });
  device
    .command("tag <id> [tags...]")
    .description("set a device's tags (replaces them; none: removes them all)")
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((id: string, tags: string[], opts: { data: string; json?: boolean }) => {
      const now = withRegistry(opts.data, false, (r) => {
        try {
          if (!r.tags.update(id, { tags })) throw new CliError(`no device ${id}`);
        } catch (err) {
          if (err instanceof InvalidTag) throw new CliError(err.message);
          throw err;
        }
        return r.tags.tagsOf(id);
      });
      console.log(opts.json ? JSON.stringify({ id, tags: now }) : `${id}: ${now.join(", ") || "no tags"}`);
    });
  device
    .command("meta <id> <patch-json>")
    .description('change a device\'s metadata with a JSON merge patch (RFC 7396), e.g. \'{"building":"4","old":null}\'')
    .addOption(dataOption())
    .addOption(jsonOption())
    .action((id: string, patchJson: string, opts: { data: string; json?: boolean }) => {
      let patch: unknown;
      try {
        patch = JSON.parse(patchJson);
      } catch {
        throw new CliError(`not JSON: ${patchJson}`);
      }
      if (!patch || typeof patch !== "object" || Array.isArray(patch)) throw new CliError("the patch must be a JSON object");
      const metadata = withRegistry(opts.data, false, (r) => {
        try {
          if (!r.tags.update(id, { metadata: patch as Record<string, unknown> })) throw new CliError(`no device ${id}`);
        } catch (err) {
          if (err instanceof InvalidMetadata) throw new CliError(err.message);
          throw err;
        }
        return r.getDevice(id)!.metadata;
      });
      console.log(opts.json ? JSON.stringify({ id, metadata }) : `${id}: ${JSON.stringify(metadata)}`);
    });
  device
    .command("rotate <id>")
    .description("give a device a new password, shown once; the old one stays valid for --grace seconds (default 0: it ends now)")
    .addOption(new Option("--grace <seconds>", "how long the old password keeps working").argParser(parseNonNegative).default(0))
    .addOption(dataOption())
    .addOption(jsonOption())
    .action(async (id: string, opts: { data: string; json?: boolean; grace: number }) => {
      if (opts.grace > MAX_GRACE_S) throw new CliError(`--grace is at most ${MAX_GRACE_S} seconds (a week)`);
      const rotated = await withRegistryAsync(opts.data, async (r) => {
        if (!r.hasDevice(id)) throw new CliError(`no device ${id}`);
        const made = r.previousSecrets.rotate(id, opts.grace * 1000, (d) => r.rotateCredential(d));
        await refreshCrlsOrSay(r, opts.data); // a new password ends the device's certificates too
        return made;
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
    .action(async (id: string, opts: { data: string; json?: boolean }) => {
      const removed = await withRegistryAsync(opts.data, async (r) => {
        const gone = r.removeDevice(id);
        if (gone) await refreshCrlsOrSay(r, opts.data);
        return gone;
      });
      if (!removed) throw new CliError(`no device ${id}`);
      console.log(opts.json ? JSON.stringify({ id, removed: true }) : `removed ${id}`);
    });
  return device;
}
