// A page whose backend arrives with another branch: says what it will show and what it needs.
import { html } from "./html.ts";
import type { PageEntry } from "./pages.ts";

export function Pending({ page }: { page: PageEntry }) {
  return html`<section class="card"><h1>${page.label}</h1><p>Not available on this backend yet: this page needs ${page.pending}.</p></section>`;
}
