// Leaving and deleting in the browser: an owner downloads the team's data, deletes the
// team by typing its name and starts a new one; a user deletes their account.
import { readFile } from "node:fs/promises";
import { expect, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail, waitForHydration } from "./support";

test("an owner exports the team, deletes it by typing its name, and creates another", async ({ page }) => {
  await signUp(page, uniqueEmail("doomed"), "Doomed team");
  await page.goto("/settings/account");
  await waitForHydration(page);

  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download the team's data" }).click();
  const file = await (await download).path();
  const exported = JSON.parse(await readFile(file, "utf8"));
  expect(exported.team.name).toBe("Doomed team");
  expect(exported.audit_log.map((entry: { action: string }) => entry.action)).toContain("team.exported");

  const deletion = page.getByRole("region", { name: "Delete Doomed team" });
  await deletion.getByLabel("The team's name, to confirm").fill("Doomed");
  await deletion.getByRole("button", { name: "Delete this team" }).click();
  await expect(deletion.locator("#confirmation-error")).toContainText("Doomed team");

  await deletion.getByLabel("The team's name, to confirm").fill("Doomed team");
  await deletion.getByRole("button", { name: "Delete this team" }).click();
  // In no team, every team page leads to the account page, which says what to do.
  await expect(page).toHaveURL(/\/settings\/account$/);
  await expect(page.getByTestId("no-team")).toBeVisible();
  await page.goto("/incidents");
  await expect(page).toHaveURL(/\/settings\/account$/);
  await waitForHydration(page);

  await page.getByLabel("Team name").fill("Second chance");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("team-name")).toHaveText("Second chance");
});

test("a user deletes their account with the team they alone own", async ({ page }) => {
  const email = uniqueEmail("leaving");
  await signUp(page, email, "Solo act");
  await page.goto("/settings/account");
  await waitForHydration(page);

  const deletion = page.getByRole("region", { name: "Delete your account" });
  await expect(deletion.getByTestId("teams-deleted-with-account")).toHaveText("Solo act");
  await deletion.getByLabel("Your password").fill(PASSWORD);
  await deletion.getByLabel("Your email address, to confirm").fill(email);
  await deletion.getByRole("button", { name: "Delete my account" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("link", { name: "Log in" })).toBeVisible();

  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByText("The email or password is incorrect.")).toBeVisible();
});
