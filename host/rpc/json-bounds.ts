// Bounds on JSON that arrives from a device or a caller, checked over the raw text before JSON.parse: V8's
// JSON.stringify recurses, so a value nested 20,000 deep that was parsed would overflow the stack when the
// backend writes it again (outside any try). Refusing it here, by name, keeps that one message's failure local.

/** Deepest nesting of arrays and objects accepted (devices default to 32). */
export const MAX_JSON_DEPTH = 64;

export class JsonTooDeep extends Error {
  override name = "JsonTooDeep";
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/** Throws JsonTooDeep when `text` nests deeper than maxDepth; one pass, no allocation (UTF-8 bytes or a string). */
export function checkJsonDepth(text: string | Uint8Array, maxDepth = MAX_JSON_DEPTH): void {
  const str = typeof text === "string";
  const n = text.length;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < n; i++) {
    const c = str ? (text as string).charCodeAt(i) : (text as Uint8Array)[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) throw new JsonTooDeep(`JSON nested deeper than ${maxDepth} levels`);
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
}

/** JSON.parse after the depth check: throws JsonTooDeep or SyntaxError, never overflows later when written again. */
export function parseBoundedJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  checkJsonDepth(text, maxDepth);
  return JSON.parse(text);
}
