// What a first visit transfers, measured in Chromium with the Performance API (the
// `transferSize` of the document and of every resource it loads, headers included),
// from an empty cache: the landing and login pages, and any signed-in page. Prints the
// figures; fails over the budget.
import { type Browser, expect, test } from "@playwright/test";
import { SIGNED_IN_PAGES, signUp, uniqueEmail, waitForHydration } from "./support";

const PUBLIC_BUDGET = 300 * 1024;
const SIGNED_IN_BUDGET = 600 * 1024;


interface Visit {
  total: number;
  files: { name: string; bytes: number }[];
}

/** Loads `path` in a fresh context (an empty cache) until it is hydrated; what it transferred. */
async function firstVisit(browser: Browser, path: string, storageState?: string): Promise<Visit> {
  const context = await browser.newContext(storageState ? { storageState } : {});
  const page = await context.newPage();
  await page.goto(path);
  await waitForHydration(page);
  await page.waitForLoadState("networkidle");
  const files = await page.evaluate(() =>
    [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
      .map((entry) => ({
        name: new URL(entry.name).pathname,
        bytes: (entry as PerformanceResourceTiming).transferSize,
      }))
      // Event streams stay open and count as they stream; they are not part of the load.
      .filter((file) => file.name !== "/events"),
  );
  await context.close();
  return { total: files.reduce((sum, file) => sum + file.bytes, 0), files };
}

function report(path: string, visit: Visit, budget: number): string {
  const files = visit.files.map((file) => `    ${(file.bytes / 1024).toFixed(1).padStart(7)} KB  ${file.name}`);
  return [
    `${path}: ${(visit.total / 1024).toFixed(1)} KB of ${(budget / 1024).toFixed(0)} KB`,
    ...files,
  ].join("\n");
}

test("a first visit to the landing and login pages transfers at most 300 KB", async ({ browser }) => {
  for (const path of ["/", "/login"]) {
    const visit = await firstVisit(browser, path);
    console.log(report(path, visit, PUBLIC_BUDGET));
    expect(visit.files.some((file) => file.name.endsWith(".wasm")), "the bundle was loaded").toBe(true);
    expect(visit.total, `${path} within its budget`).toBeLessThanOrEqual(PUBLIC_BUDGET);
  }
});

test("a first visit to any signed-in page transfers at most 600 KB", async ({ browser }) => {
  test.setTimeout(90_000);
  const context = await browser.newContext();
  await signUp(await context.newPage(), uniqueEmail("budget"), "Budget");
  const storageState = `${test.info().outputDir}/signed-in.json`;
  await context.storageState({ path: storageState });
  await context.close();
  for (const path of SIGNED_IN_PAGES) {
    const visit = await firstVisit(browser, path, storageState);
    console.log(report(path, visit, SIGNED_IN_BUDGET));
    expect(visit.total, `${path} within its budget`).toBeLessThanOrEqual(SIGNED_IN_BUDGET);
  }
});
