// The app shell: server rendering, hydration, the status widget, navigation and the 404 page.
import { expect, test } from "@playwright/test";
import { collectErrors, waitForHydration } from "./support";

test("the landing page is rendered on the server (JavaScript disabled)", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle("DreamOps");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Your alerts, diagnosed");
  await expect(page.getByTestId("status-headline")).toHaveText("All systems operational");
  await expect(page.getByTestId("status-database")).toHaveText("Connected");
  await expect(page.locator("body")).not.toHaveAttribute("data-hydrated", "true");
  await context.close();
});

test("the status widget refreshes from the server function once hydrated", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/");
  await waitForHydration(page);

  const checkedAt = page.getByTestId("status-checked-at");
  const firstReading = await checkedAt.getAttribute("datetime");
  expect(firstReading).toBeTruthy();

  const call = page.waitForResponse((response) => response.url().includes("/api/system_status"));
  await page.getByRole("button", { name: "Check again" }).click();
  expect((await call).status()).toBe(200);

  await expect(checkedAt).not.toHaveAttribute("datetime", firstReading!);
  await expect(page.getByTestId("status-headline")).toHaveText("All systems operational");
  expect(errors).toEqual([]);
});

test("navigation moves between pages without reloading", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/");
  await waitForHydration(page);
  // A marker on the window survives client-side navigation, not a reload.
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = "same document"));

  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Status" }).click();
  await expect(page).toHaveURL(/\/status$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("System status");
  await expect(page).toHaveTitle("System status · DreamOps");
  await expect(nav.getByRole("link", { name: "Status" })).toHaveAttribute("aria-current", "page");

  await nav.getByRole("link", { name: "Home" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Your alerts, diagnosed");
  expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe("same document");
  expect(errors).toEqual([]);
});

test("an unknown address shows the 404 page", async ({ page }) => {
  const response = await page.goto("/incidents/does-not-exist");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
  await expect(page).toHaveTitle("Page not found · DreamOps");

  await waitForHydration(page);
  await page.getByRole("link", { name: "Back to the home page" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Your alerts, diagnosed");
});
