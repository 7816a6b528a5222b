// A params JSON Schema as form fields: each property of an object schema becomes one input of the kind its
// schema calls for; anything a plain input cannot hold (nested objects, arrays, no schema) is typed as JSON.
export type FieldKind = "enum" | "integer" | "number" | "boolean" | "string" | "json";

export interface Field {
  name: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  options?: unknown[];
}

const typesOf = (s: any): string[] => (Array.isArray(s?.type) ? s.type : typeof s?.type === "string" ? [s.type] : []);

export function kindOf(s: any): FieldKind {
  if (Array.isArray(s?.enum)) return "enum";
  if (s?.const !== undefined) return "enum";
  const types = typesOf(s).filter((t) => t !== "null");
  if (types.length !== 1) return "json";
  return (["integer", "number", "boolean", "string"] as const).find((k) => k === types[0]) ?? "json";
}

/** How a method's params are entered: none at all, named fields, or one JSON text. */
export type ParamsForm = { kind: "none" } | { kind: "fields"; fields: Field[] } | { kind: "json" };

export function paramsForm(schema: any): ParamsForm {
  if (schema?.maxItems === 0 && !schema.properties) return { kind: "none" };
  if (schema?.properties && typeof schema.properties === "object") {
    const required = new Set<string>(Array.isArray(schema.required) ? schema.required : []);
    const fields = Object.entries<any>(schema.properties).map(([name, s]) => ({
      name,
      kind: kindOf(s),
      required: required.has(name),
      description: typeof s?.description === "string" ? s.description : undefined,
      options: Array.isArray(s?.enum) ? s.enum : s?.const !== undefined ? [s.const] : undefined,
    }));
    return { kind: "fields", fields };
  }
  return { kind: "json" };
}

/** A field's typed value from what was typed (undefined: left empty, so not sent). Throws on bad JSON. */
export function typedValue(field: Field, text: string): unknown {
  if (text === "") return undefined;
  switch (field.kind) {
    case "integer":
    case "number":
      return Number(text); // not rounded or checked here: the backend's schema check names what is wrong
    case "boolean":
      return text === "true";
    case "string":
      return text;
    default:
      return JSON.parse(text);
  }
}
