// The dashboard: signed in (GET /session answers) or the sign-in form; then the page the hash names.
import { useEffect, useState } from "preact/hooks";
import { SIGNED_OUT, signOut, whoAmI } from "./api.ts";
import { DeviceList } from "./DeviceList.ts";
import { DevicePage } from "./DevicePage.ts";
import { html } from "./html.ts";
import { Layout } from "./Layout.ts";
import { PAGES } from "./pages.ts";
import { AuditPage } from "./AuditPage.ts";
import { JobsPage } from "./JobsPage.ts";
import { KeysPage } from "./KeysPage.ts";
import { ReleasesPage } from "./ReleasesPage.ts";
import { useRoute } from "./router.ts";
import { SignIn } from "./SignIn.ts";

export function App() {
  const [signedIn, setSignedIn] = useState<boolean | null>(null);
  const route = useRoute();
  useEffect(() => {
    whoAmI().then(
      () => setSignedIn(true),
      () => setSignedIn(false),
    );
    const ended = () => setSignedIn(false);
    addEventListener(SIGNED_OUT, ended);
    return () => removeEventListener(SIGNED_OUT, ended);
  }, []);
  if (signedIn === null) return html`<p class="hint">Loading…</p>`;
  if (!signedIn) return html`<${SignIn} onSignedIn=${() => setSignedIn(true)} />`;
  const [page, id] = route;
  const entry = PAGES.find((p) => p.route === page);
  const PAGE_BODIES: Record<string, () => unknown> = { releases: ReleasesPage, jobs: JobsPage, keys: KeysPage, audit: AuditPage };
  const body =
    page === "devices" && id ? html`<${DevicePage} id=${id} />` : !entry || !PAGE_BODIES[page] ? html`<${DeviceList} />` : html`<${PAGE_BODIES[page]} />`;
  const out = () => signOut().finally(() => setSignedIn(false));
  return html`<${Layout} current=${entry?.route ?? "devices"} onSignOut=${out}>${body}<//>`;
}
