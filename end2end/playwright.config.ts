// End-to-end tests: the release build, laid out and configured as the Docker image runs
// it, driven in Debian's Chromium.
//
// The release must already be built (`bash .ci/build`); the README's test command does
// that. The image's files and environment come from the Dockerfile's runtime stage
// (image.ts); only its address, its database (DATABASE_URL, or DREAMOPS_DATA_DIR for the
// embedded one) and the production secrets are this run's. Playwright stops the server
// with SIGTERM, so a clean shutdown is part of every run.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, devices } from "@playwright/test";
import { IMAGE_DIR, assembleImage, imageEnvironment, inImage, runtimeStage } from "./image";

const port = Number(process.env.E2E_PORT ?? 3100);
const baseURL = `http://127.0.0.1:${port}`;
const image = runtimeStage();
// The deployment's key, the same for every instance this run starts (workers inherit it).
process.env.DREAMOPS_SECRET_KEY ??= randomBytes(32).toString("hex");
// The mail server the deployment sends through: a real SMTP server (aiosmtpd, which the
// test command installs) storing what it receives in a Maildir the tests read (mail.ts).
const smtpPort = Number(process.env.E2E_SMTP_PORT ?? port + 1);
process.env.E2E_MAILDIR ??= join(tmpdir(), `dreamops-e2e-mail-${randomBytes(6).toString("hex")}`);
const smtpServerPath = process.env.SMTP_SERVER_PATH ?? join(__dirname, "..", "target", "tools", "aiosmtpd-1.4.6");
process.env.E2E_SMTP_URL ??= `smtp://127.0.0.1:${smtpPort}`;
if (!process.env.TEST_WORKER_INDEX) rmSync(process.env.E2E_MAILDIR, { recursive: true, force: true });

// The run's OpenID provider (npm's oidc-provider, oidc-provider.mjs) for single sign-on,
// with one client: DreamOps. sso.spec.ts reads its issuer and the client's credentials.
const oidcPort = Number(process.env.E2E_OIDC_PORT ?? port + 2);
process.env.E2E_OIDC_ISSUER ??= `http://127.0.0.1:${oidcPort}`;
process.env.E2E_OIDC_CLIENT_SECRET ??= randomBytes(16).toString("hex");
// The run's GitHub: a loopback server speaking GitHub's REST API (github-api.mjs).
const githubPort = Number(process.env.E2E_GITHUB_PORT ?? port + 3);
// The run's Notion: a loopback server speaking Notion's API (notion-api.mjs).
const notionPort = Number(process.env.E2E_NOTION_PORT ?? port + 4);
// Workers read this file too, while the server runs: only the main process lays it out.
if (!process.env.TEST_WORKER_INDEX) assembleImage(image);

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          // Without the network flags Chromium keeps calling home, and this
          // machine's closed network refuses every attempt.
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
  webServer: [
    {
      // aiosmtpd creates the Maildir itself (and refuses one it did not create).
      command: `python3 -m aiosmtpd -n -l 127.0.0.1:${smtpPort} -c aiosmtpd.handlers.Mailbox ${process.env.E2E_MAILDIR}`,
      port: smtpPort,
      timeout: 30_000,
      reuseExistingServer: false,
      env: { ...(process.env as Record<string, string>), PYTHONPATH: smtpServerPath },
    },
    {
      command: `node ${join(__dirname, "oidc-provider.mjs")}`,
      url: `${process.env.E2E_OIDC_ISSUER}/.well-known/openid-configuration`,
      timeout: 30_000,
      reuseExistingServer: false,
      env: {
        ...(process.env as Record<string, string>),
        OIDC_PORT: String(oidcPort),
        OIDC_CLIENTS: JSON.stringify([
          {
            client_id: "dreamops-e2e",
            client_secret: process.env.E2E_OIDC_CLIENT_SECRET,
            redirect_uris: [`${baseURL}/sso/callback`],
          },
        ]),
      },
    },
    {
      command: `node ${join(__dirname, "github-api.mjs")}`,
      port: githubPort,
      timeout: 30_000,
      reuseExistingServer: false,
      env: { ...(process.env as Record<string, string>), GITHUB_PORT: String(githubPort), GITHUB_TOKEN: "ghp_e2e_token" },
    },
    {
      command: `node ${join(__dirname, "notion-api.mjs")}`,
      port: notionPort,
      timeout: 30_000,
      reuseExistingServer: false,
      env: { ...(process.env as Record<string, string>), NOTION_PORT: String(notionPort), NOTION_TOKEN: "secret_e2e_token" },
    },
    {
      command: image.command.map((word) => (word.startsWith(image.workdir) ? inImage(image, word) : word)).join(" "),
      cwd: IMAGE_DIR,
      url: `${baseURL}/ready`,
      timeout: 120_000,
      reuseExistingServer: false,
      stdout: "pipe",
      stderr: "pipe",
      gracefulShutdown: { signal: "SIGTERM", timeout: 30_000 },
      env: {
        ...(process.env as Record<string, string>),
        ...imageEnvironment(image),
        LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
        PUBLIC_URL: baseURL,
        SMTP_URL: process.env.E2E_SMTP_URL,
        MAIL_FROM: "DreamOps <noreply@dreamops.test>",
        // The OpenID provider is on this machine, over http (as a self-hosted deployment's may be).
        OUTBOUND_ALLOW_HTTP: "true",
        OUTBOUND_ALLOW_PRIVATE: "true",
        GITHUB_API_BASE: `http://127.0.0.1:${githubPort}`,
        NOTION_API_BASE: `http://127.0.0.1:${notionPort}`,
        // No Stripe keys: payments simulated, as an operator chooses for a trial.
        BILLING_MODE: "test",
        // The suite signs up hundreds of teams, all from this machine.
        SIGN_UPS_PER_ADDRESS: "100000",
        SIGN_UPS_IN_ALL: "100000",
        DREAMOPS_SECRET_KEY: process.env.DREAMOPS_SECRET_KEY,
        ...(process.env.DREAMOPS_DATA_DIR ? { DREAMOPS_DATA_DIR: process.env.DREAMOPS_DATA_DIR } : {}),
        RUST_LOG: process.env.RUST_LOG ?? "warn",
      },
    },
  ],
});
