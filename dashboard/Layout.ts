// The frame of every page: a header with the navigation (a menu button at phone width) and sign-out.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { html } from "./html.ts";
import { PAGES } from "./pages.ts";
import { href } from "./router.ts";

export function Layout({ current, onSignOut, children }: { current: string; onSignOut: () => void; children: ComponentChildren }) {
  const [open, setOpen] = useState(false);
  return html`
    <header class="top">
      <a class="brand" href=${href("devices")}>outpost</a>
      <button class="menu" aria-label="menu" aria-expanded=${open} onClick=${() => setOpen(!open)}>☰</button>
      <nav class=${open ? "nav open" : "nav"} onClick=${() => setOpen(false)}>
        ${PAGES.map((p) => html`<a href=${href(p.route)} class=${p.route === current ? "active" : ""} data-page=${p.route}>${p.label}</a>`)}
        <button class="link" onClick=${onSignOut}>Sign out</button>
      </nav>
    </header>
    <main>${children}</main>
  `;
}
