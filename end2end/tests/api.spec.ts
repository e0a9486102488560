// The public API and webhooks in the browser: an admin makes a scoped key that a script
// then uses, the reference page, and a webhook endpoint added on its settings page whose
// deliveries a separate receiver verifies with only the documented algorithm.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "@playwright/test";
import { collectErrors, signUp, uniqueEmail, waitForHydration } from "./support";

test("an admin makes a key with scopes, and a script reads and acknowledges through the API", async ({ page, request }) => {
  const errors = collectErrors(page);
  await signUp(page, uniqueEmail("api"), "Automation");
  await page.goto("/settings/api-keys");
  await waitForHydration(page);
  await page.getByLabel("Name").fill("chat bot");
  await page.getByRole("checkbox", { name: /^read/ }).check();
  await page.getByRole("checkbox", { name: /^respond/ }).check();
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.getByTestId("api-key-secret").inputValue();
  expect(key).toMatch(/^dok_[0-9a-f]{8}_[0-9a-f]{64}$/);
  await expect(page.getByTestId("api-keys").getByRole("row", { name: /chat bot/ })).toContainText("alerts, read, respond");

  const auth = { Authorization: `Bearer ${key}` };
  expect((await request.post("/api/v1/alerts", { headers: auth, data: { title: "Queue backlog", severity: "error" } })).status()).toBe(202);
  const listed = await request.get("/api/v1/incidents", { headers: auth });
  expect(listed.status()).toBe(200);
  expect(listed.headers()["ratelimit-remaining"]).toBeDefined();
  const incident = (await listed.json()).incidents[0];
  expect(incident.title).toBe("Queue backlog");
  const acknowledged = await request.post(`/api/v1/incidents/${incident.id}/acknowledge`, { headers: auth });
  expect((await acknowledged.json()).acknowledged_by).toBe("API key chat bot");
  const refused = await request.get("/api/v1/audit-log", { headers: auth });
  expect(refused.status()).toBe(403);
  expect(refused.headers()["content-type"]).toBe("application/problem+json");

  await page.getByRole("link", { name: "API reference" }).click();
  await expect(page.getByRole("heading", { name: "DreamOps API reference" })).toBeVisible();
  await expect(page.getByText("POST /api/v1/incidents/{id}/resolve")).toBeVisible();
  expect(errors).toEqual([]);
});

/** A webhook receiver that checks `DreamOps-Signature` as the reference documents it. */
function receiver(): { server: Server; events: { type: string; id: string; verified: boolean }[]; secret: { value: string } } {
  const events: { type: string; id: string; verified: boolean }[] = [];
  const secret = { value: "" };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      const entries = String(request.headers["dreamops-signature"] ?? "").split(",").map((part) => part.split("=", 2));
      const t = entries.find(([key]) => key === "t")?.[1] ?? "0";
      const expected = createHmac("sha256", secret.value).update(`${t}.`).update(body).digest();
      const fresh = Math.abs(Date.now() / 1000 - Number(t)) <= 300;
      const verified =
        fresh &&
        entries.some(([key, value]) => key === "v1" && value.length === 64 && timingSafeEqual(Buffer.from(value, "hex"), expected));
      const event = JSON.parse(body.toString());
      events.push({ type: event.type, id: event.id, verified });
      response.writeHead(verified ? 200 : 400).end(verified ? "ok" : "bad signature");
    });
  });
  server.listen(0, "127.0.0.1");
  return { server, events, secret };
}

test("a webhook endpoint added in the browser gets signed events, shown with their answers and replayable", async ({ page, request }) => {
  const { server, events, secret } = receiver();
  const port = await new Promise<number>((resolve) => server.on("listening", () => resolve((server.address() as AddressInfo).port)));
  try {
    const errors = collectErrors(page);
    await signUp(page, uniqueEmail("hooks"), "Hooks");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
    await waitForHydration(page);
    await expect(page.getByText("No endpoints yet.")).toBeVisible();
    await page.getByLabel("URL").fill(`http://127.0.0.1:${port}/hook`);
    // Only openings: the agent's analysis of the incident would be a second event.
    for (const event of ["incident.updated", "incident.resolved", "analysis.ready", "action.awaiting_approval", "action.executed"]) {
      await page.getByRole("checkbox", { name: event }).uncheck();
    }
    await page.getByRole("button", { name: "Add endpoint" }).click();
    secret.value = await page.getByTestId("webhook-secret").inputValue();
    expect(secret.value).toMatch(/^whsec_/);
    const endpoint = page.getByTestId("webhook-endpoint");
    await expect(endpoint).toContainText("incident.opened");
    await expect(endpoint).toContainText("Sent: incident.opened.");

    const key = (await (await page.request.post("/api/create_api_key", { form: { name: "sender" } })).json()).secret;
    const sent = await request.post("/api/v1/alerts", { headers: { Authorization: `Bearer ${key}` }, data: { title: "Cache misses" } });
    expect(sent.status()).toBe(202);
    await expect.poll(() => events.length, { timeout: 15_000 }).toBe(1);
    expect(events[0]).toMatchObject({ type: "incident.opened", verified: true });

    await endpoint.getByRole("button", { name: "Deliveries" }).click();
    const deliveries = endpoint.getByTestId("webhook-deliveries");
    await expect(deliveries).toContainText("delivered");
    await expect(deliveries).toContainText("HTTP 200");
    await deliveries.getByRole("button", { name: "Replay" }).click();
    await expect.poll(() => events.length, { timeout: 15_000 }).toBe(2);
    expect(events[1]).toEqual({ ...events[0] });
    expect(errors).toEqual([]);
  } finally {
    server.close();
  }
});
