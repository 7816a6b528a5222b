// Type and range checks of a packet object before encode() touches module memory:
// a wrong field is a named error for that call, never a write at a wrong address.
import { MqttCodecError } from "./error.ts";

const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

function bad(code: string, errno: number, field: string, why: string): never {
  throw new MqttCodecError(code, errno, field, why);
}

/** InvalidField: the field has the wrong JS type or is not an integer (host-side, errno 0). */
export function badField(field: string, why: string): never {
  return bad("InvalidField", 0, field, why);
}

export function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/** A string field: a string, or a Buffer/Uint8Array holding UTF-8 (checked here). */
export function checkStr(x: unknown, field: string, optional = true): void {
  if (typeof x === "string") return;
  if (x === undefined && optional) return;
  if (isBytes(x)) {
    try {
      utf8Fatal.decode(x);
    } catch {
      bad("InvalidUtf8", 7, field, "the bytes are not UTF-8");
    }
    return;
  }
  badField(field, "expected a string or a Buffer of UTF-8");
}

/** A binary field: Buffer, Uint8Array or string (UTF-8); null and undefined are empty. */
export function checkBin(x: unknown, field: string): void {
  if (x === undefined || x === null || typeof x === "string" || isBytes(x)) return;
  badField(field, "expected a Buffer, Uint8Array or string");
}

/** An integer field in [0, max]; undefined allowed. A range error is `rangeCode`. */
export function checkInt(x: unknown, field: string, max: number, rangeCode = "InvalidField", rangeErrno = 0): void {
  if (x === undefined) return;
  if (typeof x !== "number" || !Number.isInteger(x)) badField(field, "expected an integer");
  if (x < 0 || x > max) bad(rangeCode, rangeErrno, field, `expected 0..${max}`);
}

const KIND_MAX: Record<string, number> = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, var: 268435455 };

/** One property value of the given kind (assembly/mqtt/properties.ts); every wrong value is InvalidPropertyValue. */
export function checkProp(name: string, kind: string, value: unknown): void {
  const field = `properties.${name}`;
  const wrong = (why: string): never => bad("InvalidPropertyValue", 16, field, why);
  switch (kind) {
    case "bool":
      if (typeof value !== "boolean" && value !== 0 && value !== 1) wrong("expected a boolean");
      return;
    case "str":
      if (typeof value !== "string" && !isBytes(value)) wrong("expected a string");
      if (isBytes(value)) checkStr(value, field);
      return;
    case "bin":
      if (typeof value !== "string" && !isBytes(value)) wrong("expected a Buffer, Uint8Array or string");
      return;
    case "pair":
      if (typeof value !== "object" || value === null || Array.isArray(value) || isBytes(value)) wrong("expected an object of strings");
      for (const key in value as object) {
        const vals = (value as Record<string, unknown>)[key];
        for (const v of Array.isArray(vals) ? vals : [vals]) {
          if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") wrong("expected string values");
        }
      }
      return;
    default: {
      const max = KIND_MAX[kind];
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) wrong(`expected an integer 0..${max}`);
    }
  }
}

function checkObject(x: unknown, field: string): void {
  if (typeof x !== "object" || x === null || Array.isArray(x) || isBytes(x)) badField(field, "expected an object");
}

/** Checks every field encode() reads of a non-PUBLISH-fast-path packet. */
export function checkPacket(p: Record<string, any>, props: (props: unknown, field: string) => void): void {
  checkInt(p.messageId, "messageId", 0xffff);
  checkInt(p.qos, "qos", 0xff);
  checkInt(p.reasonCode, "reasonCode", 0xff);
  checkInt(p.returnCode, "returnCode", 0xff);
  checkInt(p.protocolVersion, "protocolVersion", 0xff);
  if (p.properties !== undefined) props(p.properties, "properties");
  switch (p.cmd) {
    case "publish":
      checkStr(p.topic ?? undefined, "topic");
      checkBin(p.payload, "payload");
      break;
    case "connect": {
      checkStr(p.clientId, "clientId");
      checkStr(p.username, "username");
      checkStr(p.protocolId, "protocolId");
      checkBin(p.password, "password");
      if (p.keepalive !== undefined && (typeof p.keepalive !== "number" || !Number.isInteger(p.keepalive))) badField("keepalive", "expected an integer");
      const will = p.will;
      if (will !== undefined && will !== null) {
        checkObject(will, "will");
        checkStr(will.topic, "will.topic", false);
        checkBin(will.payload, "will.payload");
        checkInt(will.qos, "will.qos", 0xff);
        if (will.properties !== undefined) props(will.properties, "will.properties");
      }
      break;
    }
    case "subscribe":
    case "unsubscribe": {
      const name = p.cmd === "subscribe" ? "subscriptions" : "unsubscriptions";
      const list = p[name];
      if (list === undefined) break;
      if (!Array.isArray(list)) badField(name, "expected an array");
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (p.cmd === "unsubscribe") {
          checkStr(s, `${name}[${i}]`, false);
          continue;
        }
        checkObject(s, `${name}[${i}]`);
        checkStr(s.topic, `${name}[${i}].topic`, false);
        checkInt(s.qos, `${name}[${i}].qos`, 0xff);
        checkInt(s.rh, `${name}[${i}].rh`, 3, "ReservedFlags", 6);
      }
      break;
    }
    case "suback":
    case "unsuback": {
      const g = p.granted;
      if (g === undefined) break;
      if (!Array.isArray(g)) badField("granted", "expected an array");
      for (let i = 0; i < g.length; i++) checkInt(g[i], `granted[${i}]`, 0xff, "InvalidReasonCode", 18);
      break;
    }
  }
}

/** The fast PUBLISH path's fields. */
export function checkPublish(p: Record<string, any>): void {
  checkStr(p.topic ?? undefined, "topic");
  checkBin(p.payload, "payload");
  checkInt(p.messageId, "messageId", 0xffff);
  checkInt(p.qos, "qos", 0xff);
}
