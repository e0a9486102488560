// Helpers shared by the end-to-end tests.
import { type Browser, expect, type Page } from "@playwright/test";
import { linkIn, waitForMail } from "./mail";

/** Waits until the browser has taken over the server-rendered page: clicks before that do nothing. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/** Collects what the page logs as errors (a failed hydration shows up here), for asserting none. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/** An email address no other test (or earlier run) has used. */
export function uniqueEmail(name: string): string {
  return `${name}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Every signed-in page at a fixed address (a cluster's and an incident's page come on top). */
export const SIGNED_IN_PAGES = [
  "/dashboard",
  "/incidents",
  "/runbooks",
  "/postmortems",
  "/settings/clusters",
  "/settings/members",
  "/settings/integrations",
  "/settings/ai",
  "/settings/api-keys",
  "/settings/webhooks",
  "/settings/audit-log",
  "/settings/account",
  "/settings/billing",
];

/** A password that passes every rule. */
export const PASSWORD = "correct horse battery staple";

/** The subject of the mail that confirms a new account's address. */
export const CONFIRM_SUBJECT = "Confirm your email for DreamOps";

/** Signs up through the form, confirms the address with the mailed link, and waits for
 * the dashboard. */
export async function signUp(page: Page, email: string, team: string): Promise<void> {
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("Team name").fill(team);
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByText("Check your inbox.")).toBeVisible();
  const mail = await waitForMail(email, CONFIRM_SUBJECT);
  await page.goto(linkIn(mail, "http"));
  await waitForHydration(page);
  await page.getByRole("button", { name: "Confirm my email" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("team-name")).toHaveText(team);
}

/** Has an admin on `page` invite a new member with `role`, who joins in a browser of
 * their own; their page, on the dashboard. */
export async function joinAs(page: Page, browser: Browser, role: string): Promise<Page> {
  await page.goto("/settings/members");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(uniqueEmail(role));
  await page.getByLabel("Role", { exact: true }).selectOption(role);
  await page.getByRole("button", { name: "Create invitation" }).click();
  const link = await page.getByTestId("invitation-link").inputValue();
  const member = await (await browser.newContext()).newPage();
  await member.goto(link);
  await waitForHydration(member);
  await member.getByLabel("Password").fill(PASSWORD);
  await member.getByRole("button", { name: "Create account and join" }).click();
  await expect(member).toHaveURL(/\/dashboard$/);
  return member;
}

/** Adds the demo cluster from the clusters page and opens its page; with `mode` (the
 * label of a remediation mode), saves that mode in its policy. */
export async function addDemoCluster(page: Page, mode?: RegExp): Promise<void> {
  await page.goto("/settings/clusters");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Add the demo cluster" }).click();
  await page.getByTestId("clusters").getByRole("link", { name: "Demo cluster (simulated)" }).click();
  await waitForHydration(page);
  if (mode) {
    await page.getByRole("radio", { name: mode }).check();
    await page.getByRole("button", { name: "Save policy" }).click();
    await expect(page.getByText("Policy saved.")).toBeVisible();
  }
}

/** Adds a note to the incident open in `watcher` through `page`'s session, as a
 * colleague would, and waits until `watcher` has fetched `endpoint` again live and shows
 * the note. */
export async function noteMeanwhile(page: Page, watcher: Page, endpoint: string, text: string): Promise<void> {
  const refreshed = watcher.waitForResponse((response) => response.url().includes(endpoint));
  const incidentId = watcher.url().split("/").pop()!;
  const noted = await page.request.post("/api/add_incident_note", { form: { id: incidentId, text } });
  expect(noted.status()).toBe(200);
  await refreshed;
  await expect(watcher.getByTestId("timeline")).toContainText(text);
}
