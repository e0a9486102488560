// Image parity without a Docker engine: the release binary started from the image's
// layout with exactly the Dockerfile's runtime environment (plus the deployment's own
// database and secrets) is ready, serves a page whose hashed bundle files it sends
// precompressed and cacheable for a year, and logs JSON lines.
import * as fs from "node:fs";
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { inImage } from "../image";
import { ImageServer, deployment, get, image } from "./instance";

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
