// Alert sources in the browser: the integrations page and the usage card.
import { expect, test } from "@playwright/test";
import { signUp, uniqueEmail, waitForHydration } from "./support";

test("an admin reveals a source's credentials, sends a test alert through it, and sees it counted", async ({ page }) => {
  await signUp(page, uniqueEmail("integrator"), "Observability");
  await expect(page.getByTestId("usage-summary")).toContainText("0 of 3 alerts used");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Integrations" }).click();
  await waitForHydration(page);
  const events = page.getByTestId("integration-events_api");
  await events.getByRole("button", { name: "Reveal" }).click();
  await expect(events.getByTestId("routing-key")).toHaveValue(/^[0-9a-f]{48}$/);

  const alertmanager = page.getByTestId("integration-alertmanager");
  await expect(alertmanager.getByLabel("Prometheus Alertmanager endpoint")).toHaveValue(/\/webhooks\/alertmanager\/•+$/);
  await alertmanager.getByRole("button", { name: "Send test alert" }).click();
  await expect(alertmanager.getByRole("status")).toHaveText("Delivered: the endpoint answered 200 OK.");
  await expect(events.getByRole("status")).toHaveCount(0);
  await expect(alertmanager).toContainText("Recent deliveries (1)");
  // The revealed routing key survives the page's reload of its data.
  await expect(events.getByTestId("routing-key")).toBeVisible();

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByTestId("usage-summary")).toContainText("1 of 3 alerts used");
});
