// Image parity without a Docker engine: the release binary started from the image's
// layout with exactly the Dockerfile's runtime environment (plus the deployment's own
// database and secrets) is ready, serves a page whose hashed bundle files it sends
// precompressed and cacheable for a year, and logs JSON lines.
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { IMAGE_DIR, imageEnvironment, inImage, runtimeStage } from "../image";

const image = runtimeStage();

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
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

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The image's server on a port of its own; its output kept line by line. */
class ImageServer {
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

  async stop(): Promise<number | null> {
    this.process.kill("SIGTERM");
    return this.exited;
  }
}

/** The Dockerfile's environment, and only what a deployment adds to it. */
async function deployment(extra: Record<string, string> = {}): Promise<{ url: string; env: Record<string, string> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...imageEnvironment(image),
    LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    PUBLIC_URL: url,
    // Another instance of this run's deployment: its key (another one would be refused).
    DREAMOPS_SECRET_KEY: process.env.DREAMOPS_SECRET_KEY ?? "",
    RUST_LOG: "info",
    ...extra,
  };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  else env.DREAMOPS_DATA_DIR = path.join(IMAGE_DIR, `data-${port}`);
  return { url, env };
}

test("the image's binary, layout and environment serve the release as production runs it", async () => {
  test.setTimeout(120_000);
  expect(image.env.LEPTOS_ENV).toBe("PROD");
  const { url, env } = await deployment();
  const server = new ImageServer(url, env);
  try {
    await server.ready();

    const page = await get(`${url}/`, { "accept-encoding": "identity" });
    expect(page.status).toBe(200);
    const html = page.body.toString();
    const hashes = Object.fromEntries(
      fs
        .readFileSync(inImage(image, path.posix.join(image.workdir, "hash.txt")), "utf8")
        .split("\n")
        .filter((line) => line.includes(":"))
        .map((line) => line.split(":").map((part) => part.trim())),
    );
    for (const kind of ["js", "wasm", "css"]) {
      expect(hashes[kind], `hash.txt names the ${kind} file`).toBeTruthy();
      expect(html, `the page links the hashed ${kind} file`).toContain(`/pkg/dreamops.${hashes[kind]}.${kind}`);
    }

    const wasm = `${url}/pkg/dreamops.${hashes.wasm}.wasm`;
    const brotli = await get(wasm, { "accept-encoding": "gzip, deflate, br" });
    expect(brotli.status).toBe(200);
    expect(brotli.headers["content-encoding"]).toBe("br");
    expect(brotli.headers["content-type"]).toBe("application/wasm");
    expect(brotli.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    const gzip = await get(wasm, { "accept-encoding": "gzip" });
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    const raw = await get(wasm, { "accept-encoding": "identity" });
    expect(raw.headers["content-encoding"]).toBeUndefined();
    expect(brotli.body.length).toBeLessThan(raw.body.length / 3);
    const loginPage = await get(`${url}/login`, { "accept-encoding": "gzip, br" });
    expect(loginPage.headers["content-encoding"]).toBe("br");
  } finally {
    expect(await server.stop()).toBe(0);
  }

  // Every line the server wrote is one JSON object, with a level and a message.
  expect(server.lines.length).toBeGreaterThan(2);
  for (const line of server.lines) {
    const record = JSON.parse(line);
    expect(record.level, line).toBeTruthy();
    expect(record.fields?.message ?? record.message, line).toBeTruthy();
  }
  expect(server.lines.some((line) => line.includes("DreamOps is listening"))).toBe(true);
});

test("an instance of the image with another secret key than its deployment's is refused", async () => {
  test.setTimeout(120_000);
  // Only where instances share one database (with the embedded one each has its own).
  test.skip(!process.env.DATABASE_URL, "the run's database is embedded");
  const { url, env } = await deployment({ DREAMOPS_SECRET_KEY: "0f".repeat(32) });
  const server = new ImageServer(url, env);
  expect(await server.exited).not.toBe(0);
  const refusal = server.lines.map((line) => JSON.parse(line)).find((record) => record.level === "ERROR");
  expect(JSON.stringify(refusal)).toContain("is not the key this database's credentials were sealed with");
});
