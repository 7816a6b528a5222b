// outpost_fail (boards/common/outpost_methods.c) puts a board method's error message into
// a JSON string: quotes, backslashes and control characters escaped, and a message that does
// not fit the module's answer buffer reported as too large instead of cut into broken JSON.
// The C file is compiled with the methods file alone and run with hostile messages.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../", import.meta.url));
const HOST_ERROR = 1;
const HOST_TOO_LARGE = 4;
let program = "";

beforeAll(() => {
  program = join(mkdtempSync(join(tmpdir(), "outpost-fail-")), "check");
  execFileSync("cc", [
    "-std=gnu11",
    "-Wall",
    "-Werror",
    `-I${root}boards/common`,
    `${root}test/support/outpost_fail_check.c`,
    `${root}boards/common/outpost_methods.c`,
    "-o",
    program,
  ]);
});

function fail(message: string, cap = 256) {
  const out = execFileSync(program, [String(cap), message], { encoding: "utf8" }).replace(/\n$/, "");
  const [kind, len, ...text] = out.split(" ");
  return { kind: Number(kind), len: Number(len), text: text.join(" ") };
}

describe("outpost_fail", () => {
  it("escapes quotes, backslashes and control characters into valid JSON", () => {
    const message = 'pin "PZ1" \\ not\there\nnor\x01';
    const r = fail(message);
    expect(r.kind).toBe(HOST_ERROR);
    expect(r.len).toBe(r.text.length);
    expect(JSON.parse(r.text)).toEqual({ code: -32000, message });
    expect(r.text).toContain("\\u0001");
  });

  it("reports a message that does not fit as too large, never a cut string", () => {
    const message = `"${"x".repeat(40)}"`;
    const exact = fail(message).len;
    expect(JSON.parse(fail(message, exact).text).message).toBe(message); // just fits
    for (const cap of [exact - 1, exact - 2, 12, 0]) expect(fail(message, cap).kind).toBe(HOST_TOO_LARGE);
    // An escape that would straddle the end is not half-written either.
    expect(fail("\x02", 30).kind).toBe(HOST_TOO_LARGE); // the head is 26 bytes, \u0002 six more
  });
});
