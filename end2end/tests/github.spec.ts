// GitHub: an admin connects a token (tested against the run's loopback GitHub) and maps a
// service to its repository; the next incident of that service shows, in its analysis,
// the pull request merged just before it.
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
  // Opened once the analysis is stored. (Loading an incident page while the agent is
  // still writing its steps can fail to hydrate, intermittently: a known open bug,
  // see the session notes of issue 25.)
  await expect
    .poll(async () => (await page.request.get(`/api/get_agent_progress?incident=${incident}`)).text(), { timeout: 20_000 })
    .toContain('"Done"');
  await page.goto(`/incidents/${incident}`);
  await waitForHydration(page);
  const analysis = page.getByRole("region", { name: "Analysis" });
  await expect(analysis).toContainText(/Changed \d+ minutes before the first alert: PR #42 "Raise the connection pool" by dana \(acme\/shop\)\./, {
    timeout: 20_000,
  });
  await expect(page.getByTestId("timeline")).toContainText("PR #42");
  expect(errors).toEqual([]);
});
