// One device method: a form generated from its params schema (rpc.list), the call, and its answer.
import { useState } from "preact/hooks";
import { ApiError, callMethod, type MethodInfo } from "./api.ts";
import { html } from "./html.ts";
import { paramsForm, typedValue, type Field } from "./schema-fields.ts";

function Input({ field, value, onInput, invalid }: { field: Field; value: string; onInput: (v: string) => void; invalid: boolean }) {
  const common = { name: field.name, "aria-invalid": invalid, required: field.required, onInput: (e: any) => onInput(e.currentTarget.value) };
  if (field.kind === "enum" || field.kind === "boolean") {
    const options = field.kind === "boolean" ? [true, false] : field.options!;
    return html`<select ...${common} onChange=${common.onInput} value=${value}>
      <option value="">—</option>
      ${options.map((o) => {
        const text = field.kind === "boolean" ? String(o) : JSON.stringify(o);
        return html`<option value=${text}>${String(o)}</option>`;
      })}
    </select>`;
  }
  if (field.kind === "json") return html`<textarea ...${common} rows="2" placeholder="JSON" value=${value}></textarea>`;
  const type = field.kind === "string" ? "text" : "number";
  return html`<input ...${common} type=${type} step=${field.kind === "number" ? "any" : "1"} value=${value} />`;
}

export function MethodForm({ deviceId, method, disabled }: { deviceId: string; method: MethodInfo; disabled: boolean }) {
  const form = paramsForm(method.params);
  const [values, setValues] = useState<Record<string, string>>({});
  const [answer, setAnswer] = useState<{ ok: boolean; text: string; field?: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const params = (): unknown => {
    if (form.kind === "none") return undefined;
    if (form.kind === "json") return values[""] ? JSON.parse(values[""]) : undefined;
    const out: Record<string, unknown> = {};
    for (const f of form.fields) {
      const v = typedValue(f, values[f.name] ?? "");
      if (v !== undefined) out[f.name] = v;
    }
    return out;
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const res = await callMethod(deviceId, method.name, params());
      setAnswer(res.error ? { ok: false, text: JSON.stringify(res.error, null, 2) } : { ok: true, text: JSON.stringify(res.result, null, 2) });
    } catch (err) {
      if (err instanceof ApiError) setAnswer({ ok: false, text: `${err.status} ${err.body.error ?? ""}: ${err.message}`, field: err.body.field });
      else setAnswer({ ok: false, text: (err as Error).message }); // bad JSON typed
    } finally {
      setBusy(false);
    }
  };
  const set = (name: string) => (v: string) => setValues({ ...values, [name]: v });

  return html`
    <form class="method card" data-method=${method.name} onSubmit=${submit}>
      <h3><code>${method.name}</code></h3>
      ${method.description && html`<p class="hint">${method.description}</p>`}
      ${
        form.kind === "fields" &&
        form.fields.map(
          (f) => html`<label>
          <span>${f.name}${f.required ? " *" : ""} <small>${f.kind}</small></span>
          <${Input} field=${f} value=${values[f.name] ?? ""} onInput=${set(f.name)} invalid=${answer?.field === f.name} />
        </label>`,
        )
      }
      ${
        form.kind === "json" &&
        html`<label><span>params <small>JSON</small></span>
        <${Input} field=${{ name: "params", kind: "json", required: false }} value=${values[""] ?? ""} onInput=${set("")} invalid=${answer?.field === ""} /></label>`
      }
      <button type="submit" disabled=${disabled || busy}>${busy ? "Calling…" : "Call"}</button>
      ${answer && html`<pre class=${answer.ok ? "result ok" : "result failed"} role="status">${answer.text}</pre>`}
    </form>
  `;
}
