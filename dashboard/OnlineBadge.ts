// A device's state as a word and a colour (never colour alone).
import { html } from "./html.ts";

export function OnlineBadge({ online, suspect }: { online: boolean; suspect?: boolean }) {
  const state = online ? (suspect ? "suspect" : "online") : "offline";
  return html`<span class=${`badge ${state}`} data-state=${state}>${state}</span>`;
}
