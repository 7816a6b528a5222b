// Sign-in with an API key: POST /api/v1/session turns it into an httpOnly cookie; the key is not kept here.
import { useState } from "preact/hooks";
import { signIn } from "./api.ts";
import { html } from "./html.ts";

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await signIn(key.trim());
      setKey("");
      onSignedIn();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return html`
    <form class="signin card" onSubmit=${submit}>
      <h1>outpost</h1>
      <label>API key <input name="key" type="password" autocomplete="off" placeholder="opk_…" value=${key} onInput=${(e: any) => setKey(e.currentTarget.value)} required /></label>
      <button type="submit">Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <p class="hint">Create one with <code>outpost key create</code>; <code>npm start</code> prints one.</p>
    </form>
  `;
}
