// --db, for every command that opens the registry: SQLite in --data unless a postgres:// URL is given. The password
// comes from the URL, --db-password-file or OUTPOST_DB_PASSWORD (the URL's wins), so it need not be in a flag.
import { type Command, Option } from "commander";
import { CliError, urlParser, withPassword } from "./common.ts";
import { secretFileOption, secretValue, type SecretSpec } from "./secrets.ts";

export const DB_PASSWORD: SecretSpec = {
  name: "db-password",
  env: "OUTPOST_DB_PASSWORD",
  what: "registry's Postgres password (when the --db URL has none)",
  valueFlag: false,
};

const dbOption = () =>
  new Option("--db <url>", "the registry in Postgres (postgres://user@host:port/database), shared by nodes on several machines; default: SQLite in --data")
    .env("OUTPOST_DB")
    .argParser(urlParser("postgres:", "postgresql:"));

let chosen: string | undefined;

/** The registry the running command was given (with its password), or undefined: SQLite in --data. */
export function registryDb(): string | undefined {
  return chosen;
}

/** Gives each command that has --data the --db options, and reads them before its action runs. */
export function addDbOptions(program: Command): void {
  const visit = (cmd: Command): void => {
    if (cmd.options.some((o) => o.long === "--data")) cmd.addOption(dbOption()).addOption(secretFileOption(DB_PASSWORD));
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
  program.hook("preAction", (_program, action) => {
    const url = action.opts().db as string | undefined;
    if (action.opts().dbPasswordFile !== undefined && !url) throw new CliError("--db-password-file is the Postgres registry's: it needs --db");
    chosen = url ? withPassword(url, secretValue(action, DB_PASSWORD)) : undefined;
  });
}
