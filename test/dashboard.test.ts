// The dashboard in Debian's Chromium (playwright-core, headless): sign in, a POSIX board comes online within 2 s of
// connecting, a method called through its generated form shows its result (and a bad value is named by the
// backend's schema check), the board goes offline within 2 s of its process being killed; 1280x800 and phone width.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { Backend } from "../host/server/backend.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { runBoard, type BoardProcess } from "./support/board.ts";
import { freePort } from "./support/mosquitto.ts";
import { launchChromium, overflowsHorizontally, screenshotDir, screenshotOnFailure } from "./support/browser.ts";

/** The spec's bound for the UI to show a presence change. */
const UI_MS = 2000;

let backend: Backend;
let key: string;
let browser: Browser;
let page: Page;
let board: BoardProcess | undefined;
const shots = screenshotDir("dashboard-shots");
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);
const step = <T>(label: string, fn: () => Promise<T>) => screenshotOnFailure(page, shots, label, fn);

async function startBoard(id: string): Promise<BoardProcess> {
  const created = await api("/api/v1/devices", { method: "POST", json: { id, metadata: { tags: ["lab", "posix"] } } });
  expect(created.status).toBe(201);
  return runBoard(["--id", id, "--url", backend.mqttUrl, "--password", created.body.credential, "--telemetry", "1000"]);
}

beforeAll(async () => {
  backend = await startTestBackend("dashboard");
  key = backend.registry.createApiKey().key;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(10_000);
});

afterAll(async () => {
  await board?.kill();
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

  it("the metadata and tags editor saves through PATCH /devices/:id, and says so while this backend has none", async () => {
    await step("metadata", async () => {
      await page.fill("form.metadata input[name=tags]", "lab posix spare");
      await page.click("form.metadata button[type=submit]");
      await page.waitForSelector('form.metadata [role=status]:text("PATCH /devices/:id")');
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

  it("pages whose backend comes with another branch say what they wait for", async () => {
    await step("pending-pages", async () => {
      for (const [route, needs] of [
        ["releases", "/api/v1/releases"],
        ["jobs", "/api/v1/jobs"],
        ["keys", "/api/v1/keys"],
        ["audit", "/api/v1/audit"],
      ]) {
        await page.click(`nav.nav a[data-page=${route}]`);
        await page.waitForSelector(`main :text("${needs}")`);
      }
      await page.click("nav.nav a[data-page=devices]");
      await page.waitForSelector('tr[data-device="board1"]');
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
