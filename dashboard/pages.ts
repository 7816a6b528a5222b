// The navigation: one entry per page (a page is a component and a line here).
export interface PageEntry {
  route: string;
  label: string;
}

export const PAGES: PageEntry[] = [
  { route: "devices", label: "Devices" },
  { route: "releases", label: "Releases" },
  { route: "jobs", label: "Jobs" },
  { route: "keys", label: "API keys" },
  { route: "audit", label: "Audit log" },
];
