// Single sign-on in the browser, against a real OpenID provider (oidc-provider.mjs):
// an owner upgrades to Enterprise and saves the provider; a colleague then signs in
// with only their work email and the provider's form, and lands in the team.
import { expect, test } from "@playwright/test";
import { signUp, uniqueEmail, waitForHydration } from "./support";

test("an Enterprise owner sets up single sign-on and a colleague signs in through the provider", async ({ page, browser }) => {
  const domain = `sso-${Date.now()}-${Math.floor(Math.random() * 1e6)}.example`;
  await signUp(page, uniqueEmail("owner").replace("example.com", domain), "Single sign-on team");

  await page.goto("/pricing");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Choose Enterprise" }).click();
  await expect(page).toHaveURL(/\/billing\/checkout\/cs_test_/);
  await waitForHydration(page);
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Pay and subscribe" }).click();
  await expect(page.getByTestId("billing-plan")).toHaveText("Enterprise");

  await page.goto("/settings/members");
  await waitForHydration(page);
  const sso = page.getByRole("region", { name: "Single sign-on" });
  await expect(sso.getByTestId("sso-redirect-uri")).toHaveText(/\/sso\/callback$/);
  await sso.getByLabel("Issuer URL").fill(process.env.E2E_OIDC_ISSUER ?? "");
  await sso.getByLabel("Client ID").fill("dreamops-e2e");
  await sso.getByLabel("Client secret").fill(process.env.E2E_OIDC_CLIENT_SECRET ?? "");
  await sso.getByLabel("Email domains").fill(domain);
  await sso.getByLabel("Role of people it brings in").selectOption("operator");
  await sso.getByRole("button", { name: "Save single sign-on" }).click();
  await expect(sso.getByText("Saved.")).toBeVisible();

  const colleague = await (await browser.newContext()).newPage();
  await colleague.goto("/login");
  await waitForHydration(colleague);
  await colleague.getByRole("link", { name: "Sign in with SSO" }).click();
  await expect(colleague).toHaveURL(/\/sso$/);
  await colleague.getByLabel("Work email").fill(`ana@${domain}`);
  await colleague.getByRole("button", { name: "Continue" }).click();
  // The provider's own sign-in form, the address already filled in from the hint.
  await expect(colleague.locator("input[name=login]")).toHaveValue(`ana@${domain}`);
  await colleague.getByPlaceholder("and password").fill("whatever the provider checks");
  await colleague.getByRole("button", { name: "Sign-in" }).click();
  await expect(colleague).toHaveURL(/\/dashboard$/);
  await expect(colleague.getByTestId("team-name")).toHaveText("Single sign-on team");
  await expect(colleague.getByTestId("team-role")).toHaveText("Operator");
});
