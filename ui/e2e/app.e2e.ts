import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { check, launch, open, type Tab } from "./browser";

const baseURL = inject("baseURL");
let browser: Browser;
let tab: Tab;

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  const errors = tab?.errors ?? [];
  await tab?.page.context().close();
  expect(errors, "console errors").toEqual([]);
});

describe("web UI against tributary serve --demo", () => {
  it("shows the demo run succeed on the dashboard", async () => {
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.goto("/");
    await expect.poll(() => page.title()).toBe("Tributary");
    const activity = page.getByRole("region", { name: "Recent activity" });
    // The dashboard refreshes itself: the demo's first run shows up as succeeded.
    await activity.locator('[data-status="succeeded"]').first().waitFor({ timeout: 30_000 });
    await activity.getByRole("link", { name: "people-to-sqlite" }).first().waitFor();
    await page.getByText("Rows written per hour").first().waitFor();
    await page.getByText("Runs per hour").first().waitFor();
    await page.getByTestId("system-status").locator('[data-status="ok"]').waitFor();
    await page.locator(".recharts-surface").first().waitFor();
    expect(await page.getByRole("definition").filter({ hasText: "1,000" }).count()).toBeGreaterThan(0);
    await check(tab, "dashboard");
  });

  it("opens the demo run: counters, log and quarantined rows", async () => {
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.goto("/");
    const activity = page.getByRole("region", { name: "Recent activity" });
    await activity.getByRole("link", { name: "people-to-sqlite" }).first().click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    await page.getByTestId("run-status").locator('[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    const counters = page.getByTestId("stream-counters");
    await expect.poll(() => counters.locator('td[data-col="read"]').textContent()).toBe("1,003");
    expect(await counters.locator('td[data-col="written"]').textContent()).toBe("1,000");
    expect(await counters.locator('td[data-col="quarantined"]').textContent()).toBe("3");
    const log = page.getByTestId("log-lines");
    await log.getByText("run finished").first().waitFor();
    await page.getByText(/Run finished: succeeded/).waitFor();
    const quarantine = page.getByTestId("quarantine");
    await expect.poll(() => quarantine.locator("tbody tr").count()).toBe(3);
    await quarantine.getByText('field "amount": not a decimal: "12.x"').waitFor();
    // A succeeded run can be neither cancelled nor retried.
    expect(await page.getByRole("button", { name: "Cancel run" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Retry run" }).isDisabled()).toBe(true);
    await check(tab, "run-detail");
  });

  it("triggers a run from the Pipelines page and follows it live", async () => {
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.goto("/pipelines");
    await page.getByRole("button", { name: "Run now for people-to-sqlite" }).click();
    await page.getByRole("status").filter({ hasText: /queued/ }).waitFor();
    await check(tab, "pipelines");
    await page.getByRole("link", { name: "Open the run" }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const id = page.url().split("/").pop()!;
    await page.getByTestId("run-status").locator('[data-status="succeeded"]').waitFor({ timeout: 60_000 });
    await page.getByTestId("log-lines").getByText("run finished").first().waitFor();
    await page.getByTestId("stream-counters").locator('td[data-col="read"]').first().waitFor();
    // The API agrees with what the page shows.
    const run = (await (await fetch(`${baseURL}/api/v1/runs/${id}`)).json()) as { status: string; trigger: string };
    expect(run).toMatchObject({ status: "succeeded", trigger: "manual" });
  });

  it("filters runs by status", async () => {
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.goto("/runs");
    await page.locator('tbody [data-status="succeeded"]').first().waitFor({ timeout: 30_000 });
    await check(tab, "runs");
    await page.getByLabel("Status").selectOption("failed");
    await page.getByText("No runs match these filters.").waitFor();
    expect(page.url()).toContain("status=failed");
    await page.getByLabel("Status").selectOption("succeeded");
    await page.locator('tbody [data-status="succeeded"]').first().waitFor();
    expect(await page.locator('tbody [data-status]:not([data-status="succeeded"])').count()).toBe(0);
  });

  it.each([
    { path: "/connections", name: "connections", text: "No saved connections." },
    { path: "/monitoring", name: "monitoring", text: "Worker processes" },
    { path: "/analytics", name: "analytics", text: "Rows written per hour" },
    { path: "/no-such-page", name: "not-found", text: "Page not found" },
  ])("renders $path", async ({ path, name, text }) => {
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.goto(path);
    await page.getByText(text).first().waitFor();
    if (name === "monitoring") await page.getByRole("cell", { name: "alive" }).first().waitFor();
    if (name === "analytics") await page.locator(".recharts-surface").first().waitFor();
    await check(tab, name);
  });

  it("shows a clear message when the API refuses access", async () => {
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.route("**/api/v1/connections*", (route) =>
      route.fulfill({
        status: 403,
        contentType: "application/problem+json",
        body: JSON.stringify({ title: "Forbidden", status: 403, detail: "role viewer cannot list connections" }),
      }),
    );
    await page.goto("/connections");
    await page.getByRole("alert").getByText("You do not have permission to see this").waitFor();
    // The browser reports the refused request itself; that one is expected.
    tab.errors = tab.errors.filter((e) => !e.includes("403"));
  });

  // Last, as it adds a failing pipeline that the tests above do not expect.
  it("shows a failed run's error and retries it", async () => {
    const created = await fetch(`${baseURL}/api/v1/pipelines`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        version: 1,
        name: "missing-file",
        source: { connector: "csv", config: { path: "/nonexistent/people.csv" }, streams: [{ name: "people" }] },
        destination: { connector: "sqlite", config: { path: "/nonexistent/out.db" } },
      }),
    });
    expect(created.status).toBe(201);
    const { id: pipelineId } = (await created.json()) as { id: string };
    tab = await open(browser, baseURL);
    const { page } = tab;
    await page.goto("/pipelines");
    await page.getByRole("button", { name: "Run now for missing-file" }).click();
    await page.getByRole("link", { name: "Open the run" }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const firstId = page.url().split("/").pop()!;
    await page.getByTestId("run-status").locator('[data-status="failed"]').waitFor({ timeout: 60_000 });
    await page.getByText("/nonexistent/people.csv: no such file or directory").first().waitFor();
    expect(await page.getByRole("button", { name: "Cancel run" }).isDisabled()).toBe(true);
    await check(tab, "run-failed");
    await page.getByRole("button", { name: "Retry run" }).click();
    await page.waitForURL((url) => /\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(firstId));
    const retryId = page.url().split("/").pop()!;
    await page.getByTestId("run-status").locator('[data-status="failed"]').waitFor({ timeout: 60_000 });
    const runs = (await (await fetch(`${baseURL}/api/v1/runs?pipeline=${pipelineId}`)).json()) as { items: { id: string }[] };
    expect(runs.items.map((r) => r.id).sort()).toEqual([firstId, retryId].sort());
    await page.goto("/");
    await page.getByRole("region", { name: "Failing pipelines" }).getByRole("link", { name: "missing-file" }).waitFor({ timeout: 30_000 });

    // 52 runs of the pipeline: the list shows 50, then all on "Show more runs".
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${baseURL}/api/v1/pipelines/${pipelineId}/runs`, { method: "POST" });
      expect(res.status).toBe(202);
    }
    await page.goto(`/runs?pipeline=${pipelineId}`);
    const rows = page.locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(50);
    await page.getByRole("button", { name: "Show more runs" }).click();
    await expect.poll(() => rows.count()).toBe(52);
    expect(await page.getByRole("button", { name: "Show more runs" }).count()).toBe(0);
  });

  it("is usable at 390px with the keyboard", async () => {
    tab = await open(browser, baseURL, 390);
    const { page } = tab;
    await page.goto("/");
    const nav = page.getByRole("navigation", { name: "Main" });
    expect(await nav.isVisible()).toBe(false);
    const menu = page.getByRole("button", { name: "Menu" });
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await menu.focus();
    await page.keyboard.press("Enter");
    expect(await menu.getAttribute("aria-expanded")).toBe("true");
    await nav.getByRole("link", { name: "Runs" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/runs$/);
    // Following a link closes the menu.
    await expect.poll(() => nav.isVisible()).toBe(false);
    await page.getByRole("heading", { name: "Runs" }).waitFor();
  });
});
