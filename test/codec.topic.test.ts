// Topic name and filter validation and matching, by the module.
import { describe, expect, it } from "vitest";
import { BUILDS, codecFor, codeOf } from "./codec.support.ts";
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
  ["a/b", "ok"], ["/", "ok"], ["$SYS/x", "ok"], ["ä/€", "ok"],
  ["", "InvalidTopic"], ["a/+", "WildcardInTopic"], ["#", "WildcardInTopic"], ["a\u0000", "NullCharacter"],
];
const FILTERS: [string, string][] = [
  ["a/b", "ok"], ["#", "ok"], ["+", "ok"], ["a/#", "ok"], ["+/+/#", "ok"], ["/+", "ok"], ["$share/g/a/+", "ok"],
  ["", "InvalidTopic"], ["a#", "InvalidTopic"], ["a/#/b", "InvalidTopic"], ["a+", "InvalidTopic"], ["+a", "InvalidTopic"],
  ["a/b+/c", "InvalidTopic"], ["##", "InvalidTopic"], ["a\u0000", "NullCharacter"],
];

const ok = (fn: () => void) => {
  const c = codeOf(fn);
  return c === "no error" ? "ok" : c;
};

for (const build of BUILDS) {
  describe(`topics (${build} build)`, () => {
    const { mod } = codecFor(build);
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
