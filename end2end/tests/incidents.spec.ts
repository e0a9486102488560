// Incidents in the browser: the live list, the incident page's actions seen live in a
// second browser, the dashboard's charts, and the empty state.
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { PASSWORD, collectErrors, signUp, uniqueEmail, waitForHydration } from "./support";

/** Creates an API key for the signed-in page's team; returns its secret. */
async function apiKey(page: Page): Promise<string> {
  const response = await page.request.post("/api/create_api_key", { form: { name: "e2e" } });
  expect(response.status()).toBe(200);
  return (await response.json()).secret;
}

/** Posts an alert to the REST API, as a monitoring script would. */
async function sendAlert(request: APIRequestContext, key: string, alert: Record<string, string>): Promise<void> {
  const response = await request.post("/api/v1/alerts", {
    headers: { Authorization: `Bearer ${key}` },
    data: alert,
  });
  expect(response.status()).toBe(202);
}

/** Opens the incidents page and waits until it hears live events. */
async function openIncidents(page: Page): Promise<void> {
  await page.goto("/incidents");
  await waitForHydration(page);
  await expect(page.getByTestId("live-indicator")).toHaveText("Live");
}

test("an alert sent to the REST API appears on the open incidents page without a reload", async ({ page, request }) => {
  const errors = collectErrors(page);
  await signUp(page, uniqueEmail("live"), "Live list");
  const key = await apiKey(page);
  await openIncidents(page);
  await expect(page.getByTestId("no-incidents")).toBeVisible();
  await page.getByLabel("Title contains").fill("checkout");
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = "same document"));

  await sendAlert(request, key, { title: "Checkout latency above 2 s", severity: "critical", service: "checkout" });
  await sendAlert(request, key, { title: "Disk almost full", severity: "warning" });

  const rows = page.getByTestId("incident-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("Checkout latency above 2 s");
  await expect(page.getByLabel("Title contains")).toHaveValue("checkout");
  await page.getByLabel("Title contains").fill("");
  await expect(rows).toHaveCount(2);
  await expect(page.getByRole("button", { name: /Triggered 2/ })).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe("same document");
  expect(errors).toEqual([]);
});

test("acknowledging and resolving on the incident page updates the list in another browser live", async ({
  page,
  browser,
  request,
}) => {
  const email = uniqueEmail("responder");
  await signUp(page, email, "Responders");
  const key = await apiKey(page);
  await sendAlert(request, key, { title: "Payments API 5xx above 5%", severity: "error", service: "payments" });

  const other = await browser.newContext();
  const watcher = await other.newPage();
  await watcher.goto("/login");
  await waitForHydration(watcher);
  await watcher.getByLabel("Email").fill(email);
  await watcher.getByLabel("Password").fill(PASSWORD);
  await watcher.getByRole("button", { name: "Log in" }).click();
  await expect(watcher).toHaveURL(/\/dashboard$/);
  await openIncidents(watcher);
  const watched = watcher.getByTestId("incident-row").filter({ hasText: "Payments API 5xx above 5%" });
  await expect(watched.getByTestId("incident-status")).toHaveText("triggered");

  await openIncidents(page);
  await page.getByRole("link", { name: "Payments API 5xx above 5%" }).click();
  await expect(page.getByTestId("incident-title")).toHaveText("Payments API 5xx above 5%");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Acknowledge" }).click();
  await expect(page.getByTestId("incident-status")).toHaveText("acknowledged");
  await expect(watched.getByTestId("incident-status")).toHaveText("acknowledged");

  await page.getByLabel("Resolution note (optional)").fill("Rolled back release 42");
  await page.getByRole("button", { name: "Resolve", exact: true }).click();
  await expect(page.getByTestId("incident-status")).toHaveText("resolved");
  await expect(page.getByTestId("timeline")).toContainText("Rolled back release 42");
  await expect(watched.getByTestId("incident-status")).toHaveText("resolved");
  await expect(watcher.getByRole("button", { name: /Resolved 1/ })).toBeVisible();
  await other.close();
});

test("the dashboard draws its charts from the team's incidents", async ({ page, request }) => {
  await signUp(page, uniqueEmail("charts"), "Charts");
  const key = await apiKey(page);
  await sendAlert(request, key, { title: "Checkout down", severity: "critical", service: "checkout" });
  await sendAlert(request, key, { title: "Search slow", severity: "warning", service: "search" });
  await sendAlert(request, key, { title: "Search slower", severity: "warning", service: "search" });

  await page.goto("/dashboard");
  await waitForHydration(page);
  await expect(page.getByTestId("open-by-severity")).toContainText("3");
  await expect(page.getByRole("img", { name: /Alerts per day over the last 30 days: 3 in all/ })).toBeVisible();
  await expect(page.getByRole("img", { name: /by severity: critical 1, error 0, warning 2, info 0/ })).toBeVisible();
  await expect(page.getByRole("img", { name: /most incidents.*search 2, checkout 1/ })).toBeVisible();
  await expect(page.getByTestId("automation-rate")).toContainText("0%");
  await expect(page.getByTestId("activity")).toContainText("Search slower");

  // A new alert updates the figures in place.
  await expect(page.getByTestId("live-indicator")).toHaveText("Live");
  await sendAlert(request, key, { title: "Checkout down again", severity: "critical", service: "checkout" });
  await expect(page.getByRole("img", { name: /Alerts per day over the last 30 days: 4 in all/ })).toBeVisible();
});

test("an incident reported by hand opens its page; a blank title is refused", async ({ page }) => {
  await signUp(page, uniqueEmail("reporter"), "Reporters");
  await openIncidents(page);
  await page.getByRole("button", { name: "Report incident" }).click();
  const form = page.getByRole("region", { name: "Report an incident" });
  await form.getByRole("button", { name: "Open incident" }).click();
  await expect(form.getByText("Give the incident a title.")).toBeVisible();

  await form.getByLabel("Title").fill("Customers report failed logins");
  await form.getByLabel("Severity").selectOption("critical");
  await form.getByRole("button", { name: "Open incident" }).click();
  await expect(page.getByTestId("incident-title")).toHaveText("Customers report failed logins");
  await expect(page.getByTestId("timeline")).toContainText("Alert received from the incidents page");
});
