// Kubernetes clusters in the browser: an admin adds one from a pasted kubeconfig.
import { expect, test } from "@playwright/test";
import { signUp, uniqueEmail, waitForHydration } from "./support";

const kubeconfig = `apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster: {server: "https://prod.example:6443"}
contexts:
- name: prod
  context: {cluster: prod-cluster, user: deployer, namespace: shop}
- name: plugin
  context: {cluster: prod-cluster, user: plugin-user}
users:
- name: deployer
  user: {token: e2e-cluster-token}
- name: plugin-user
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh}
`;

test("an admin adds a cluster from a kubeconfig; a plugin kubeconfig is refused; the token is never shown", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("k8s"), "Kube team");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clusters" }).click();
  await waitForHydration(page);
  await expect(page.getByTestId("no-clusters")).toBeVisible();

  await page.getByLabel("Kubeconfig").fill("not a kubeconfig");
  await page.getByRole("button", { name: "Read contexts" }).click();
  await expect(page.getByText(/This is not a kubeconfig/)).toBeVisible();

  await page.getByLabel("Kubeconfig").fill(kubeconfig);
  await page.getByRole("button", { name: "Read contexts" }).click();
  await page.getByLabel("Context").selectOption("plugin");
  await page.getByLabel("Name", { exact: true }).fill("plugged");
  await page.getByRole("button", { name: "Add cluster" }).click();
  await expect(page.getByText(/which DreamOps will not run/)).toBeVisible();

  await page.getByLabel("Context").selectOption("prod");
  await page.getByLabel("Name", { exact: true }).fill("production");
  await page.getByRole("button", { name: "Add cluster" }).click();
  const clusters = page.getByTestId("clusters");
  await expect(clusters).toContainText("production");
  await expect(clusters).toContainText("https://prod.example:6443");
  await expect(clusters).toContainText("shop");
  await expect(page.getByText("e2e-cluster-token")).toHaveCount(0);
});

test("a kubeconfig can be uploaded as a file", async ({ page }) => {
  await signUp(page, uniqueEmail("k8s-upload"), "Upload team");
  await page.goto("/settings/clusters");
  await waitForHydration(page);
  await page
    .getByTestId("kubeconfig-file")
    .setInputFiles({ name: "config.yaml", mimeType: "text/plain", buffer: Buffer.from(kubeconfig) });
  await expect(page.getByLabel("Kubeconfig")).toHaveValue(/current-context: prod/);
  await page.getByRole("button", { name: "Read contexts" }).click();
  await expect(page.getByLabel("Context")).toHaveValue("prod");
});

test("the demo cluster: added in one click, every permission granted, its broken apps in the overview, a simulated failure alerts", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("demo"), "Demo team");
  await page.goto("/settings/clusters");
  await waitForHydration(page);
  await page.getByRole("button", { name: "Add the demo cluster" }).click();
  const clusters = page.getByTestId("clusters");
  await expect(clusters).toContainText("Demo cluster (simulated)");
  await expect(clusters).toContainText("simulation");
  await expect(page.getByRole("button", { name: "Add the demo cluster" })).toHaveCount(0);

  await clusters.getByRole("link", { name: "Demo cluster (simulated)" }).click();
  await waitForHydration(page);
  await expect(page.getByTestId("simulation-notice")).toBeVisible();

  // The overview is read on arrival.
  const health = page.getByTestId("health");
  await expect(health.getByRole("region", { name: "Pods crash-looping" })).toContainText("payment-service");
  await expect(health.getByRole("region", { name: "Pods crash-looping" })).toContainText("broken-database");
  await expect(health.getByRole("region", { name: "Pods failing to pull their image" })).toContainText(
    "analytics-service",
  );
  await expect(health.getByRole("region", { name: "Pods OOM-killed" })).toContainText("memory-hog");
  await expect(health.getByRole("region", { name: "Services without endpoints" })).toContainText("orphan-service");
  await expect(
    health.getByRole("region", { name: "Deployments short of replicas or scaled to zero" }),
  ).toContainText("frontend-app");
  await expect(page.getByTestId("nodes")).toContainText("demo-node-3");

  await page.getByRole("button", { name: "Test connection" }).click();
  await expect(page.getByTestId("connection-summary")).toContainText(
    "every permission the agent needs is granted",
  );
  const permissions = page.getByTestId("permissions");
  // Every capability the agent checks is granted: one "allowed" mark per row, none missing or unknown.
  const capabilities = await permissions.locator("tbody tr").count();
  expect(capabilities).toBeGreaterThan(12);
  await expect(permissions.getByLabel("allowed", { exact: true })).toHaveCount(capabilities);
  await expect(permissions.getByLabel("missing", { exact: true })).toHaveCount(0);
  await expect(permissions.getByLabel("could not be checked", { exact: true })).toHaveCount(0);

  await page.getByRole("button", { name: "OOM kill", exact: true }).click();
  await expect(page.getByTestId("simulate-result")).toContainText("KubeContainerOOMKilled");
  await expect(health.getByRole("region", { name: "Pods OOM-killed" })).toContainText("healthy-app");
  await page.goto("/incidents");
  await expect(page.getByRole("link", { name: /Container was OOM-killed/ })).toBeVisible();
});
