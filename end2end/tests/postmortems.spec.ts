// Post-mortems: drafted from a resolved incident, edited with autosave, found in the
// list, and downloaded as Markdown.
import { readFile } from "node:fs/promises";
import { expect, test } from "@playwright/test";
import { collectErrors, signUp, uniqueEmail, waitForHydration } from "./support";

test("a resolved incident's post-mortem is drafted, edited with autosave, listed and downloaded", async ({
  page,
  request,
}) => {
  const errors = collectErrors(page);
  await signUp(page, uniqueEmail("learnt"), "Learners");
  const key = (await (await page.request.post("/api/create_api_key", { form: { name: "e2e" } })).json()).secret;
  const sent = await request.post("/api/v1/alerts", {
    headers: { Authorization: `Bearer ${key}` },
    data: { title: "Search returns nothing", severity: "critical", service: "search" },
  });
  const incident = (await sent.json()).incident_id;
  expect((await page.request.post("/api/resolve_incident", { form: { id: incident, note: "reindexed" } })).status()).toBe(200);

  await page.goto(`/incidents/${incident}`);
  await waitForHydration(page);
  await page.getByRole("button", { name: "Write post-mortem" }).click();
  await expect(page).toHaveURL(/\/postmortems\/[0-9a-f-]{36}$/);
  await waitForHydration(page);
  const text = page.getByLabel("Post-mortem (Markdown)");
  await expect(text).toHaveValue(/## Impact/);
  await expect(text).toHaveValue(/- Services: search/);
  await expect(page.getByTestId("postmortem-editors")).toContainText("Edited by");

  await text.press("ControlOrMeta+End");
  await text.pressSequentially("\n- [ ] Alert when the index is empty (owner: search team)\n");
  await expect(page.getByTestId("postmortem-status")).toContainText("Saved at");
  await page.reload();
  await expect(page.getByLabel("Post-mortem (Markdown)")).toHaveValue(/Alert when the index is empty/);

  const downloading = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download Markdown" }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe("post-mortem-search-returns-nothing.md");
  const saved = await readFile(await download.path(), "utf8");
  expect(saved).toContain("## Timeline");
  expect(saved).toContain("Alert when the index is empty");

  await page.goto("/postmortems");
  await waitForHydration(page);
  await page.getByLabel("Search").fill("index is empty");
  await expect(page.getByTestId("postmortems")).toContainText("Post-mortem: Search returns nothing");
  await page.getByLabel("Search").fill("no such words");
  await expect(page.getByText("No post-mortem contains this.")).toBeVisible();
  expect(errors).toEqual([]);
});
