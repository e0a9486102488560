// Accounts and teams in the browser: sign-up, sign-out, sign-in errors, password reset
// by mail, invitations and roles, the team switcher, and form validation.
import { expect, test } from "@playwright/test";
import { linkIn, waitForMail } from "./mail";
import { CONFIRM_SUBJECT, PASSWORD, signUp, uniqueEmail, waitForHydration } from "./support";

test("sign up lands on the dashboard with the team's name", async ({ page }) => {
  const email = uniqueEmail("owner");
  await signUp(page, email, "Payments Platform");
  await expect(page.getByTestId("team-role")).toHaveText("Owner");
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Members" })).toBeVisible();
});

test("after logging out, protected pages send you to the login page", async ({ page }) => {
  await signUp(page, uniqueEmail("leaver"), "Search");
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  for (const path of ["/dashboard", "/settings/members", "/settings/api-keys"]) {
    const response = await page.goto(path);
    await expect(page).toHaveURL(new RegExp(`/login\\?next=${path.replace(/\//g, "\\/")}$`));
    expect(response?.status()).toBe(200);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Log in");
  }
});

test("a wrong password gets a clear error next to the password", async ({ page }) => {
  const email = uniqueEmail("forgetful");
  await signUp(page, email, "Billing");
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not my password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.locator("#password-error")).toHaveText("The email or password is incorrect.");
  await expect(page.getByLabel("Password")).toHaveAttribute("aria-invalid", "true");

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
});

test("a forgotten password is reset from the mailed link, and the old one stops working", async ({ page, browser }) => {
  const email = uniqueEmail("reset");
  await signUp(page, email, "Ledger");
  // A second browser stays signed in; the reset ends its session.
  const other = await (await browser.newContext()).newPage();
  await other.goto("/login");
  await waitForHydration(other);
  await other.getByLabel("Email").fill(email);
  await other.getByLabel("Password").fill(PASSWORD);
  await other.getByRole("button", { name: "Log in" }).click();
  await expect(other).toHaveURL(/\/dashboard$/);
  await page.getByRole("button", { name: "Log out" }).click();

  await page.goto("/login");
  await waitForHydration(page);
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email.toUpperCase());
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByText("Check your inbox.")).toBeVisible();

  const mail = await waitForMail(email, "Reset your DreamOps password");
  const link = linkIn(mail, "http://127.0.0.1");
  expect(link).toContain("/reset-password?token=");
  await page.goto(link);
  await waitForHydration(page);
  await page.getByLabel("New password").fill("short");
  await page.getByRole("button", { name: "Set password and log in" }).click();
  await expect(page.locator("#password-error")).toContainText("8");
  await page.getByLabel("New password").fill("a brand new passphrase");
  await page.getByRole("button", { name: "Set password and log in" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("team-name")).toHaveText("Ledger");
  await waitForMail(email, "Your DreamOps password was changed");

  // The other browser was signed out; the link does not work twice.
  await other.goto("/dashboard");
  await expect(other).toHaveURL(/\/login\?next=/);
  await page.goto(link);
  await waitForHydration(page);
  await page.getByLabel("New password").fill("another new passphrase");
  await page.getByRole("button", { name: "Set password and log in" }).click();
  await expect(page.getByText("This reset link has expired or was already used.")).toBeVisible();

  // Only the new password signs in.
  await other.goto("/login");
  await waitForHydration(other);
  await other.getByLabel("Email").fill(email);
  await other.getByLabel("Password").fill(PASSWORD);
  await other.getByRole("button", { name: "Log in" }).click();
  await expect(other.locator("#password-error")).toHaveText("The email or password is incorrect.");
  await other.getByLabel("Password").fill("a brand new passphrase");
  await other.getByRole("button", { name: "Log in" }).click();
  await expect(other).toHaveURL(/\/dashboard$/);
});

test("an invited viewer joins through the link and sees no admin controls", async ({ page, browser }) => {
  await signUp(page, uniqueEmail("admin"), "Checkout");
  await page.goto("/settings/members");
  await waitForHydration(page);
  const viewerEmail = uniqueEmail("viewer");
  await page.getByLabel("Email").fill(viewerEmail);
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Create invitation" }).click();
  const link = await page.getByTestId("invitation-link").inputValue();
  expect(link).toContain("/invitations/");
  await expect(page.getByTestId("pending-invitations")).toContainText(viewerEmail);

  const other = await browser.newContext();
  const invitee = await other.newPage();
  await invitee.goto(link);
  await waitForHydration(invitee);
  await expect(invitee.getByRole("heading", { level: 1 })).toHaveText("Join Checkout");
  await expect(invitee.getByLabel("Email")).toHaveValue(viewerEmail);
  await invitee.getByLabel("Password").fill(PASSWORD);
  await invitee.getByRole("button", { name: "Create account and join" }).click();
  await expect(invitee).toHaveURL(/\/dashboard$/);
  await expect(invitee.getByTestId("team-name")).toHaveText("Checkout");
  await expect(invitee.getByTestId("team-role")).toHaveText("Viewer");

  const nav = invitee.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "API keys" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Audit log" })).toHaveCount(0);
  await expect(invitee.getByRole("link", { name: "Invite teammates" })).toHaveCount(0);
  await nav.getByRole("link", { name: "Members" }).click();
  await expect(invitee.getByTestId("members")).toContainText(viewerEmail);
  await expect(invitee.getByRole("button", { name: "Create invitation" })).toHaveCount(0);
  await expect(invitee.getByRole("button", { name: "Remove" })).toHaveCount(0);
  await expect(invitee.getByTestId("members").locator("select")).toHaveCount(0);

  // The viewer sees the team's incidents, and no way to act on them.
  const reported = await page.request.post("/api/report_incident", { form: { "incident[title]": "Checkout is slow" } });
  expect(reported.status()).toBe(200);
  await nav.getByRole("link", { name: "Incidents" }).click();
  await expect(invitee.getByRole("button", { name: "Report incident" })).toHaveCount(0);
  await invitee.getByRole("link", { name: "Checkout is slow" }).click();
  await expect(invitee.getByTestId("incident-title")).toHaveText("Checkout is slow");
  await expect(invitee.getByTestId("timeline")).toContainText("Alert received from the incidents page");
  for (const action of ["Acknowledge", "Resolve", "Add note"]) {
    await expect(invitee.getByRole("button", { name: action })).toHaveCount(0);
  }

  // The server refuses what the interface hides.
  const refused = await invitee.request.post("/api/create_api_key", { form: { name: "sneaky" } });
  expect(refused.status()).toBe(403);
  await other.close();

  // The admin sees the new member, and the invitation is no longer pending.
  await page.reload();
  await expect(page.getByTestId("members")).toContainText(viewerEmail);
  await expect(page.getByText("No pending invitations.")).toBeVisible();
});

test("the team switcher moves between two teams", async ({ page }) => {
  await signUp(page, uniqueEmail("multi"), "Alpha Team");
  await page.goto("/settings/account");
  await waitForHydration(page);
  await page.getByLabel("Team name").fill("Bravo Team");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("team-name")).toHaveText("Bravo Team");

  const switcher = page.getByTestId("team-switcher");
  await expect(switcher.locator("option")).toHaveText(["Alpha Team", "Bravo Team"]);
  await switcher.selectOption({ label: "Alpha Team" });
  await expect(page.getByTestId("team-name")).toHaveText("Alpha Team");
  await page.reload();
  await expect(page.getByTestId("team-name")).toHaveText("Alpha Team");
  await page.getByTestId("team-switcher").selectOption({ label: "Bravo Team" });
  await expect(page.getByTestId("team-name")).toHaveText("Bravo Team");
});

test("bad sign-up input is explained next to each field and creates nothing", async ({ page }) => {
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.locator("#email-error")).toHaveText("Enter your email address.");
  await expect(page.locator("#password-error")).toHaveText("Use at least 8 characters.");
  await expect(page.locator("#team_name-error")).toHaveText("Give your team a name.");

  await page.getByLabel("Work email").fill("not-an-email");
  await page.getByLabel("Password").fill("password123");
  await page.getByLabel("Team name").fill("Ops");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.locator("#email-error")).toContainText("email address");
  await expect(page.locator("#password-error")).toContainText("too common");
  await expect(page.locator("#team_name-error")).toHaveCount(0);
  await expect(page).toHaveURL(/\/signup$/);

  // Signing up again with a taken address answers as for a new one (the page never
  // tells whether an address has an account); the address's owner is told by mail.
  const email = uniqueEmail("twice");
  await signUp(page, email, "Ops");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Work email").fill(email.toUpperCase());
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("Team name").fill("Again");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByText("Check your inbox.")).toBeVisible();
  const told = await waitForMail(email, "You already have a DreamOps account");
  expect(told.text).toContain("/forgot-password");
});

test("an address is confirmed from the mailed link; until then the banner says so", async ({ page }) => {
  const email = uniqueEmail("confirm");
  await page.goto("/signup");
  await waitForHydration(page);
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("Team name").fill("Unconfirmed");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByText("Check your inbox.")).toBeVisible();
  // Signing in with the password works before confirming; the banner asks for it.
  await page.getByRole("link", { name: "log in", exact: true }).click();
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  const banner = page.getByRole("complementary", { name: "Email confirmation" });
  await expect(banner).toContainText(email);
  await banner.getByRole("button", { name: "Send the link again" }).click();
  await expect(banner.getByText("Sent.")).toBeVisible();

  const latest = await waitForMail(email, CONFIRM_SUBJECT, 2);
  await page.goto(linkIn(latest, "http"));
  await waitForHydration(page);
  await page.getByRole("button", { name: "Confirm my email" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("complementary", { name: "Email confirmation" })).toHaveCount(0);
  await page.goto("/settings/account");
  await expect(page.getByTestId("email-status")).toHaveText("Confirmed.");
});
