// The navigation: one entry per page. Pages whose backend comes with another branch (OTA, jobs, keys) are listed
// with the REST resource they will show, so adding one is a component and a line here.
export interface PageEntry {
  route: string;
  label: string;
  /** Until its branch is merged: what the page will need. */
  pending?: string;
}

export const PAGES: PageEntry[] = [
  { route: "devices", label: "Devices" },
  { route: "releases", label: "Releases", pending: "GET/POST /api/v1/releases (OTA)" },
  { route: "updates", label: "Updates", pending: "GET/POST /api/v1/updates and update progress events (OTA)" },
  { route: "jobs", label: "Jobs", pending: "GET/POST /api/v1/jobs and job progress events (fleet jobs)" },
  { route: "keys", label: "API keys", pending: "GET/POST/DELETE /api/v1/keys (API keys with scopes)" },
  { route: "audit", label: "Audit log", pending: "GET /api/v1/audit (API keys with scopes)" },
];
