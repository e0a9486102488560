// GitHub: an admin connects a token (tested against the run's loopback GitHub) and maps a
// service to its repository; the next incident of that service shows, in its analysis,
// the pull request merged just before it, and a responder opens a GitHub issue for it.
// The incident page is opened at once, while the agent may still be writing.
import { expect, test } from "@playwright/test";
import { collectErrors, signUp, uniqueEmail, waitForHydration } from "./support";

test("an incident's analysis names the pull request merged minutes before its first alert", async ({ page, request }) => {
  await signUp(page, uniqueEmail("github"), "Shipping Fast");
  await page.goto("/settings/integrations");
  await waitForHydration(page);
  const panel = page.getByTestId("github");
  await panel.getByLabel("Token").fill("ghp_wrong");
  await panel.getByRole("button", { name: "Connect GitHub" }).click();
  await expect(panel).toContainText("GitHub refused the token (HTTP 401)");
  await panel.getByLabel("Token").fill("ghp_e2e_token");
  await panel.getByRole("button", { name: "Connect GitHub" }).click();
  await expect(panel.getByTestId("github-login")).toHaveText("Connected as e2e-bot.");
  // From here on nothing is refused: the page logs no error.
  const errors = collectErrors(page);
  await panel.getByLabel("Services and their repositories").fill("checkout = acme/shop");
  await panel.getByRole("button", { name: "Save repositories" }).click();
  await expect(panel.getByLabel("Services and their repositories")).toHaveValue("checkout = acme/shop");

  const key = (await (await page.request.post("/api/create_api_key", { form: { name: "e2e" } })).json()).secret;
  const sent = await request.post("/api/v1/alerts", {
    headers: { Authorization: `Bearer ${key}` },
    data: { title: "Checkout errors above 5 %", severity: "critical", service: "checkout" },
  });
  const incident = (await sent.json()).incident_id;
  await page.goto(`/incidents/${incident}`);
  await waitForHydration(page);
  const analysis = page.getByRole("region", { name: "Analysis" });
  await expect(analysis).toContainText(/Changed \d+ minutes before the first alert: PR #42 "Raise the connection pool" by dana \(acme\/shop\)\./, {
    timeout: 20_000,
  });
  await expect(page.getByTestId("timeline")).toContainText("PR #42");

  await page.getByRole("button", { name: "Create GitHub issue" }).click();
  const link = page.getByTestId("github-issues").getByRole("link", { name: /^acme\/shop#\d+ ↗$/ });
  await expect(link).toBeVisible({ timeout: 20_000 });
  await expect(link).toHaveAttribute("href", /^https:\/\/github\.com\/acme\/shop\/issues\/\d+$/);
  await expect(page.getByRole("button", { name: "Create GitHub issue" })).toHaveCount(0);
  await expect(page.getByTestId("timeline")).toContainText(/GitHub issue acme\/shop#\d+ opened for the incident/);
  expect(errors).toEqual([]);
});
