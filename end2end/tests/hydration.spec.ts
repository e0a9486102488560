// Every page, loaded directly (rendered on the server, streamed, then taken over by the
// browser), hydrates without an error once its data has arrived — with real content:
// a demo cluster, an analysed incident with a recommended action. A page that fails to
// hydrate looks right but stops responding and stops updating live.
import { expect, test } from "@playwright/test";
import { addDemoCluster, collectErrors, signUp, uniqueEmail, waitForHydration, SIGNED_IN_PAGES } from "./support";

test("every signed-in page hydrates without an error when loaded directly", async ({ page }) => {
  await signUp(page, uniqueEmail("hydrate"), "Hydration team");
  await addDemoCluster(page, /^Approve:/);
  const cluster = page.url();
  await page.getByRole("button", { name: "OOM kill", exact: true }).click();
  await expect(page.getByTestId("simulate-result")).toContainText("KubeContainerOOMKilled");
  await page.goto("/incidents");
  await waitForHydration(page);
  await page.getByRole("link", { name: /Container was OOM-killed/ }).click();
  await expect(page.getByTestId("recommended-actions")).toContainText("Raise healthy-app's memory limit");
  const incident = page.url();

  const pages = [
    ...SIGNED_IN_PAGES,
    incident,
    cluster,
    "/pricing",
    "/status",
    // The pages mailed links lead to (a link's token is in its address).
    "/forgot-password",
    "/reset-password?token=0000",
    "/verify-email?token=0000",
  ];
  for (const address of pages) {
    const fresh = await page.context().newPage();
    const errors = collectErrors(fresh);
    await fresh.goto(address);
    await waitForHydration(fresh);
    // Every streamed part has arrived and been taken over: no loading placeholder left.
    await expect(fresh.locator('[aria-busy="true"]')).toHaveCount(0);
    await fresh.waitForLoadState("load");
    // Let the tasks queued by the last streamed part run (where hydration would fail).
    await fresh.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0))));
    expect(errors, `${address} hydrates`).toEqual([]);
    await fresh.close();
  }
});
