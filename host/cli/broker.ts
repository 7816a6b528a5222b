// outpost broker mosquitto: the password file and ACL for running with an external mosquitto.
import { Command, Option } from "commander";
import { join, resolve } from "node:path";
import { mosquittoCrlPath, writeMosquittoConfig } from "../broker/mosquitto.ts";
import { NoCrlSigner, writeCrl } from "../tls/crl-files.ts";
import { DEFAULT_PREFIX } from "../broker/acl.ts";
import { existsSync } from "node:fs";
import { CliError, dataOption, jsonOption, openRegistry, parsePort } from "./common.ts";
import { tlsPaths } from "./cert.ts";

export function brokerCommand(): Command {
  const broker = new Command("broker").description("external broker support");
  broker
    .command("mosquitto")
    .description(
      "write mosquitto's password file, %u ACL and config lines from the registry (run again after adding devices, then SIGHUP mosquitto); with --tls-port, the CRL of revoked device certificates",
    )
    .addOption(dataOption())
    .addOption(new Option("--out <dir>", "where to write passwd, acl and mosquitto.conf (default <data>/mosquitto)"))
    .addOption(new Option("--prefix <prefix>", "topic prefix").default(DEFAULT_PREFIX))
    .addOption(jsonOption())
    .addOption(
      new Option("--tls-port <port>", "also a TLS listener for devices with client certificates (CN = device id), from <data>/tls").argParser(parsePort),
    )
    .action(async (opts: { data: string; out?: string; prefix: string; json?: boolean; tlsPort?: number }) => {
      const out = resolve(opts.out ?? join(opts.data, "mosquitto"));
      const p = tlsPaths(opts.data);
      if (opts.tlsPort !== undefined && !existsSync(p.serverCert))
        throw new CliError(`--tls-port needs ${p.serverCert} and ${p.caCert}: run \`outpost cert ca\` and \`outpost cert server <names>\` first`);
      const crlfile = mosquittoCrlPath(out);
      const tls = opts.tlsPort === undefined ? undefined : { port: opts.tlsPort, cafile: p.caCert, certfile: p.serverCert, keyfile: p.serverKey, crlfile };
      const registry = openRegistry(opts.data, { create: false });
      try {
        const lines = writeMosquittoConfig(registry, out, opts.prefix, { tls });
        let revoked: number | undefined;
        if (tls) {
          // mosquitto refuses every certificate without a CRL it can read, so it is written now and kept up to date.
          revoked = await writeCrl(registry, opts.data, crlfile).catch((err: Error) => {
            throw err instanceof NoCrlSigner ? new CliError(err.message) : err;
          });
          registry.certs.addCrlFile(crlfile);
        }
        if (opts.json) return console.log(JSON.stringify({ dir: out, conf: lines, ...(tls ? { crl: crlfile, revoked } : {}) }));
        console.log(`wrote ${out}/passwd, ${out}/passwd-backend, ${out}/acl and ${out}/mosquitto.conf`);
        if (tls)
          console.log(`wrote ${crlfile} (${revoked} revoked certificate(s)); outpost cert revoke, device remove and rotate rewrite it: then SIGHUP mosquitto`);
        console.log(
          `run: mosquitto -c ${out}/mosquitto.conf (devices on port 1883${tls ? `, with certificates on ${tls.port} (TLS)` : ""}, backends on 127.0.0.1:1884)`,
        );
        console.log(`then: outpost serve --broker mqtt://127.0.0.1:1884 --data ${opts.data}`);
      } finally {
        registry.close();
      }
    });
  return broker;
}
