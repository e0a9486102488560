// Notion: an admin connects an integration (tested against the run's loopback Notion),
// chooses the runbooks database and the page for post-mortems, and syncs: the database's
// pages become runbooks, edited in Notion; a post-mortem is exported as a Notion page.
import { expect, test } from "@playwright/test";
import { collectErrors, signUp, uniqueEmail, waitForHydration } from "./support";

test("runbooks come from a Notion database and a post-mortem goes to a Notion page", async ({ page, request }) => {
  await signUp(page, uniqueEmail("notion"), "Writers");
  await page.goto("/settings/integrations");
  await waitForHydration(page);
  const panel = page.getByTestId("notion");
  await panel.getByLabel("Integration secret").fill("secret_wrong");
  await panel.getByRole("button", { name: "Connect Notion" }).click();
  await expect(panel).toContainText("Notion refused the token (HTTP 401)");
  await panel.getByLabel("Integration secret").fill("secret_e2e_token");
  await panel.getByRole("button", { name: "Connect Notion" }).click();
  await expect(panel.getByTestId("notion-workspace")).toHaveText("Connected: DreamOps in E2E workspace.");
  // From here on nothing is refused: the page logs no error.
  const errors = collectErrors(page);
  await panel.getByLabel("Runbooks database").fill("https://www.notion.so/e2e/Runbooks-0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4?v=1");
  await panel.getByLabel("Page for post-mortems").fill("5a4b3c2d1e0f4a9b8c7d6e5f4a3b2c1d");
  await panel.getByRole("button", { name: "Save", exact: true }).click();
  await expect(panel.getByTestId("notion-sync")).toHaveText("Not synced yet.");
  await page.reload();
  await waitForHydration(page);
  await expect(panel.getByLabel("Runbooks database")).toHaveValue("0d9c8b7a-6f5e-4d3c-2b1a-09f8e7d6c5b4");
  await panel.getByRole("button", { name: "Sync runbooks now" }).click();
  await expect(panel.getByTestId("notion-sync")).toContainText(/^2 runbooks, synced /);

  await page.goto("/runbooks");
  await waitForHydration(page);
  const runbooks = page.getByTestId("runbooks");
  await expect(runbooks).toContainText("Disk filling up");
  await runbooks.getByRole("button", { name: "Restart a crash-looping pod" }).click();
  await expect(page.getByTestId("runbook-text")).toHaveText("## Steps\n\n1. Read the previous log\n1. Roll back the release");
  await expect(page.getByRole("link", { name: "Edit in Notion ↗" })).toHaveAttribute("href", /^https:\/\/www\.notion\.so\/[0-9a-f]{32}$/);
  await expect(runbooks.getByRole("button", { name: "Edit", exact: true })).toHaveCount(0);

  const key = (await (await page.request.post("/api/create_api_key", { form: { name: "e2e" } })).json()).secret;
  const sent = await request.post("/api/v1/alerts", {
    headers: { Authorization: `Bearer ${key}` },
    data: { title: "Checkout pods crash-looping", severity: "critical", service: "checkout" },
  });
  const incident = (await sent.json()).incident_id;
  expect((await page.request.post("/api/resolve_incident", { form: { id: incident, note: "rolled back" } })).status()).toBe(200);
  const drafted = await (await page.request.post("/api/start_postmortem", { form: { incident } })).json();
  await page.goto(`/postmortems/${drafted.summary.id}`);
  await waitForHydration(page);
  const exports = page.getByTestId("postmortem-exports");
  await exports.getByRole("button", { name: "Export to Notion" }).click();
  await expect(exports.getByTestId("postmortem-notion").getByRole("link")).toHaveAttribute("href", /^https:\/\/www\.notion\.so\/[0-9a-f]{32}$/);
  await page.reload();
  await expect(page.getByTestId("postmortem-notion")).toBeVisible();
  expect(errors).toEqual([]);
});
