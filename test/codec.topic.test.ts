// Topic name and filter validation and matching, by the module.
import type { CodecExports } from "../host/abi-table.ts";
import { describe, expect, it } from "vitest";
import { TARGETS, codecFor, codeOf } from "./codec.support.ts";
import { topicMatches, validateTopicFilter, validateTopicName } from "../host/codec/index.ts";

const MATCHES: [string, string, boolean][] = [
  ["a/b", "a/b", true],
  ["a/b", "a/c", false],
  ["a/b", "a/b/c", false],
  ["a/b/c", "a/b", false],
  ["a/+", "a/b", true],
  ["a/+", "a/b/c", false],
  ["a/+", "a/", true], // + matches an empty level
  ["+/+", "/a", true],
  ["+", "/a", false],
  ["a/+/c", "a/b/c", true],
  ["a/+/c", "a/b/d", false],
  ["a/#", "a", true], // # includes the parent level
  ["a/#", "a/b/c", true],
  ["a/#", "ab", false],
  ["#", "a/b", true],
  ["#", "/", true],
  ["+/#", "a", true],
  ["#", "$SYS/x", false], // $ topics are not matched by a leading wildcard
  ["+/x", "$SYS/x", false],
  ["$SYS/#", "$SYS/x", true],
  ["$SYS/+", "$SYS/x", true],
  ["a/$b", "a/$b", true],
  ["devices/+/rx", "devices/d1/rx", true],
  ["devices/d1/#", "devices/d1/status", true],
  ["ä/+", "ä/€", true],
];

const NAMES: [string, string][] = [
  ["a/b", "ok"],
  ["/", "ok"],
  ["$SYS/x", "ok"],
  ["ä/€", "ok"],
  ["", "InvalidTopic"],
  ["a/+", "WildcardInTopic"],
  ["#", "WildcardInTopic"],
  ["a\u0000", "NullCharacter"],
];
const FILTERS: [string, string][] = [
  ["a/b", "ok"],
  ["#", "ok"],
  ["+", "ok"],
  ["a/#", "ok"],
  ["+/+/#", "ok"],
  ["/+", "ok"],
  ["$share/g/a/+", "ok"],
  ["", "InvalidTopic"],
  ["a#", "InvalidTopic"],
  ["a/#/b", "InvalidTopic"],
  ["a+", "InvalidTopic"],
  ["+a", "InvalidTopic"],
  ["a/b+/c", "InvalidTopic"],
  ["##", "InvalidTopic"],
  ["a\u0000", "NullCharacter"],
];

const ok = (fn: () => void) => {
  const c = codeOf(fn);
  return c === "no error" ? "ok" : c;
};

for (const { build, engine } of TARGETS) {
  describe(`topics (${build} build, ${engine})`, () => {
    const { mod } = codecFor(build, engine);
    for (const [filter, topic, want] of MATCHES) {
      it(`${JSON.stringify(filter)} ${want ? "matches" : "does not match"} ${JSON.stringify(topic)}`, () => {
        expect(mod.topicCall("topic_matches", filter, topic) !== 0).toBe(want);
      });
    }
    for (const [name, want] of NAMES) {
      it(`topic name ${JSON.stringify(name)}: ${want}`, () => {
        expect(ok(() => mod.topicCall("topic_validate_name", name))).toBe(want);
      });
    }
    for (const [filter, want] of FILTERS) {
      it(`topic filter ${JSON.stringify(filter)}: ${want}`, () => {
        expect(ok(() => mod.topicCall("topic_validate_filter", filter))).toBe(want);
      });
    }
  });
}

it("the package functions use the same module checks", () => {
  expect(topicMatches("devices/+/rx", "devices/x/rx")).toBe(true);
  expect(ok(() => validateTopicName("a/#"))).toBe("WildcardInTopic");
  expect(ok(() => validateTopicFilter("a/#/b"))).toBe("InvalidTopic");
  expect(ok(() => validateTopicFilter("a/+/#"))).toBe("ok");
});

describe("UTF-8 validation agrees with a strict decoder", () => {
  for (const { build, engine } of TARGETS) {
    it(`${build} build, ${engine}: random bytes`, async () => {
      const fc = (await import("fast-check")).default;
      const { codecBuild, instantiate } = await import("../host/engine.ts");
      const { exports: ex, memory } = instantiate<CodecExports>({ build: codecBuild(build), engine });
      const info = new Uint32Array(memory.buffer, ex.codec_init(16, 16, 256) >>> 0, 6);
      const scratch = info[3];
      const strict = new TextDecoder("utf-8", { fatal: true });
      const byteArb = fc
        .oneof(
          fc.integer({ min: 0, max: 255 }),
          fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0x80, 0xbf, 0xa0, 0x9f, 0x90, 0x8f),
        )
        .filter((b) => b !== 0x2b && b !== 0x23);
      fc.assert(
        fc.property(fc.array(byteArb, { minLength: 1, maxLength: 12 }), (arr) => {
          const bytes = Uint8Array.from(arr);
          new Uint8Array(memory.buffer).set(bytes, scratch);
          const got = ex.topic_validate_name(scratch, bytes.length) | 0;
          let want = 0;
          try {
            strict.decode(bytes);
            if (bytes.includes(0)) want = -8; // NullCharacter
          } catch {
            want = -7; // InvalidUtf8
          }
          // Bytes with both faults may be named either way.
          if (bytes.includes(0) && want !== 0) expect([-7, -8]).toContain(got);
          else expect(got).toBe(want);
        }),
        { numRuns: 2000 },
      );
    });
  }
});

describe("topic matching agrees with a level-by-level reference", () => {
  /** The spec's rule, level by level. */
  function reference(filter: string, topic: string): boolean {
    if (topic.startsWith("$") && /^[+#]/.test(filter)) return false;
    const f = filter.split("/");
    const t = topic.split("/");
    for (let i = 0; i < f.length; i++) {
      if (f[i] === "#") return true;
      if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
    }
    return f.length === t.length;
  }
  for (const { build, engine } of TARGETS) {
    it(`${build} build, ${engine}`, async () => {
      const fc = (await import("fast-check")).default;
      const { mod } = codecFor(build, engine);
      const level = fc.constantFrom("", "a", "b", "ab", "$x", "ä");
      const topic = fc
        .array(level, { minLength: 1, maxLength: 4 })
        .map((l) => l.join("/"))
        .filter((t) => t.length > 0);
      const filter = fc
        .tuple(fc.array(fc.oneof(level, fc.constant("+")), { minLength: 1, maxLength: 4 }), fc.boolean())
        .map(([l, hash]) => (hash ? [...l, "#"] : l).join("/"))
        .filter((f) => f.length > 0);
      fc.assert(
        fc.property(filter, topic, (f, t) => {
          expect(mod.topicCall("topic_matches", f, t) !== 0).toBe(reference(f, t));
        }),
        { numRuns: 3000 },
      );
    });
  }
});
