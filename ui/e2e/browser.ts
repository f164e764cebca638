// Helpers of the browser tests: Debian's Chromium, a page that records
// console errors, and a check of each page (screenshots at both widths and
// axe-core against WCAG 2.1 AA).
import axe from "axe-core";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { expect } from "vitest";

export const shotsDir = resolve(process.env.SCREENSHOTS ?? "../screenshots");

export async function launch(): Promise<Browser> {
  mkdirSync(shotsDir, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface Tab {
  page: Page;
  // errors are the console errors and uncaught exceptions seen so far.
  errors: string[];
}

export async function open(browser: Browser, baseURL: string, width = 1280): Promise<Tab> {
  const ctx = await browser.newContext({ baseURL, viewport: { width, height: 900 } });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
  return { page, errors };
}

// check screenshots the page at 1280 and 390 pixels wide and fails on any
// WCAG 2.1 A or AA violation axe-core finds, at either width.
export async function check(tab: Tab, name: string) {
  const { page } = tab;
  const size = page.viewportSize() ?? { width: 1280, height: 900 };
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(150);
    await page.screenshot({ path: `${shotsDir}/${name}-${width}.png`, fullPage: true });
    const violations = await axeViolations(page);
    expect(violations, `axe violations on ${name} at ${width}px`).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${name} scrolls sideways at ${width}px`).toBeLessThanOrEqual(0);
  }
  await page.setViewportSize(size);
}

async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(axe.source);
  const result = await page.evaluate(() =>
    (window as unknown as { axe: typeof axe }).axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    }),
  );
  return result.violations.map(
    (v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
}
