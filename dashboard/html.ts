// htm bound to Preact: tagged templates instead of JSX, so the sources need no JSX step and stay plain TypeScript.
export { html } from "htm/preact";
