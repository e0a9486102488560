// The agent in the browser: a simulated failure on the demo cluster becomes an incident
// that appears live, its timeline fills step by step, and its analysis names the cause.
import { expect, test } from "@playwright/test";
import { addDemoCluster, noteMeanwhile, signUp, uniqueEmail, waitForHydration } from "./support";

test("simulate an OOM kill: the incident appears live and the agent names OOMKilled with its evidence and the fix", async ({
  page,
  context,
}) => {
  await signUp(page, uniqueEmail("agent"), "Agent team");
  await addDemoCluster(page);

  // A second tab watches the incident list.
  const list = await context.newPage();
  await list.goto("/incidents");
  await waitForHydration(list);

  await page.getByRole("button", { name: "OOM kill", exact: true }).click();
  await expect(page.getByTestId("simulate-result")).toContainText("KubeContainerOOMKilled");

  const incident = list.getByRole("link", { name: /Container was OOM-killed/ });
  await expect(incident).toBeVisible();
  await incident.click();
  await waitForHydration(list);

  const timeline = list.getByTestId("timeline");
  await expect(timeline).toContainText("Started analysing the incident.");
  await expect(timeline).toContainText("Classified as Out of memory (OOMKilled) (alert KubeContainerOOMKilled)");
  await expect(timeline).toContainText("Read deployment demo/healthy-app");
  await expect(timeline).toContainText("Diagnosis (high confidence)");

  const analysis = list.getByTestId("analysis");
  await expect(analysis.getByTestId("root-cause")).toContainText("is OOM-killed");
  await expect(analysis.getByTestId("evidence")).toContainText("last terminated with reason OOMKilled, exit code 137");
  await expect(analysis.getByTestId("evidence")).toContainText("resources.limits.memory: 64Mi");
  const actions = analysis.getByTestId("recommended-actions");
  await expect(actions).toContainText("Raise healthy-app's memory limit from 64Mi to 128Mi");
  await expect(actions).toContainText("low risk");
  await expect(analysis).toContainText("deterministic rules (no LLM)");

  // Feedback: "Wrong…" with what it really was; the open form and its text survive a
  // live refresh of the page (someone adds a note meanwhile).
  await analysis.getByRole("button", { name: "Wrong…" }).click();
  await analysis.getByLabel("What was the cause really? (optional)").fill("A leak in the image cache");
  await noteMeanwhile(page, list, "/api/get_agent_progress", "Checking the cache");
  await expect(analysis.getByLabel("What was the cause really? (optional)")).toHaveValue("A leak in the image cache");
  await analysis.getByRole("button", { name: "Mark wrong" }).click();
  const given = analysis.getByTestId("feedback-given");
  await expect(given).toContainText("Marked wrong");
  await expect(given).toContainText("really: A leak in the image cache");
  await expect(analysis.getByRole("button", { name: "Mark wrong" })).toHaveCount(0);
});
