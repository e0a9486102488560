// Remediation in the browser: in approve mode an operator approves the agent's fix and
// the incident resolves live once it is verified (a viewer sees no Approve button); in
// autonomous mode the same fix happens without a click.
import { type Page, expect, test } from "@playwright/test";
import { addDemoCluster, collectErrors, joinAs, noteMeanwhile, signUp, uniqueEmail, waitForHydration } from "./support";

/// Simulates an OOM kill from the cluster page, then opens its incident in `watcher`.
async function oomIncident(page: Page, watcher: Page): Promise<void> {
  await watcher.goto("/incidents");
  await waitForHydration(watcher);
  await page.getByRole("button", { name: "OOM kill", exact: true }).click();
  await expect(page.getByTestId("simulate-result")).toContainText("KubeContainerOOMKilled");
  const incident = watcher.getByRole("link", { name: /Container was OOM-killed/ });
  await expect(incident).toBeVisible();
  await incident.click();
  await waitForHydration(watcher);
  await expect(watcher.getByTestId("recommended-actions")).toContainText(
    "Raise healthy-app's memory limit from 64Mi to 128Mi",
  );
}

test("approve mode: an operator approves the fix, it is verified, and the incident resolves live; a viewer cannot approve", async ({
  page,
  browser,
}) => {
  await signUp(page, uniqueEmail("approver"), "Approve team");

  const viewer = await joinAs(page, browser, "viewer");
  // The incident page loaded directly (not navigated to) must hydrate: before, the
  // analysis panel's nested boundaries did not, and the page stopped updating live.
  const viewerErrors = collectErrors(viewer);

  await addDemoCluster(page, /^Approve:/);
  const operator = await page.context().newPage();
  await oomIncident(page, operator);
  const analysis = operator.getByTestId("analysis");
  await expect(analysis.getByTestId("remediation-mode")).toContainText("Approve mode");

  // The viewer sees the same incident, and no Approve button.
  await viewer.goto(operator.url());
  await waitForHydration(viewer);
  await expect(viewer.getByTestId("recommended-actions")).toContainText("Raise healthy-app's memory limit");
  await expect(viewer.getByRole("button", { name: "Approve…" })).toHaveCount(0);

  // The owner approves with a comment after seeing the exact change.
  await expect(operator.getByTestId("incident-status")).toHaveText("triggered");
  await analysis.getByRole("button", { name: "Approve…" }).first().click();
  const form = analysis.getByTestId("approve-form");
  await expect(form).toContainText("kubectl -n demo set resources deployment/healthy-app -c healthy-app --limits=memory=128Mi");
  await form.getByLabel("Comment (optional)").fill("as diagnosed");
  // A live refresh meanwhile (someone adds a note) keeps the open form and its comment.
  await noteMeanwhile(page, operator, "/api/get_incident_actions", "Looking at it");
  await expect(form.getByLabel("Comment (optional)")).toHaveValue("as diagnosed");
  await form.getByRole("button", { name: "Approve and run" }).click();

  const taken = analysis.getByTestId("action-taken");
  await expect(taken).toHaveAttribute("data-state", "verified");
  await expect(taken).toContainText("Fixed");
  await expect(taken).toContainText("as diagnosed");
  await expect(operator.getByTestId("incident-status")).toHaveText("resolved");
  await expect(operator.getByTestId("timeline")).toContainText("Resolved by DreamOps agent");
  // The viewer sees the outcome too, live.
  await expect(viewer.getByTestId("incident-status")).toHaveText("resolved");
  await expect(viewer.getByTestId("action-taken")).toHaveAttribute("data-state", "verified");
  expect(viewerErrors).toEqual([]);
});

test("autonomous mode: the agent raises the limit itself, verifies it, and the incident resolves without a click", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("autonomous"), "Autonomous team");
  await addDemoCluster(page, /^Autonomous:/);
  const watcher = await page.context().newPage();
  await oomIncident(page, watcher);
  const taken = watcher.getByTestId("action-taken");
  await expect(taken).toHaveAttribute("data-state", "verified");
  await expect(taken).toContainText("automatically, by the agent");
  await expect(watcher.getByTestId("incident-status")).toHaveText("resolved");
  await expect(watcher.getByRole("button", { name: "Approve…" })).toHaveCount(0);
});
