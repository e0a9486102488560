// End-to-end tests: the built DreamOps server, started here, driven in Debian's Chromium.
//
// The server binary must already be built (`cargo leptos build`); the README's test
// command does that. Playwright starts it on its own port with the environment given
// to this process (DATABASE_URL, or DREAMOPS_DATA_DIR for the embedded database) and
// stops it with SIGTERM, so a clean shutdown is part of every run.
import { defineConfig, devices } from "@playwright/test";

const port = Number(process.env.E2E_PORT ?? 3100);
const baseURL = `http://127.0.0.1:${port}`;

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
  webServer: {
    command: process.env.E2E_SERVER_BIN ?? "target/debug/dreamops",
    cwd: "..",
    url: `${baseURL}/ready`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 30_000 },
    env: {
      ...(process.env as Record<string, string>),
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT ?? "target/site",
      LEPTOS_OUTPUT_NAME: "dreamops",
      RUST_LOG: process.env.RUST_LOG ?? "warn",
    },
  },
});
