// Two-factor sign-in in the browser: enrolment from the account page (QR code, key,
// first code, recovery codes), then signing in with a code computed from the key, a
// remembered browser, and a recovery code.
import { expect, type Page, test } from "@playwright/test";
import { PASSWORD, signUp, uniqueEmail, waitForHydration } from "./support";
import { totp } from "./totp";

async function logIn(page: Page, email: string): Promise<void> {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
}

test("two-factor sign-in is set up from the account page and asked for at sign-in", async ({ page, browser }) => {
  const email = uniqueEmail("totp");
  await signUp(page, email, "Guarded");
  await page.goto("/settings/account");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  await expect(page.locator(".qr-code svg")).toBeVisible();
  const secret = (await page.getByTestId("two-factor-secret").textContent()) ?? "";
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  await page.getByLabel("Code from the app").fill("000000");
  await page.getByRole("button", { name: "Turn on" }).click();
  await expect(page.locator("#code-error")).toContainText("not right");
  await page.getByLabel("Code from the app").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on" }).click();
  const codes = page.getByTestId("recovery-codes").locator("li");
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.nth(0).textContent()) ?? "";

  // Another browser: the password, then the next code; remembered for 30 days.
  const laptop = await (await browser.newContext()).newPage();
  await logIn(laptop, email);
  await expect(laptop.getByLabel("Authentication code")).toBeVisible();
  await laptop.getByLabel("Authentication code").fill(totp(secret, 1));
  await laptop.getByLabel("Remember this browser for 30 days").check();
  await laptop.getByRole("button", { name: "Verify" }).click();
  await expect(laptop).toHaveURL(/\/dashboard$/);
  await laptop.getByRole("button", { name: "Log out" }).click();
  await logIn(laptop, email);
  await expect(laptop).toHaveURL(/\/dashboard$/);

  // A third browser, without the phone: a recovery code, once.
  const borrowed = await (await browser.newContext()).newPage();
  await logIn(borrowed, email);
  await borrowed.getByLabel("Authentication code").fill(recovery);
  await borrowed.getByRole("button", { name: "Verify" }).click();
  await expect(borrowed).toHaveURL(/\/dashboard$/);
  await page.reload();
  await expect(page.getByTestId("two-factor-status")).toContainText("On");
});
