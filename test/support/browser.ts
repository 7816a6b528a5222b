// Debian's Chromium, headless, driven by playwright-core; failures leave a screenshot under the test's temp dir.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  // --no-sandbox: the tests run as root (in CI containers), where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** Where this test run's screenshots go. */
export const screenshotDir = (name: string) => mkdtempSync(join(tmpdir(), `outpost-${name}-`));

/** Runs `step`; if it throws, saves a full-page screenshot as <dir>/<label>.png, prints the path, rethrows. */
export async function screenshotOnFailure<T>(page: Page, dir: string, label: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const path = join(dir, `${label.replace(/[^A-Za-z0-9_-]+/g, "-")}.png`);
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    console.error(`dashboard test failed at "${label}": screenshot ${path}`);
    throw err;
  }
}

/** Whether anything on the page is wider than the viewport (a horizontal scrollbar). */
export function overflowsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}
