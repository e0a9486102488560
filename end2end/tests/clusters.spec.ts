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
