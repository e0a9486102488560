// A layout that fits: at a phone's 390×844 no page scrolls sideways and the navigation
// sits behind a menu button; at 1366 px the header is one row.
import { expect, type Page, test } from "@playwright/test";
import { addDemoCluster, SIGNED_IN_PAGES, signUp, uniqueEmail, waitForHydration } from "./support";


/** How far `page` scrolls sideways (0 when it fits). */
function overflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/** The elements that reach past the right edge, for the failure message. */
function offenders(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll("body *")]
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1)
      .filter((element) => !element.parentElement || element.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
      .slice(0, 5)
      .map((element) => `${element.tagName.toLowerCase()}.${[...element.classList].join(".")} ${Math.round(element.getBoundingClientRect().width)}px`),
  );
}

test("at a phone's width no signed-in page scrolls sideways, and the menu button opens the navigation", async ({
  page,
}) => {
  test.setTimeout(90_000);
  await signUp(page, uniqueEmail("phone"), "A team with a rather long name for a phone");
  // Content in the widest places: a cluster with its overview, and an incident.
  await addDemoCluster(page);
  const cluster = new URL(page.url()).pathname;

  await page.goto("/incidents");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Report incident" }).click();
  const form = page.getByRole("region", { name: "Report an incident" });
  await form.getByLabel("Title").fill("Checkout latency over two seconds on every request since the last deployment");
  await form.getByRole("button", { name: "Open incident" }).click();
  await expect(page.getByTestId("incident-title")).toBeVisible();
  const incident = new URL(page.url()).pathname;

  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of [...SIGNED_IN_PAGES, cluster, incident]) {
    await page.goto(path);
    await waitForHydration(page);
    expect(await overflow(page), `${path} fits 390 px: ${await offenders(page)}`).toBeLessThanOrEqual(0);
  }

  await page.goto("/dashboard");
  await waitForHydration(page);
  const nav = page.getByRole("navigation", { name: "Main" });
  const menu = page.getByRole("button", { name: "Menu" });
  await expect(nav).toBeHidden();
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await menu.focus();
  await page.keyboard.press("Enter");
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  await expect(nav).toBeVisible();
  expect(await overflow(page), "the open menu fits too").toBeLessThanOrEqual(0);
  await nav.getByRole("link", { name: "Incidents" }).click();
  await expect(page).toHaveURL(/\/incidents$/);
  await expect(nav, "choosing a page closes the menu").toBeHidden();
});

test("at 1366 px the header is one row and the navigation shows without a menu button", async ({ page }) => {
  await page.setViewportSize({ width: 1366, height: 768 });
  await signUp(page, uniqueEmail("wide"), "Wide");
  for (const path of ["/dashboard", "/"]) {
    await page.goto(path);
    await waitForHydration(page);
    await expect(page.getByRole("button", { name: "Menu" })).toBeHidden();
    // One row: the brand, every navigation entry and the account menu share a middle.
    const middle = (box: { y: number; height: number } | null) => box!.y + box!.height / 2;
    const brand = middle(await page.locator(".brand").boundingBox());
    const parts = [...(await page.locator(".nav-list a").all()), page.locator(".site-nav .account-menu")];
    expect(parts.length).toBeGreaterThan(3);
    for (const part of parts) {
      expect(Math.abs(middle(await part.boundingBox()) - brand), `${path}: ${await part.textContent()} beside the brand`).toBeLessThan(8);
    }
    await page.screenshot({ path: test.info().outputPath(`header-1366${path.replace(/\//g, "-")}.png`) });
    expect(await overflow(page)).toBeLessThanOrEqual(0);
  }
});
