// Plans and billing in test mode: from a used-up quota to Pro with Stripe's test cards.
import { expect, test } from "@playwright/test";
import { signUp, uniqueEmail, waitForHydration } from "./support";

test("a Free team out of alerts upgrades to Pro with a test card; a declined card changes nothing", async ({
  page,
  request,
}) => {
  await signUp(page, uniqueEmail("buyer"), "Buyers");
  const key = (await (await page.request.post("/api/create_api_key", { form: { name: "e2e" } })).json()).secret;
  for (let n = 1; n <= 4; n++) {
    const response = await request.post("/api/v1/alerts", {
      headers: { Authorization: `Bearer ${key}` },
      data: { title: `Checkout errors ${n}`, severity: "error" },
    });
    expect(response.status()).toBe(202);
    expect((await response.json()).quota_exceeded).toBe(n === 4);
  }

  await page.goto("/dashboard");
  await waitForHydration(page);
  await expect(page.getByTestId("usage-summary")).toContainText("3 of 3 alerts used");
  await page.getByRole("button", { name: "Upgrade" }).click();
  const dialog = page.getByRole("dialog", { name: "Upgrade for more alerts" });
  await expect(dialog.getByTestId("plan-pro")).toContainText("Recommended");
  await dialog.getByRole("link", { name: "Compare all plans" }).click();
  await expect(page).toHaveURL(/\/pricing$/);
  await expect(page.getByTestId("plan-free")).toContainText("Current plan");
  await expect(page.getByTestId("plan-enterprise")).toContainText("Unlimited alerts");
  await page.getByRole("button", { name: "Choose Pro" }).click();

  await expect(page).toHaveURL(/\/billing\/checkout\/cs_test_/);
  await expect(page.getByText("Test mode — no real payment")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Subscribe to Pro" })).toBeVisible();
  await waitForHydration(page);
  await page.getByLabel("Card number").fill("4000 0000 0000 0002");
  await page.getByRole("button", { name: "Pay and subscribe" }).click();
  await expect(page.getByText("Your card was declined.")).toBeVisible();
  const stillFree = await (await page.request.get("/api/get_usage")).json();
  expect(stillFree.plan).toBe("Free");

  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Pay and subscribe" }).click();
  await expect(page).toHaveURL(/\/settings\/billing$/);
  await expect(page.getByTestId("billing-plan")).toHaveText("Pro");
  await expect(page.getByTestId("billing-status")).toHaveText("active");
  await expect(page.getByTestId("usage-summary")).toContainText("of 200 alerts used");
  await expect(page.getByTestId("payments")).toContainText("Paid");

  // The incident held over quota is now eligible for analysis.
  await page.goto("/incidents");
  await waitForHydration(page);
  await expect(page.getByTestId("incident-row")).toHaveCount(4);
  await expect(page.getByText("over quota")).toHaveCount(0);
});

test("a team paying in rupees chooses PhonePe, declines once, then pays on PhonePe's test page and renews", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("rupees"), "Rupee Payers");
  await page.goto("/settings/billing");
  await waitForHydration(page);
  const providers = page.getByTestId("provider-form");
  await providers.getByLabel(/PhonePe/).check();
  await providers.getByRole("button", { name: "Save provider" }).click();
  await expect(providers.getByLabel(/PhonePe/)).toBeChecked();
  await expect.poll(async () => (await (await page.request.get("/api/get_billing")).json()).provider).toBe("phonepe");

  await page.goto("/pricing");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Choose Pro" }).click();
  await expect(page).toHaveURL(/\/phonepe-sandbox\/pay\/DO[0-9a-f]+$/);
  await expect(page.getByText("Test mode: PhonePe is simulated")).toBeVisible();
  await expect(page.getByTestId("phonepe-amount")).toHaveText("₹2999");
  await page.getByRole("button", { name: "Decline" }).click();
  await expect(page).toHaveURL(/\/settings\/billing\?checkout=failed$/);
  await expect(page.getByTestId("checkout-outcome")).toContainText("did not go through");
  await expect(page.getByTestId("billing-plan")).toHaveText("Free");

  await page.goto("/pricing");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Choose Pro" }).click();
  await page.getByRole("button", { name: "Pay ₹2999 with UPI" }).click();
  await expect(page).toHaveURL(/\/settings\/billing\?checkout=success$/);
  await expect(page.getByTestId("billing-plan")).toHaveText("Pro");
  await expect(page.getByTestId("billing-status")).toHaveText("active");
  await expect(page.getByTestId("payments")).toContainText("PhonePe");
  await expect(page.getByTestId("payments")).toContainText("INR 2999.00");
  await expect(page.getByTestId("payments")).toContainText("Failed");
  await expect(page.getByText("The provider can be changed once the team is on Free")).toBeVisible();

  // Renewing pays for the month after this one.
  await waitForHydration(page);
  await page.getByRole("button", { name: "Renew Pro for a month" }).click();
  await expect(page).toHaveURL(/\/phonepe-sandbox\/pay\//);
  await page.getByRole("button", { name: "Pay ₹2999 with UPI" }).click();
  await expect(page).toHaveURL(/\/settings\/billing\?checkout=success$/);
  await expect(page.getByTestId("payments").getByRole("row", { name: /PhonePe Paid/ })).toHaveCount(2);
});
