// Helpers shared by the end-to-end tests.
import { expect, type Page } from "@playwright/test";

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
