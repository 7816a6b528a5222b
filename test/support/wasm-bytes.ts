// A tiny WebAssembly binary writer for hand-assembled test modules (traps, missing
// imports, bulk-memory ops): just the sections those tests need.
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/** Signed LEB128, as i32.const immediates take. */
export function sleb128(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

/** An AssemblyScript string as it sits in memory: byte length (u32), then UTF-16LE. */
export function asString(text: string): Uint8Array {
  const utf16 = Buffer.from(text, "utf16le");
  const out = Buffer.alloc(4 + utf16.length);
  out.writeUInt32LE(utf16.length, 0);
  utf16.copy(out, 4);
  return out;
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => {
  const bytes = [...Buffer.from(s, "utf8")];
  return [...uleb(bytes.length), ...bytes];
};
const section = (id: number, body: number[]): number[] => (body.length ? [id, ...uleb(body.length), ...body] : []);

export interface FuncType {
  params: number[];
  results: number[];
}

export interface ModuleSpec {
  types: FuncType[];
  imports?: { module: string; name: string; type: number }[];
  /** Defined functions: type index, local declarations (count, type), body opcodes without `end`. */
  functions?: { type: number; locals?: [number, number][]; body: number[]; export?: string; name?: string }[];
  memory?: { min: number; max?: number; export?: string };
  /** Active data segments in memory 0. */
  data?: { offset: number; bytes: Uint8Array }[];
}

export function assemble(spec: ModuleSpec): Uint8Array {
  const imports = spec.imports ?? [];
  const functions = spec.functions ?? [];
  const types = spec.types.map((t) => [0x60, ...vec(t.params.map((p) => [p])), ...vec(t.results.map((r) => [r]))]);
  const importEntries = imports.map((i) => [...name(i.module), ...name(i.name), 0x00, ...uleb(i.type)]);
  const exports: number[][] = [];
  functions.forEach((f, i) => f.export && exports.push([...name(f.export), 0x00, ...uleb(imports.length + i)]));
  if (spec.memory?.export) exports.push([...name(spec.memory.export), 0x02, 0x00]);
  const memory = spec.memory
    ? [spec.memory.max === undefined ? [0x00, ...uleb(spec.memory.min)] : [0x01, ...uleb(spec.memory.min), ...uleb(spec.memory.max)]]
    : [];
  const code = functions.map((f) => {
    const body = [...vec((f.locals ?? []).map(([n, t]) => [...uleb(n), t])), ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  const data = (spec.data ?? []).map((d) => [0x00, 0x41, ...sleb128(d.offset), 0x0b, ...uleb(d.bytes.length), ...d.bytes]);
  const named = functions.map((f, i) => [imports.length + i, f.name] as const).filter(([, n]) => n);
  // "name" custom section, function-names subsection (id 1): lets traps name functions.
  const nameMap = vec(named.map(([i, n]) => [...uleb(i), ...name(n!)]));
  const names = named.length ? section(0, [...name("name"), 0x01, ...uleb(nameMap.length), ...nameMap]) : [];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, importEntries.length ? vec(importEntries) : []),
    ...section(3, functions.length ? vec(functions.map((f) => uleb(f.type))) : []),
    ...section(5, memory.length ? vec(memory) : []),
    ...section(7, exports.length ? vec(exports) : []),
    ...section(10, code.length ? vec(code) : []),
    ...section(11, data.length ? vec(data) : []),
    ...names,
  ]);
}

// Opcodes the tests use.
export const op = {
  unreachable: 0x00,
  call: 0x10,
  localGet: 0x20,
  i32Load: [0x28, 0x02, 0x00],
  i32Store: [0x36, 0x02, 0x00],
  memorySize: [0x3f, 0x00],
  memoryGrow: [0x40, 0x00],
  i32Const: 0x41,
  i32Add: 0x6a,
  i32DivS: 0x6d,
  i64Add: 0x7c,
  f64Mul: 0xa2,
  i32Extend8S: 0xc0,
  memoryCopy: [0xfc, 0x0a, 0x00, 0x00],
  memoryFill: [0xfc, 0x0b, 0x00],
} as const;
