// The dashboard in Debian's Chromium (playwright-core, headless): sign in, a POSIX board comes online within 2 s of
// connecting, a method called through its generated form shows its result (and a bad value is named by the
// backend's schema check), tags and metadata saved, a signed release uploaded, an update of a Node device with OTA
// slots pushed from its page (the bar reaches done, the new version shows), a job over a few devices reaches done,
// an API key created and revoked, the audit log lists those calls; the board goes offline within 2 s of its process
// being killed; 1280x800 and phone width on every page.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { Device } from "../host/device.ts";
import { wasmBytes } from "../host/engine.ts";
import { OtaDevice } from "../host/ota/node-device.ts";
import type { Backend } from "../host/server/backend.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { runBoard, type BoardProcess } from "./support/board.ts";
import { freePort } from "./support/mosquitto.ts";
import { launchChromium, overflowsHorizontally, screenshotDir, screenshotOnFailure } from "./support/browser.ts";
import { release, releaseKey } from "./support/ota.ts";

/** The spec's bound for the UI to show a presence change. */
const UI_MS = 2000;

let backend: Backend;
let key: string;
let browser: Browser;
let page: Page;
let board: BoardProcess | undefined;
/** Node devices (the OTA one and the job's): closed at the end. */
const nodeDevices: { close(): Promise<void> }[] = [];
const shots = screenshotDir("dashboard-shots");
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);
const step = <T>(label: string, fn: () => Promise<T>) => screenshotOnFailure(page, shots, label, fn);

async function startBoard(id: string): Promise<BoardProcess> {
  const created = await api("/api/v1/devices", { method: "POST", json: { id, metadata: { room: "lab" } } });
  expect(created.status).toBe(201);
  expect((await api(`/api/v1/devices/${id}`, { method: "PATCH", json: { tags: ["lab", "posix"] } })).status).toBe(200);
  return runBoard(["--id", id, "--url", backend.mqttUrl, "--password", created.body.credential, "--telemetry", "1000"]);
}

beforeAll(async () => {
  backend = await startTestBackend("dashboard", { releaseKeys: [releaseKey.publicKey] });
  key = backend.registry.createApiKey().key;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(10_000);
});

afterAll(async () => {
  await board?.kill();
  for (const d of nodeDevices) await d.close().catch(() => {});
  await browser?.close();
  await backend?.close();
});

describe("the dashboard", () => {
  it("is served at / from the built bundle, with a strict CSP", async () => {
    const res = await fetch(`${backend.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect(await res.text()).toContain('<script type="module" src="/app.js">');
    expect((await fetch(`${backend.url}/app.js`)).status).toBe(200);
    expect((await fetch(`${backend.url}/nothing-here`)).status).toBe(404);
  });

  it("signs in with an API key (a wrong one is refused on the form)", async () => {
    await step("sign-in", async () => {
      await page.goto(backend.url);
      await page.fill("input[name=key]", "opk_0000000000000000_notakeyatallnotakey");
      await page.click("button[type=submit]");
      await page.waitForSelector(".signin .error");
      await page.fill("input[name=key]", key);
      await page.click("button[type=submit]");
      await page.waitForSelector("table.devices");
      // The key is not kept by the page: the session is an httpOnly cookie it cannot read.
      expect(await page.evaluate(() => document.cookie)).toBe("");
      const cookies = await page.context().cookies();
      expect(cookies.find((c) => c.name === "outpost_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    });
  });

  it("shows a board come online within 2 s of connecting", async () => {
    await step("online", async () => {
      board = await startBoard("board1");
      await waitFor(() => backend.presence.isOnline("board1"));
      await page.waitForSelector('tr[data-device="board1"] [data-state="online"]', { timeout: UI_MS });
      expect(await page.textContent('tr[data-device="board1"]')).toContain("lab");
      // Its version arrives with its first telemetry (`event: version`).
      await page.waitForSelector('tr[data-device="board1"] td[data-label="Version"]:text("0.1.0")');
    });
  });

  it("searches the list", async () => {
    await step("search", async () => {
      await api("/api/v1/devices", { method: "POST", json: { id: "other" } });
      await page.reload();
      await page.waitForSelector('tr[data-device="other"]');
      await page.fill("input.search", "posix");
      await page.waitForSelector('tr[data-device="other"]', { state: "detached" });
      expect(await page.isVisible('tr[data-device="board1"]')).toBe(true);
      await page.fill("input.search", "");
    });
  });

  it("calls a method through the form generated from its schema, and shows the result", async () => {
    await step("call", async () => {
      await page.click('tr[data-device="board1"] a');
      const write = 'form[data-method="gpio.write"]';
      await page.waitForSelector(write);
      await page.waitForSelector('[data-info="board"]');
      expect(await page.textContent('[data-info="board"]')).toBe("posix");
      // The schema: {"pin": integer, "value": enum [0, 1]} -> a number input and a select.
      expect(await page.getAttribute(`${write} input[name=pin]`, "type")).toBe("number");
      await page.fill(`${write} input[name=pin]`, "3");
      await page.selectOption(`${write} select[name=value]`, "1");
      await page.click(`${write} button[type=submit]`);
      await page.waitForSelector(`${write} .result.ok`);
      expect((await page.textContent(`${write} .result`))!.trim()).toBe("true");
      const read = 'form[data-method="gpio.read"]';
      await page.fill(`${read} input[name=pin]`, "3");
      await page.click(`${read} button[type=submit]`);
      await page.waitForSelector(`${read} .result.ok`);
      expect((await page.textContent(`${read} .result`))!.trim()).toBe("1");
      // Params the schema refuses (config.set takes an object): the backend's 400 says so, and the form marks the input.
      const set = 'form[data-method="config.set"]';
      await page.fill(`${set} textarea`, "[1]");
      await page.click(`${set} button[type=submit]`);
      await page.waitForSelector(`${set} .result.failed`);
      expect(await page.textContent(`${set} .result`)).toMatch(/400 invalid_params: params must be object/);
      expect(await page.getAttribute(`${set} textarea`, "aria-invalid")).toBe("true");
    });
  });

  it("the tags and metadata editor saves through PATCH /devices/:id", async () => {
    await step("metadata", async () => {
      await page.fill("form.metadata input[name=tags]", "lab posix spare");
      await page.fill("form.metadata textarea", '{"room": "lab-2", "rack": 4}');
      await page.click("form.metadata button[type=submit]");
      await page.waitForSelector('form.metadata [role=status]:text("saved")');
      await page.waitForSelector('.info .tag:text("spare")');
      const saved = (await api("/api/v1/devices/board1")).body;
      expect(saved.tags).toEqual(["lab", "posix", "spare"]);
      expect(saved.metadata).toEqual({ room: "lab-2", rack: 4 });
      await page.fill("form.metadata textarea", "[1]");
      await page.click("form.metadata button[type=submit]");
      await page.waitForSelector('form.metadata [role=status]:text("metadata is a JSON object")');
    });
  });

  it("charts the board's telemetry", async () => {
    await step("telemetry", async () => {
      await page.waitForSelector(".plot canvas", { timeout: 10_000 });
      expect(Number(await page.getAttribute(".plot", "data-samples"))).toBeGreaterThan(0);
    });
  });

  it("lays out at 1280x800 without horizontal overflow, the nav shown", async () => {
    await step("desktop", async () => {
      expect(await overflowsHorizontally(page)).toBe(false);
      expect(await page.isVisible("nav.nav a[data-page=jobs]")).toBe(true);
      expect(await page.isVisible("button.menu")).toBe(false);
      await page.goto(`${backend.url}/#/devices`);
      await page.waitForSelector('tr[data-device="board1"]');
      expect(await overflowsHorizontally(page)).toBe(false);
    });
  });

  it("at phone width the nav folds behind a menu button and nothing overflows", async () => {
    await step("phone", async () => {
      await page.setViewportSize({ width: 375, height: 740 });
      expect(await page.isVisible("button.menu")).toBe(true);
      expect(await page.isVisible("nav.nav a[data-page=jobs]")).toBe(false);
      expect(await overflowsHorizontally(page)).toBe(false);
      await page.click("button.menu");
      expect(await page.isVisible("nav.nav a[data-page=jobs]")).toBe(true);
      await page.click("nav.nav a[data-page=devices]");
      await page.click('tr[data-device="board1"] a');
      await page.waitForSelector('form[data-method="gpio.write"]');
      expect(await overflowsHorizontally(page)).toBe(false);
      await page.setViewportSize({ width: 1280, height: 800 });
    });
  });

  it("uploads a signed release on the Releases page and shows its signature verified", async () => {
    await step("release-upload", async () => {
      const body = release(wasmBytes(), 3, { label: "ui" });
      const dir = mkdtempSync(join(tmpdir(), "outpost-dash-release-"));
      for (const [name, b64] of [
        ["module.wasm", body.module],
        ["manifest.json", body.manifest],
        ["manifest.sig", body.signature],
      ])
        writeFileSync(join(dir, name), Buffer.from(b64, "base64"));
      await page.goto(`${backend.url}/#/releases`);
      await page.setInputFiles("form.upload input[name=module]", join(dir, "module.wasm"));
      await page.setInputFiles("form.upload input[name=manifest]", join(dir, "manifest.json"));
      // A wrong signature file first: the backend's named refusal is shown, nothing stored.
      await page.setInputFiles("form.upload input[name=signature]", join(dir, "manifest.json"));
      await page.click("form.upload button[type=submit]");
      await page.waitForSelector('form.upload .error:text("signature")');
      await page.setInputFiles("form.upload input[name=signature]", join(dir, "manifest.sig"));
      await page.click("form.upload button[type=submit]");
      await page.waitForSelector('form.upload [role=status]:text("uploaded v3-")');
      await page.waitForSelector('tr[data-release^="v3-"] [data-signature="verified"]');
      expect((await api("/api/v1/releases")).body).toHaveLength(1);
    });
  });

  it("pushes an update from a device's page: the bar reaches done and the new version shows", async () => {
    await step("update", async () => {
      const { credential } = backend.registry.addDevice("ota1");
      backend.registry.tags.update("ota1", { tags: ["fleet"] });
      const slots = mkdtempSync(join(tmpdir(), "outpost-dash-slots-"));
      const dev = new OtaDevice({ id: "ota1", engine: "v8", ota: { dir: slots, publicKeys: [releaseKey.publicKey] } });
      nodeDevices.push({ close: () => dev.close() });
      await dev.connect(backend.mqttUrl, { password: credential });
      await page.goto(`${backend.url}/#/devices/ota1`);
      await page.waitForSelector('.device [data-state="online"]');
      await page.waitForSelector(".history :text('Never updated')");
      await page.waitForSelector("form.update button[type=submit]:not([disabled])");
      // Every state the panel shows, as the fleet stream's `event: update`s arrive.
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        new MutationObserver(() => {
          const state = document.querySelector("[data-update-state]")?.getAttribute("data-update-state");
          if (state && seen.at(-1) !== state) seen.push(state);
        }).observe(document.querySelector("form.update")!, { subtree: true, childList: true, attributes: true });
      });
      await page.click("form.update button[type=submit]");
      await page.waitForSelector("form.update [data-update-state=succeeded]", { timeout: 20_000 });
      expect(await page.evaluate(() => (window as unknown as { seen: string[] }).seen)).toEqual(
        expect.arrayContaining(["sending", "verifying", "restarting", "confirming", "succeeded"]),
      );
      expect(await page.getAttribute("form.update progress", "data-update-progress")).toBe("100");
      await page.waitForSelector('[data-app-version]:text("3")');
      await page.waitForSelector('.history tr[data-history^="v3-"] :text("succeeded")');
      await page.waitForFunction(() => document.querySelector('[data-info="app"]')?.textContent?.includes('"version":3'));
    });
  });

  it("creates a job over a few devices on the Jobs page and sees its counts reach done", async () => {
    await step("job", async () => {
      for (const id of ["job1", "job2"]) {
        const { credential } = backend.registry.addDevice(id);
        backend.registry.tags.update(id, { tags: ["fleet"] });
        const dev = new Device({ id });
        nodeDevices.push(dev);
        await dev.connect(backend.mqttUrl, { password: credential });
      }
      await waitFor(() => backend.presence.isOnline("job1") && backend.presence.isOnline("job2"));
      await page.goto(`${backend.url}/#/jobs`);
      await page.fill("form.job-form input[name=tags]", "fleet");
      await page.fill("form.job-form input[name=method]", "sys.info");
      await page.click("form.job-form button[type=submit]");
      await page.waitForSelector('.job[data-job-state="completed"] .counts[data-done="3"][data-total="3"]');
      expect(await page.textContent('.job [data-count="succeeded"]')).toBe("succeeded 3");
      await page.click('.job button:text("Devices")');
      for (const id of ["ota1", "job1", "job2"]) await page.waitForSelector(`.executions tr[data-execution="${id}"] :text("succeeded")`);
      // A slow one (one device a minute), cancelled from its card: the devices not reached are cancelled.
      await page.fill("form.job-form input[name=max]", "1");
      await page.click("form.job-form button[type=submit]");
      await page.click('.job[data-job-state="in_progress"] button.cancel');
      await page.waitForSelector('.job[data-job-state="cancelled"] [data-count="cancelled"]:text("cancelled 2")');
    });
  });

  it("creates an API key with name, scopes and expiry, shows it once, and revokes it", async () => {
    await step("keys", async () => {
      await page.goto(`${backend.url}/#/keys`);
      await page.fill("form.key-form input[name=name]", "ui-made");
      await page.check('form.key-form input[value="call"]');
      await page.fill("form.key-form input[name=expires]", "2099-01-31T12:00");
      await page.click("form.key-form button[type=submit]");
      const made = (await page.textContent(".new-key code.secret"))!;
      expect(made).toMatch(/^opk_[0-9a-f]{16}_/);
      await page.waitForSelector('tr[data-key="ui-made"][data-key-state="active"] :text("2099")');
      const withIt = (path: string) => api(path, {}, `Bearer ${made}`);
      expect((await withIt("/api/v1/devices")).status).toBe(200);
      expect((await withIt("/api/v1/keys")).status).toBe(403); // read and call, not admin
      // Rotated: a new secret shown once; the old one still works for the grace period.
      await page.click('tr[data-key="ui-made"] button.rotate');
      await page.waitForFunction((old) => {
        const shown = document.querySelector(".new-key code.secret")?.textContent;
        return shown && shown !== old;
      }, made);
      const rotated = (await page.textContent(".new-key code.secret"))!;
      await page.waitForSelector('tr[data-key="ui-made"] :text("old secret until")');
      expect((await api("/api/v1/devices", {}, `Bearer ${rotated}`)).status).toBe(200);
      expect((await withIt("/api/v1/devices")).status).toBe(200);
      page.once("dialog", (d) => void d.accept());
      await page.click('tr[data-key="ui-made"] button.revoke');
      await page.waitForSelector('tr[data-key="ui-made"][data-key-state="revoked"]');
      expect((await withIt("/api/v1/devices")).body.error).toBe("key_revoked");
    });
  });

  it("lists the calls just made in the audit log, filtered and paged", async () => {
    await step("audit", async () => {
      await page.goto(`${backend.url}/#/audit`);
      // The key test's calls, made through the page's session: created, revoked, then refused.
      await page.waitForSelector('tr[data-kind="change"]:has-text("session") :text("POST /api/v1/keys")');
      await page.waitForSelector('tr[data-kind="change"] :text("DELETE /api/v1/keys/:key")');
      await page.waitForSelector('tr[data-kind="refused"]:has-text("ui-made") :text("key_revoked")');
      // Enough calls for more than one page (50).
      for (let i = 0; i < 55; i++) expect((await api("/api/v1/devices/job1/rpc/sys.info", { method: "POST" })).status).toBe(200);
      await page.fill("form.audit-filter input[name=device]", "ota1");
      await page.press("form.audit-filter input[name=device]", "Enter");
      // Only ota1's records (its connect, the page's calls, the update started from its page).
      await page.waitForFunction(() => {
        const cells = [...document.querySelectorAll('table.audit td[data-label="Device"]')];
        return cells.length > 0 && cells.every((td) => td.textContent === "ota1");
      });
      await page.waitForSelector('tr[data-kind="change"] :text("POST /api/v1/devices/:id/update")');
      await page.fill("form.audit-filter input[name=device]", "job1");
      await page.press("form.audit-filter input[name=device]", "Enter");
      await page.selectOption("form.audit-filter select[name=kind]", "call");
      // The newest page: 50 of job1's 55 calls.
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll("table.audit tbody tr")];
        return rows.length === 50 && rows.every((tr) => tr.getAttribute("data-kind") === "call" && tr.textContent!.includes("job1"));
      });
      const first = await page.getAttribute("table.audit tbody tr", "data-audit");
      await page.click("button.older");
      await page.waitForSelector(':text("page 2")');
      await page.waitForFunction((f) => document.querySelector("table.audit tbody tr")?.getAttribute("data-audit") !== f, first);
      const olderIds = await page.$$eval("table.audit tbody tr", (trs) => trs.map((tr) => Number(tr.getAttribute("data-audit"))));
      expect(Math.max(...olderIds)).toBeLessThan(Number(first));
      await page.click("button.newest");
      await page.waitForSelector(`table.audit tbody tr[data-audit="${first}"]`);
    });
  });

  it("lays out every new page at 1280x800 and at phone width without horizontal overflow", async () => {
    await step("layouts", async () => {
      for (const width of [1280, 375]) {
        await page.setViewportSize({ width, height: width === 1280 ? 800 : 740 });
        for (const [route, ready] of [
          ["releases", "tr[data-release]"],
          ["jobs", ".job"],
          ["keys", "tr[data-key]"],
          ["audit", "tr[data-audit]"],
          ["devices/ota1", ".history tr[data-history]"],
        ]) {
          await page.goto(`${backend.url}/#/${route}`);
          await page.waitForSelector(ready);
          if (route === "jobs") await page.click('.job button:text("Devices")');
          expect(await overflowsHorizontally(page), `${route} at ${width}px`).toBe(false);
        }
      }
      await page.setViewportSize({ width: 1280, height: 800 });
    });
  });

  it("shows the board go offline within 2 s of its process being killed", async () => {
    await step("offline", async () => {
      await page.goto(`${backend.url}/#/devices`);
      await page.waitForSelector('tr[data-device="board1"] [data-state="online"]');
      await board!.kill();
      await page.waitForSelector('tr[data-device="board1"] [data-state="offline"]', { timeout: UI_MS });
    });
  });

  it("signs out: the API refuses the page's requests afterwards", async () => {
    await step("sign-out", async () => {
      await page.click("nav.nav button.link");
      await page.waitForSelector("input[name=key]");
      const status = await page.evaluate(() => fetch("/api/v1/devices").then((r) => r.status));
      expect(status).toBe(401);
    });
  });
});

describe("npm start", () => {
  it("prints the dashboard's URL; signing in there with the printed key shows the demo device online", async () => {
    const root = fileURLToPath(new URL("..", import.meta.url));
    const args = ["--port", String(await freePort()), "--mqtt-port", String(await freePort()), "--data", mkdtempSync(join(tmpdir(), "outpost-dash-start-"))];
    const server = spawn("npm", ["start", "--", ...args], { cwd: root, detached: true, stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    server.stdout!.on("data", (d) => (stdout += d));
    const exited = new Promise((r) => server.once("exit", r));
    try {
      await waitFor(() => /API key\s+opk_/.test(stdout) || server.exitCode !== null);
      const dashboard = /^\s+dashboard\s+(http:\/\/\S+\/)\s/m.exec(stdout)?.[1];
      const printedKey = /API key\s+(opk_\S+)/.exec(stdout)?.[1];
      expect(dashboard, stdout).toBeDefined();
      await step("npm-start", async () => {
        await page.goto(dashboard!);
        await page.fill("input[name=key]", printedKey!);
        await page.click("button[type=submit]");
        await page.waitForSelector('tr[data-device="demo"] [data-state="online"]');
      });
    } finally {
      process.kill(-server.pid!, "SIGTERM");
      await exited;
    }
  });
});
