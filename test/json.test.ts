// The module's JSON tokenizer and writer, seen through `echo` (which re-writes its
// params compactly from the token array): escapes, unicode, numbers, nesting,
// duplicate keys, and a round trip against JSON.stringify for any JSON value.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Device } from "../host/device.ts";
import { ENGINES } from "./support/engines.ts";

const PARSE_ERROR = '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}';

describe.each(ENGINES)("JSON under %s", (engine) => {
  const device = new Device({ id: "json", engine, limits: { requestMax: 65536, responseMax: 65536, maxTokens: 4096, maxDepth: 32 } });
  const echo = (params: string | Uint8Array) =>
    device.handleRpc(
      typeof params === "string"
        ? `{"jsonrpc":"2.0","method":"echo","params":${params},"id":1}`
        : Buffer.concat([Buffer.from('{"jsonrpc":"2.0","method":"echo","params":'), params, Buffer.from(',"id":1}')]),
    );
  const result = (params: string) => `{"jsonrpc":"2.0","result":${params},"id":1}`;

  describe("strings", () => {
    it.each([
      ["every short escape", '["\\"\\\\\\/\\b\\f\\n\\r\\t"]'],
      ["\\u escapes, upper and lower case hex", '["\\u0000\\u001F\\u00e9\\uFFFF"]'],
      ["a surrogate pair", '["\\ud83d\\ude00"]'],
      ["raw UTF-8 (2, 3 and 4 bytes)", '["é€😀"]'],
      ["an empty string", '[""]'],
      ["escapes in keys", '{"\\u006bey\\n":1}'],
    ])("keeps %s as written", async (_n, params) => {
      expect(await echo(params)).toBe(result(params));
    });
    it.each([
      ["a lone high surrogate", '["\\ud83d"]'],
      ["a lone low surrogate", '["\\ude00"]'],
      ["a high surrogate before a non-surrogate escape", '["\\ud83d\\u0041"]'],
      ["a high surrogate before a plain character", '["\\ud83dx"]'],
      ["a bad hex digit", '["\\u00zz"]'],
      ["a short \\u escape", '["\\u00e"]'],
      ["an unknown escape", '["\\x41"]'],
      ["a raw control character", '["a\tb"]'],
      ["a raw newline", '["a\nb"]'],
      ["an unterminated string", '["abc]'],
      ["a single-quoted string", "['a']"],
    ])("refuses %s (-32700)", async (_n, params) => {
      expect(await echo(params)).toBe(PARSE_ERROR);
    });
    it.each([
      ["an overlong encoding", [0xc0, 0x80]],
      ["a UTF-8 surrogate", [0xed, 0xa0, 0x80]],
      ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
      ["a truncated sequence", [0xe2, 0x82]],
      ["a stray continuation byte", [0x80]],
      ["a raw NUL", [0x00]],
    ])("refuses %s in a string (-32700)", async (_n, bytes) => {
      expect(await echo(Buffer.concat([Buffer.from('["'), Buffer.from(bytes), Buffer.from('"]')]))).toBe(PARSE_ERROR);
    });
    it("decodes escapes in the method name and member names", async () => {
      expect(await device.handleRpc('{"\\u006aSONRPC":"x","jsonrpc":"2.\\u0030","\\u006dethod":"\\u0065cho","params":[1],"id":2}')).toBe(
        '{"jsonrpc":"2.0","result":[1],"id":2}',
      );
    });
  });

  describe("numbers", () => {
    it.each([
      ["a 64-bit integer", "[18446744073709551615]"],
      ["a 40-digit integer", "[1234567890123456789012345678901234567890]"],
      ["negative zero", "[-0]"],
      ["fractions and exponents", "[0.5,-1.25e-300,1E+400,2e5]"],
    ])("keeps %s as text", async (_n, params) => {
      expect(await echo(params)).toBe(result(params));
    });
    it.each([["01"], ["1."], [".5"], ["+1"], ["-"], ["1e"], ["1e+"], ["0x10"], ["NaN"], ["Infinity"], ["--1"]])("refuses %s (-32700)", async (n) => {
      expect(await echo(`[${n}]`)).toBe(PARSE_ERROR);
    });
  });

  describe("structure", () => {
    it("drops insignificant whitespace", async () => {
      expect(await echo(' [ 1 ,\n\t{ "a" : [ ] , "b" : { } } , true , false , null ] ')).toBe(result('[1,{"a":[],"b":{}},true,false,null]'));
    });
    it.each([
      ["[1,]"],
      ["[,1]"],
      ['{"a":1,}'],
      ['{"a"}'],
      ['{"a":}'],
      ["{1:2}"],
      ["[1 2]"],
      ['{"a":1 "b":2}'],
      ["[}"],
      ["{]"],
      ["[tru]"],
      ["[nul]"],
      ["[falsy]"],
    ])("refuses %s (-32700)", async (params) => {
      expect(await echo(params)).toBe(PARSE_ERROR);
    });
    it("keeps duplicate keys inside params as written", async () => {
      expect(await echo('{"a":1,"a":2}')).toBe(result('{"a":1,"a":2}'));
    });
    it("refuses a duplicated request member (ambiguous which one wins)", async () => {
      expect(await device.handleRpc('{"jsonrpc":"2.0","method":"echo","params":[1],"params":[2],"id":1}')).toBe(
        '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":1}',
      );
    });
    it("accepts the nesting limit (32 levels) and refuses 33", async () => {
      const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
      expect(await echo(nest(31))).toBe(result(nest(31))); // + the request object = 32
      expect(JSON.parse((await echo(nest(32)))!).error).toEqual({ code: -32000, message: "Request too large", data: { limit: "depth", max: 32 } });
    });
    it("refuses deep nesting far past the limit without a trap", async () => {
      const deep = "[".repeat(100000);
      const d = new Device({ id: "deep", engine, limits: { requestMax: 200000 } });
      expect(JSON.parse((await d.handleRpc(deep))!).error.code).toBe(-32000);
    });
  });

  it("echo re-writes any JSON value exactly as JSON.stringify does", async () => {
    await fc.assert(
      // Well-formed Unicode strings (JSON.stringify writes them raw, as UTF-8 in the request).
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6, stringUnit: "grapheme" }), fc.constantFrom(undefined, 1, 2, "\t"), async (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const response = await echo(`[${text}]`);
        expect(response).toBe(result(`[${JSON.stringify(value)}]`));
      }),
      { numRuns: engine === "v8" ? 300 : 100 },
    );
  });

  it("decodes any escaped method name as JSON.parse does", async () => {
    // Every character of "echo" escaped or not, any hex case: it is still echo.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.boolean(), async (escaped, upper) => {
        const hex = (ch: string) => ch.charCodeAt(0).toString(16).padStart(4, "0")[upper ? "toUpperCase" : "toLowerCase"]();
        const name = [..."echo"].map((ch, i) => (escaped[i] ? `\\u${hex(ch)}` : ch)).join("");
        const text = `{"jsonrpc":"2.0","method":"${name}","params":[1],"id":1}`;
        expect(JSON.parse(text).method).toBe("echo");
        expect(await device.handleRpc(text)).toBe('{"jsonrpc":"2.0","result":[1],"id":1}');
      }),
    );
  });

  it("decodes surrogate pairs in method names to UTF-8", async () => {
    const d = new Device({ id: "u", engine, methods: { "\u{1F600}.ping": () => "pong" } });
    expect(await d.handleRpc('{"jsonrpc":"2.0","method":"\\ud83d\\ude00.ping","id":1}')).toBe('{"jsonrpc":"2.0","result":"pong","id":1}');
    expect(await d.handleRpc('{"jsonrpc":"2.0","method":"\u{1F600}.ping","id":2}')).toBe('{"jsonrpc":"2.0","result":"pong","id":2}');
  });
});
