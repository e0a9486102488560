// Instances of the image of their own, for the tests that start and stop one (the suite's
// shared server is Playwright's webServer): the release binary from the image's layout
// with exactly the Dockerfile's runtime environment, plus only what a deployment adds.
import { type ChildProcess, spawn } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { expect } from "@playwright/test";
import { IMAGE_DIR, imageEnvironment, inImage, runtimeStage } from "../image";

export const image = runtimeStage();

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
      })
      .on("error", reject);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The image's server on a port of its own; its output kept line by line. */
export class ImageServer {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly process: ChildProcess;

  constructor(readonly url: string, env: Record<string, string>) {
    const [command, ...args] = image.command.map((word) => (word.startsWith(image.workdir) ? inImage(image, word) : word));
    this.process = spawn(command, args, { cwd: IMAGE_DIR, env, stdio: ["ignore", "pipe", "pipe"] });
    let rest = "";
    const collect = (chunk: Buffer) => {
      const text = rest + chunk.toString();
      const complete = text.split("\n");
      rest = complete.pop() ?? "";
      this.lines.push(...complete.filter((line) => line.trim()));
    };
    this.process.stdout?.on("data", collect);
    this.process.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => this.process.on("exit", (code) => resolve(code)));
  }

  async ready(): Promise<void> {
    let exited: number | null | undefined;
    this.exited.then((code) => (exited = code));
    await expect
      .poll(
        async () => {
          if (exited !== undefined) throw new Error(`the server exited (${exited}):\n${this.lines.join("\n")}`);
          return (await get(`${this.url}/ready`).catch(() => ({ status: 0 }))).status;
        },
        { timeout: 60_000 },
      )
      .toBe(200);
  }

  /** The server's process id. */
  get pid(): number {
    return this.process.pid ?? 0;
  }

  async stop(): Promise<number | null> {
    this.process.kill("SIGTERM");
    return this.exited;
  }
}

/** The Dockerfile's environment, and only what a deployment adds to it. */
export async function deployment(extra: Record<string, string> = {}): Promise<{ url: string; env: Record<string, string> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...imageEnvironment(image),
    LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    PUBLIC_URL: url,
    // This run's mail server (playwright.config.ts starts it).
    SMTP_URL: process.env.E2E_SMTP_URL ?? "",
    // No Stripe keys: payments simulated, as an operator chooses for a trial.
    BILLING_MODE: "test",
    // The suite signs up hundreds of teams, all from this machine.
    SIGN_UPS_PER_ADDRESS: "100000",
    SIGN_UPS_IN_ALL: "100000",
    // Another instance of this run's deployment: its key (another one would be refused).
    DREAMOPS_SECRET_KEY: process.env.DREAMOPS_SECRET_KEY ?? "",
    RUST_LOG: "info",
    ...extra,
  };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  else env.DREAMOPS_DATA_DIR = path.join(IMAGE_DIR, `data-${port}`);
  return { url, env };
}
