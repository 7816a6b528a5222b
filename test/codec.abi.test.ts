// host/abi.ts mirrors assembly/errors.ts: the same names for the same codes.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { ERR_NAMES, errCode, errName } from "../host/abi.ts";

function parseErrEnum(): Record<number, string> {
  const src = readFileSync(new URL("../assembly/errors.ts", import.meta.url), "utf8");
  const body = src.slice(src.indexOf("export enum Err"));
  const table: Record<number, string> = {};
  for (const m of body.slice(0, body.indexOf("}")).matchAll(/^\s*(\w+)\s*=\s*(\d+)\s*,/gm)) {
    if (m[1] !== "None") table[Number(m[2])] = m[1];
  }
  return table;
}

it("host/abi.ts names every error of assembly/errors.ts with the same code", () => {
  const parsed = parseErrEnum();
  expect(Object.keys(parsed).length).toBeGreaterThan(20);
  expect(ERR_NAMES).toEqual(parsed);
});

it("errName takes the negated return value and errCode inverts it", () => {
  expect(errName(-6)).toBe("ReservedFlags");
  expect(errName(6)).toBe("ReservedFlags");
  expect(errCode("ReservedFlags")).toBe(6);
  expect(() => errCode("NoSuchError")).toThrow(RangeError);
});
