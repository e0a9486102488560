// Runbooks: one written on its page, matched to an incident by its service, its steps
// ticked off on the incident page into the timeline.
import { expect, test } from "@playwright/test";
import { collectErrors, signUp, uniqueEmail, waitForHydration } from "./support";

test("a runbook written for a service shows on its incident, and a ticked step lands on the timeline", async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  await signUp(page, uniqueEmail("runbooks"), "Runbook Writers");
  await page.goto("/runbooks");
  await waitForHydration(page);
  await expect(page.getByText("No runbooks yet")).toBeVisible();
  await page.getByRole("button", { name: "New runbook" }).click();
  const editor = page.getByTestId("runbook-editor");
  await editor.getByLabel("Title").fill("Checkout is slow");
  await editor.getByLabel("Services").fill("checkout");
  await editor.getByLabel("Runbook (Markdown)").fill("Checkout slows down when the cache is cold.\n\n1. Check the checkout pods\n2. Warm the cache with `cachectl warm`\n");
  await editor.getByRole("button", { name: "Save runbook" }).click();
  await expect(page.getByTestId("runbook-text")).toContainText("cachectl warm");
  await expect(page.getByTestId("runbook")).toContainText("For services checkout. Version 1");

  const key = (await (await page.request.post("/api/create_api_key", { form: { name: "e2e" } })).json()).secret;
  const sent = await request.post("/api/v1/alerts", {
    headers: { Authorization: `Bearer ${key}` },
    data: { title: "Checkout p99 over 2 s", severity: "error", service: "checkout" },
  });
  expect(sent.status()).toBe(202);
  const incident = (await sent.json()).incident_id;

  await page.goto(`/incidents/${incident}`);
  await waitForHydration(page);
  const panel = page.getByTestId("incident-runbook");
  await expect(panel.getByRole("heading", { name: "Runbook: Checkout is slow" })).toBeVisible();
  await expect(panel).toContainText("Matched by service checkout; version 1.");
  await panel.getByRole("checkbox", { name: "2. Warm the cache with `cachectl warm`" }).check();
  await expect(panel).toContainText("done by");
  await expect(panel.getByRole("checkbox", { name: /^2\./ })).toBeDisabled();
  await expect(page.getByTestId("timeline")).toContainText("Runbook step 2 of 2 done: Warm the cache with `cachectl warm`");
  expect(errors).toEqual([]);
});
