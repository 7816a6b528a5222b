// JSON-RPC 2.0 dispatcher: the specification's own examples (section 7), byte for
// byte, then every error code the module names, under V8 and wasm3.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ABI_VERSION } from "../host/abi.ts";
import { Device, RpcError } from "../host/device.ts";
import { instantiateBytes, ENGINES } from "./support/engines.ts";
import { wasmBytes } from "../host/engine.ts";
import { compact, expectValidResponse } from "./support/rpc.ts";

// The methods the specification's examples call.
const specMethods = () => {
  const calls: string[] = [];
  const methods = {
    subtract: (p: any) => (Array.isArray(p) ? p[0] - p[1] : p.minuend - p.subtrahend),
    sum: (p: number[]) => p.reduce((a, b) => a + b, 0),
    update: (p: unknown) => void calls.push(`update ${JSON.stringify(p)}`),
    notify_hello: (p: unknown) => void calls.push(`notify_hello ${JSON.stringify(p)}`),
    notify_sum: (p: unknown) => void calls.push(`notify_sum ${JSON.stringify(p)}`),
    get_data: () => ["hello", 5],
  };
  return { methods, calls };
};

describe.each(ENGINES)("JSON-RPC under %s", (engine) => {
  describe("the specification's examples", () => {
    const { methods, calls } = specMethods();
    const device = new Device({ id: "spec", engine, methods });
    const examples: Array<[string, string, string | null]> = [
      ["positional params", '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}', '{"jsonrpc": "2.0", "result": 19, "id": 1}'],
      ["positional params, reversed", '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}', '{"jsonrpc": "2.0", "result": -19, "id": 2}'],
      [
        "named params",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
        '{"jsonrpc": "2.0", "result": 19, "id": 3}',
      ],
      [
        "named params, reordered",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
        '{"jsonrpc": "2.0", "result": 19, "id": 4}',
      ],
      ["a notification", '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', null],
      ["a notification of an unknown method", '{"jsonrpc": "2.0", "method": "foobar"}', null],
      [
        "a non-existent method",
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}',
      ],
      [
        "invalid JSON",
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        '{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}',
      ],
      [
        "an invalid Request object",
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}',
      ],
      [
        "a batch with invalid JSON",
        '[\n  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n  {"jsonrpc": "2.0", "method"\n]',
        '{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}',
      ],
      ["an empty array", "[]", '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}'],
      ["an invalid batch of one", "[1]", '[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]'],
      [
        "an invalid batch",
        "[1,2,3]",
        '[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},' +
          '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},' +
          '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]',
      ],
      [
        "a batch",
        `[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]`,
        `[
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ]`,
      ],
      [
        "a batch of notifications only",
        '[\n  {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},\n  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}\n]',
        null,
      ],
    ];
    it.each(examples)("%s", async (_name, request, expected) => {
      const response = await device.handleRpc(request);
      expect(response).toBe(expected === null ? null : compact(expected));
    });
    it.each([
      ["a request then a notification", '[{"jsonrpc":"2.0","method":"get_data","id":1},{"jsonrpc":"2.0","method":"update"}]'],
      ["a notification then a request", '[{"jsonrpc":"2.0","method":"update"},{"jsonrpc":"2.0","method":"get_data","id":1}]'],
    ])("a batch of %s answers the request alone", async (_n, batch) => {
      expect(await device.handleRpc(batch)).toBe('[{"jsonrpc":"2.0","result":["hello",5],"id":1}]');
      expect(calls.pop()).toBe("update undefined"); // the notification ran
    });
    it("ran every notification, once", () => {
      expect(calls).toEqual(["update [1,2,3,4,5]", "notify_hello [7]", "notify_sum [1,2,4]", "notify_hello [7]"]);
    });
  });

  describe("ids", () => {
    const device = new Device({ id: "ids", engine });
    it.each([
      ["a number", "1"],
      ["a 64-bit number", "18446744073709551615"],
      ["a huge number", "123456789012345678901234567890123456789"],
      ["a fraction with exponent", "-1.25e-300"],
      ["a string", '"abc"'],
      ["a string with escapes, kept as written", '"\\u0041\\n\\ud83d\\ude00"'],
      ["null", "null"],
    ])("echoes %s exactly", async (_name, id) => {
      expect(await device.handleRpc(`{"jsonrpc":"2.0","method":"echo","params":[],"id":${id}}`)).toBe(`{"jsonrpc":"2.0","result":[],"id":${id}}`);
    });
    it.each([
      ["an object", "{}"],
      ["an array", "[1]"],
      ["a boolean", "true"],
    ])("refuses %s as id (-32600, id null)", async (_n, id) => {
      expect(await device.handleRpc(`{"jsonrpc":"2.0","method":"echo","id":${id}}`)).toBe(
        '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}',
      );
    });
  });

  describe("the error matrix", () => {
    const device = new Device({
      id: "errors",
      engine,
      methods: {
        fails: () => {
          throw new Error("boom");
        },
        failsCoded: () => {
          throw new RpcError(-32050, "Sensor offline", { sensor: 3 });
        },
        badParams: () => {
          throw new RpcError(-32602, "Invalid params", "need [pin, level]");
        },
        failsAsync: async () => {
          throw new RpcError(-32099, "Later");
        },
        bigint: () => 1n,
      },
    });
    const err = (code: number, message: string, id = "null", data?: string) =>
      `{"jsonrpc":"2.0","error":{"code":${code},"message":"${message}"${data ? `,"data":${data}` : ""}},"id":${id}}`;
    const invalidUtf8 = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","method":"echo","params":["'), Buffer.from([0xff]), Buffer.from('"],"id":1}')]);
    const cases: Array<[string, string | Uint8Array, string]> = [
      ["-32700 for a syntax error", "{", err(-32700, "Parse error")],
      ["-32700 for trailing garbage", '{"jsonrpc":"2.0","method":"echo","id":1} x', err(-32700, "Parse error")],
      ["-32700 for two values", '{"jsonrpc":"2.0","method":"echo","id":1}{}', err(-32700, "Parse error")],
      ["-32700 for invalid UTF-8", invalidUtf8, err(-32700, "Parse error")],
      ["-32700 for an empty request", "", err(-32700, "Parse error")],
      ["-32700 for whitespace only", " \n\t ", err(-32700, "Parse error")],
      ["-32600 for a number", "42", err(-32600, "Invalid Request")],
      ["-32600 for null", "null", err(-32600, "Invalid Request")],
      ["-32600 for a missing jsonrpc", '{"method":"echo","id":1}', err(-32600, "Invalid Request", "1")],
      ['-32600 for jsonrpc "1.0"', '{"jsonrpc":"1.0","method":"echo","id":1}', err(-32600, "Invalid Request", "1")],
      ["-32600 for jsonrpc 2.0 as a number", '{"jsonrpc":2.0,"method":"echo","id":1}', err(-32600, "Invalid Request", "1")],
      ["-32600 for a missing method", '{"jsonrpc":"2.0","id":1}', err(-32600, "Invalid Request", "1")],
      ["-32600 for params as a string", '{"jsonrpc":"2.0","method":"echo","params":"x","id":1}', err(-32600, "Invalid Request", "1")],
      ["-32600 for params null", '{"jsonrpc":"2.0","method":"echo","params":null,"id":1}', err(-32600, "Invalid Request", "1")],
      ["-32600 for a duplicated method", '{"jsonrpc":"2.0","method":"echo","method":"x","id":1}', err(-32600, "Invalid Request", "1")],
      ["-32600 with id null for a duplicated id (which one is unknown)", '{"jsonrpc":"2.0","method":"echo","id":1,"id":2}', err(-32600, "Invalid Request")],
      ["-32600 for a nested batch entry", "[[]]", `[${err(-32600, "Invalid Request")}]`],
      ["-32600 for an invalid request without id (still answered)", '{"jsonrpc":"2.0"}', err(-32600, "Invalid Request")],
      ["-32601 for an unknown method", '{"jsonrpc":"2.0","method":"nope","id":7}', err(-32601, "Method not found", "7")],
      ["-32601 for a name longer than 64 bytes", `{"jsonrpc":"2.0","method":"${"m".repeat(65)}","id":7}`, err(-32601, "Method not found", "7")],
      ["-32601 for a prototype name", '{"jsonrpc":"2.0","method":"toString","id":7}', err(-32601, "Method not found", "7")],
      ["-32602 for rpc.list with params", '{"jsonrpc":"2.0","method":"rpc.list","params":[1],"id":2}', err(-32602, "Invalid params", "2")],
      ["-32602 for sys.info with params", '{"jsonrpc":"2.0","method":"sys.info","params":{"a":1},"id":2}', err(-32602, "Invalid params", "2")],
      ["-32602 from a host method", '{"jsonrpc":"2.0","method":"badParams","params":[],"id":2}', err(-32602, "Invalid params", "2", '"need [pin, level]"')],
      [
        "-32602 from config.set without an object",
        '{"jsonrpc":"2.0","method":"config.set","params":[1],"id":2}',
        err(-32602, "Invalid params", "2", '"expected an object of keys to set"'),
      ],
      ["-32000 from a method that throws", '{"jsonrpc":"2.0","method":"fails","id":3}', err(-32000, "boom", "3")],
      ["-32000 from a result JSON cannot hold", '{"jsonrpc":"2.0","method":"bigint","id":3}', err(-32000, "Do not know how to serialize a BigInt", "3")],
      ["a device code with data", '{"jsonrpc":"2.0","method":"failsCoded","id":3}', err(-32050, "Sensor offline", "3", '{"sensor":3}')],
      ["a device code from an async method", '{"jsonrpc":"2.0","method":"failsAsync","id":3}', err(-32099, "Later", "3")],
    ];
    it.each(cases)("%s", async (_name, request, expected) => {
      const response = await device.handleRpc(request);
      expect(response).toBe(expected);
      expectValidResponse(response);
    });
  });

  describe("limits", () => {
    const device = new Device({
      id: "limits",
      engine,
      limits: { requestMax: 512, responseMax: 256, maxTokens: 32, maxDepth: 4 },
      methods: { big: () => "x".repeat(300), small: () => "ok" },
    });
    const tooLarge = (limit: string, max: number, id = "null") =>
      `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Request too large","data":{"limit":"${limit}","max":${max}}},"id":${id}}`;
    const respTooLarge = (id: string) => `{"jsonrpc":"2.0","error":{"code":-32001,"message":"Response too large","data":{"max":256}},"id":${id}}`;
    it("-32000 for a request over the byte limit, nothing copied (so its id cannot be read: null)", async () => {
      expect(await device.handleRpc(`{"jsonrpc":"2.0","method":"echo","params":["${"a".repeat(600)}"],"id":1}`)).toBe(tooLarge("bytes", 512));
    });
    it("accepts nesting up to the depth limit", async () => {
      expect(await device.handleRpc('{"jsonrpc":"2.0","method":"echo","params":[[[1]]],"id":1}')).toBe('{"jsonrpc":"2.0","result":[[[1]]],"id":1}');
    });
    it("-32000 for nesting one deeper, with the id when it comes before the params", async () => {
      expect(await device.handleRpc('{"jsonrpc":"2.0","id":1,"method":"echo","params":[[[[1]]]]}')).toBe(tooLarge("depth", 4, "1"));
      expect(await device.handleRpc('{"id" : "a\\"b", "params":[[[[1]]]]}')).toBe(tooLarge("depth", 4, '"a\\"b"'));
      // After them it was never read: null.
      expect(await device.handleRpc('{"jsonrpc":"2.0","method":"echo","params":[[[[1]]]],"id":1}')).toBe(tooLarge("depth", 4));
    });
    it("-32000 for too many tokens, with the id", async () => {
      const params = Array.from({ length: 40 }, (_, i) => i).join(",");
      expect(await device.handleRpc(`{"jsonrpc":"2.0","id":12345678901234567890,"method":"echo","params":[${params}]}`)).toBe(
        tooLarge("tokens", 32, "12345678901234567890"),
      );
    });
    it("-32000 echoes any string or number id before the params byte for byte (fast-check)", async () => {
      const id = fc.oneof(
        fc.string({ unit: "grapheme", maxLength: 20 }).map((v) => JSON.stringify(v)),
        fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => JSON.stringify(v)),
        fc.bigInt().map(String),
      );
      const space = fc.constantFrom("", " ", "\n\t ");
      await fc.assert(
        fc.asyncProperty(id, space, fc.boolean(), async (idText, ws, idFirst) => {
          const member = `"id"${ws}:${ws}${idText}`;
          const params = `"params":{"id":0,"deep":[[[[1]]]]}`; // its own "id" is not the request's
          const request = `{${ws}"jsonrpc":"2.0",${idFirst ? `${member},${params}` : `${params},${member}`}${ws}}`;
          expect(await device.handleRpc(request)).toBe(tooLarge("depth", 4, idFirst ? idText : "null"));
        }),
        { numRuns: 200 },
      );
    });
    it("-32000 with id null when the top-level id cannot be read: only nested, a batch, not a string or number, malformed", async () => {
      const deep = "[[[[1]]]]";
      for (const request of [
        `{"jsonrpc":"2.0","method":"echo","params":{"id":5,"x":${deep}}}`, // an id inside params is not the request's
        `[{"jsonrpc":"2.0","method":"echo","params":${deep},"id":1}]`, // a batch has no one id
        `{"method":"id","params":${deep}}`, // "id" as a value, not a key
        `{"id":true,"params":${deep}}`,
        `{"id":{"a":1},"params":${deep}}`,
        `{"id":null,"params":${deep}}`,
        `{"jsonrpc":"2.0","params":${deep},"id":1}`, // after the member the tokenizer stopped in
      ])
        expect(await device.handleRpc(request)).toBe(tooLarge("depth", 4));
    });
    it("-32001 when a module result does not fit, with the id", async () => {
      expect(await device.handleRpc(`{"jsonrpc":"2.0","method":"echo","params":["${"a".repeat(300)}"],"id":"q"}`)).toBe(respTooLarge('"q"'));
    });
    it("-32001 when a host result does not fit", async () => {
      expect(await device.handleRpc('{"jsonrpc":"2.0","method":"big","id":5}')).toBe(respTooLarge("5"));
    });
    it("a batch that overflows answers one -32001 with id null, and still runs every entry", async () => {
      let runs = 0;
      const d = new Device({ id: "b", engine, limits: { responseMax: 128 }, methods: { count: () => ++runs } });
      const entry = (i: number) => `{"jsonrpc":"2.0","method":"count","id":${i}}`;
      const batch = `[${[1, 2, 3, 4].map(entry).join(",")}]`;
      expect(await d.handleRpc(batch)).toBe('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Response too large","data":{"max":128}},"id":null}');
      expect(runs).toBe(4);
    });
    it("-32001 for one batch entry that does not fit, the others answered", async () => {
      const d = new Device({ id: "b2", engine, limits: { responseMax: 300 }, methods: { big: () => "x".repeat(250) } });
      expect(await d.handleRpc('[{"jsonrpc":"2.0","method":"echo","params":[1],"id":1},{"jsonrpc":"2.0","method":"big","id":2}]')).toBe(
        '[{"jsonrpc":"2.0","result":[1],"id":1},{"jsonrpc":"2.0","error":{"code":-32001,"message":"Response too large","data":{"max":300}},"id":2}]',
      );
    });
    it("echoes params nested to a host-raised depth limit of 65535 without a trap", async () => {
      const d = new Device({ id: "deep", engine, limits: { requestMax: 1 << 18, responseMax: 1 << 18, maxTokens: 65535, maxDepth: 65535 } });
      for (const depth of [11, 14, 1000, 65000]) {
        const params = "[".repeat(depth) + "]".repeat(depth);
        expect(await d.handleRpc(`{"jsonrpc":"2.0","id":9,"method":"echo","params":${params}}`)).toBe(`{"jsonrpc":"2.0","result":${params},"id":9}`);
      }
      const spaced = '[ { "a" : [ 1 , "x \\" ]" ] } , "s p" ]';
      expect(await d.handleRpc(`{"jsonrpc":"2.0","id":1,"method":"echo","params":${spaced}}`)).toBe(
        '{"jsonrpc":"2.0","result":[{"a":[1,"x \\" ]"]},"s p"],"id":1}',
      );
    });
    it("answers normally after each limit", async () => {
      expect(await device.handleRpc('{"jsonrpc":"2.0","method":"small","id":1}')).toBe('{"jsonrpc":"2.0","result":"ok","id":1}');
    });
  });

  describe("host methods", () => {
    it("routes unknown names to the host and awaits async ones, calling each exactly once", async () => {
      const seen: string[] = [];
      const device = new Device({
        id: "async",
        engine,
        methods: {
          "gpio.write": async (p: [number, number]) => {
            seen.push(`gpio.write ${p}`);
            await new Promise((r) => setTimeout(r, 5));
            return { pin: p[0], level: p[1] };
          },
          now: () => (seen.push("now"), 42),
        },
      });
      const response = await device.handleRpc(
        '[{"jsonrpc":"2.0","method":"gpio.write","params":[2,1],"id":1},{"jsonrpc":"2.0","method":"now","id":2},' +
          '{"jsonrpc":"2.0","method":"gpio.write","params":[3,0]},{"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":3}]',
      );
      expect(response).toBe(
        '[{"jsonrpc":"2.0","result":{"pin":2,"level":1},"id":1},{"jsonrpc":"2.0","result":42,"id":2},{"jsonrpc":"2.0","result":{"a":1},"id":3}]',
      );
      expect(seen).toEqual(["gpio.write 2,1", "now", "gpio.write 3,0"]);
    });
    it("concurrent requests with async methods do not mix", async () => {
      const device = new Device({
        id: "conc",
        engine,
        methods: { wait: async (p: [number]) => (await new Promise((r) => setTimeout(r, p[0])), p[0]) },
      });
      const req = (ms: number) => device.handleRpc(`{"jsonrpc":"2.0","method":"wait","params":[${ms}],"id":${ms}}`);
      expect(await Promise.all([req(20), req(1), req(10)])).toEqual([20, 1, 10].map((ms) => `{"jsonrpc":"2.0","result":${ms},"id":${ms}}`));
    });
    it("refuses host methods named rpc.*", () => {
      expect(() => new Device({ id: "r", engine, methods: { "rpc.x": () => 1 } })).toThrow(/reserved/);
    });
  });

  describe("built-in methods", () => {
    const device = new Device({
      id: "builtins",
      engine,
      board: "test-board",
      config: { interval: 5 },
      methods: { "gpio.write": { handler: () => true, description: "Sets a pin", params: { type: "array", items: { type: "integer" } } } },
    });
    const call = async (method: string, params?: string) =>
      JSON.parse((await device.handleRpc(`{"jsonrpc":"2.0","method":"${method}"${params ? `,"params":${params}` : ""},"id":1}`))!);
    it("rpc.list lists the module's and the host's methods with descriptions and schemas", async () => {
      const { result } = await call("rpc.list");
      expect(result.map((m: any) => m.name)).toEqual(["echo", "rpc.list", "sys.info", "config.get", "config.set", "gpio.write"]);
      for (const m of result) {
        expect(typeof m.description).toBe("string");
        expect(typeof m.params).toBe("object");
      }
      expect(result[5]).toEqual({ name: "gpio.write", description: "Sets a pin", params: { type: "array", items: { type: "integer" } } });
    });
    it("sys.info reports version, engine, uptime, memory and board", async () => {
      const { result } = await call("sys.info", "[]");
      expect(result).toMatchObject({ version: "0.1.0", abi: ABI_VERSION, engine, board: "test-board" });
      expect(result.uptime_ms).toBeGreaterThanOrEqual(0);
      expect(result.memory_used).toBeGreaterThan(0);
      expect(result.memory_used).toBeLessThanOrEqual(result.memory_size);
      expect(result.memory_size).toBeLessThanOrEqual(result.memory_limit);
    });
    it("config.get / config.set keep the config on the host", async () => {
      expect((await call("config.get")).result).toEqual({ interval: 5 });
      expect((await call("config.set", '{"interval":10,"name":"x","__proto__":{"polluted":true}}')).result).toMatchObject({ interval: 10, name: "x" });
      expect((await call("config.get", '["interval"]')).result).toBe(10);
      expect((await call("config.get", '{"key":"missing"}')).result).toBe(null);
      expect(({} as any).polluted).toBeUndefined();
      expect(device.methods.config.interval).toBe(10);
    });
  });
});

describe("the raw ABI", () => {
  // The module straight from its bytes, with a host_call that breaks the contract.
  const raw = (hostCall: (...a: number[]) => number) => {
    const m = instantiateBytes("v8", wasmBytes(), {
      env: {
        abort: () => {
          throw new Error("abort");
        },
      },
      outpost: { log: () => {}, host_call: hostCall },
    });
    return m;
  };
  // rpc_init returns the address of u32 request buffer, u32 response buffer.
  const init = (m: ReturnType<typeof raw>) => m.exports.rpc_init(256, 256, 32, 8, 0);
  const run = (m: ReturnType<typeof raw>, block: number, text: string) => {
    const [request, response] = new Uint32Array(m.memory.buffer, block, 2);
    const bytes = Buffer.from(text);
    new Uint8Array(m.memory.buffer, request, bytes.length).set(bytes);
    const len = m.exports.rpc_handle(bytes.length, 0);
    return Buffer.from(m.memory.buffer, response, len).toString();
  };
  it("rpc_handle before rpc_init is NotInitialized (-40)", () => {
    expect(raw(() => 0).exports.rpc_handle(0, 0)).toBe(-40);
  });
  it("rpc_init twice is AlreadyInitialized (-41)", () => {
    const m = raw(() => 0);
    expect(init(m)).toBeGreaterThan(0);
    expect(init(m)).toBe(-41);
  });
  it("-32603 when the host answers an unknown status kind", () => {
    const m = raw(() => 7 << 24);
    expect(run(m, init(m), '{"jsonrpc":"2.0","method":"x","id":1}')).toBe('{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":1}');
  });
  it("-32603 when the host claims more bytes than it was given", () => {
    const m = raw(() => 0xffffff);
    expect(run(m, init(m), '{"jsonrpc":"2.0","method":"x","id":1}')).toBe('{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":1}');
  });
  it("a pending answer writes a null placeholder (the host re-runs the request)", () => {
    const m = raw(() => 3 << 24);
    expect(run(m, init(m), '{"jsonrpc":"2.0","method":"x","id":1}')).toBe('{"jsonrpc":"2.0","result":null,"id":1}');
  });
});
