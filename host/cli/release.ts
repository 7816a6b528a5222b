// outpost keygen, outpost release create|list: the Ed25519 release key and signed releases (docs/ota.md).
import { Command, Option } from "commander";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { manifestFor, signManifest, signingKey, generateSigningKey, publicKeyHex } from "../ota/manifest.ts";
import { CliError, jsonOption, parsePositive, urlOption } from "./common.ts";
import { API_KEY, secretFileOption, secretOption, secretValue, type SecretSpec } from "./secrets.ts";
import { keyId } from "../ota/manifest.ts";

export const SIGNING_KEY: SecretSpec = { name: "signing-key", env: "OUTPOST_SIGNING_KEY", what: "release signing key (from outpost keygen)" };

export function keygenCommand(): Command {
  return new Command("keygen")
    .description("make an Ed25519 release signing key: the private key to a 0600 file, the public key (for devices) printed")
    .requiredOption("--out <file>", "where the private key goes (refused if it exists)")
    .addOption(jsonOption())
    .action((opts: { out: string; json?: boolean }) => {
      const out = resolve(opts.out);
      if (existsSync(out)) throw new CliError(`${opts.out} exists: keygen never overwrites a key`);
      mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
      const k = generateSigningKey();
      writeFileSync(out, `${k.privateKey}\n`, { mode: 0o600, flag: "wx" });
      if (opts.json) console.log(JSON.stringify({ public_key: k.publicKey, key_id: k.keyId, file: out }));
      else console.log(`private key: ${out} (0600; keep it off the devices)\npublic key:  ${k.publicKey}\nkey id:      ${k.keyId}`);
    });
}

export function releaseCommand(): Command {
  const release = new Command("release").description("signed releases of the device module (OTA)");
  release
    .command("create")
    .description("sign a module's manifest; write <module>.manifest.json and <module>.sig, and upload it with --upload")
    .requiredOption("--module <file>", "the .wasm module")
    .requiredOption("--version <n>", "release version (a whole number; devices take only a higher one)", parsePositive)
    .option("--label <text>", "a human name, e.g. 1.4.0")
    .addOption(new Option("--abi <n>", "the module ABI it needs (default: this build's)").argParser(parsePositive))
    .addOption(secretOption(SIGNING_KEY))
    .addOption(secretFileOption(SIGNING_KEY))
    .option("--upload", "POST it to the backend's /api/v1/releases")
    .addOption(urlOption())
    .addOption(secretOption(API_KEY))
    .addOption(secretFileOption(API_KEY))
    .addOption(jsonOption())
    .action(async (opts: { module: string; version: number; label?: string; abi?: number; upload?: boolean; url: string; json?: boolean }, cmd: Command) => {
      const keyText = secretValue(cmd, SIGNING_KEY);
      if (!keyText) throw new CliError("a signing key is needed: --signing-key-file, OUTPOST_SIGNING_KEY or --signing-key (make one with: outpost keygen)");
      let key: ReturnType<typeof signingKey>;
      try {
        key = signingKey(keyText);
      } catch (err) {
        throw new CliError(`the signing key is not an Ed25519 private key: ${(err as Error).message}`);
      }
      const module = readFileSync(opts.module);
      const manifest = manifestFor(module, opts.version, { label: opts.label, abi: opts.abi });
      const signature = signManifest(manifest, key);
      writeFileSync(`${opts.module}.manifest.json`, manifest);
      writeFileSync(`${opts.module}.sig`, signature.toString("base64"));
      const pub = publicKeyHex(key);
      let uploaded: unknown;
      if (opts.upload) {
        const api = secretValue(cmd, API_KEY);
        if (!api) throw new CliError("--upload needs an API key: --key-file, OUTPOST_KEY or --key");
        const res = await fetch(`${opts.url.replace(/\/$/, "")}/api/v1/releases`, {
          method: "POST",
          headers: { authorization: `Bearer ${api}`, "content-type": "application/json" },
          body: JSON.stringify({ manifest: manifest.toString("base64"), signature: signature.toString("base64"), module: module.toString("base64") }),
        }).catch((err: Error) => {
          throw new CliError(`cannot reach ${opts.url}: ${(err.cause as Error)?.message ?? err.message}`);
        });
        uploaded = await res.json();
        if (res.status !== 201) throw new CliError(`upload refused (HTTP ${res.status}): ${JSON.stringify(uploaded)}`);
      }
      const out = {
        manifest: JSON.parse(manifest.toString()),
        key_id: keyId(pub),
        files: [`${opts.module}.manifest.json`, `${opts.module}.sig`],
        release: uploaded,
      };
      if (opts.json) console.log(JSON.stringify(out));
      else {
        console.log(`signed version ${opts.version} (${module.length} bytes) with key ${keyId(pub)}: ${out.files.join(", ")}`);
        if (uploaded) console.log(`uploaded: ${(uploaded as { id: string }).id}`);
      }
    });
  release
    .command("list")
    .description("list the backend's releases")
    .addOption(urlOption())
    .addOption(secretOption(API_KEY))
    .addOption(secretFileOption(API_KEY))
    .action(async (opts: { url: string }, cmd: Command) => {
      const api = secretValue(cmd, API_KEY);
      if (!api) throw new CliError("an API key is needed: --key-file, OUTPOST_KEY or --key");
      const res = await fetch(`${opts.url.replace(/\/$/, "")}/api/v1/releases`, { headers: { authorization: `Bearer ${api}` } }).catch((err: Error) => {
        throw new CliError(`cannot reach ${opts.url}: ${(err.cause as Error)?.message ?? err.message}`);
      });
      console.log(await res.text());
      if (res.status !== 200) throw new CliError(`HTTP ${res.status}`);
    });
  return release;
}
