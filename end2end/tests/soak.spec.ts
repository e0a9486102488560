// A soak: an instance of the image under a mixed load for SOAK_SECONDS (60 in the test
// command; `SOAK_SECONDS=600 npx playwright test soak` by hand for the figures in docs/benchmarks.md).
//
// 20 teams on Pro, each with the demo cluster, so that the agent analyses what arrives;
// alerts at SOAK_ALERT_RATE (500/s) across the teams, sent on schedule whatever the
// answers, on 100 keys a team that fire, repeat and resolve; signed-in page views and
// server-function reads at 10/s; 50 live-event streams held open, each reconnecting
// every 10 s as pages come and go. It prints, per kind, p50/p99 in the first and the
// last window after the warm-up, and the server's resident memory then. The test
// fails on any error (a refused or failed request, a stream cut short, an ERROR logged,
// an unclean exit); speed and memory are figures to read, not assertions.
import * as fs from "node:fs";
import * as http from "node:http";
import { expect, test } from "@playwright/test";
import { linkIn, waitForMail } from "./mail";
import { CONFIRM_SUBJECT, PASSWORD } from "./support";
import { ImageServer, deployment } from "./instance";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const ALERT_RATE = Number(process.env.SOAK_ALERT_RATE ?? 500);
const TEAMS = 20;
const KEYS_PER_TEAM = 100;
const PAGE_RATE = 10;
const STREAMS = 50;
const STREAM_SECONDS = 10;
/** Before the first window: connections, caches, the agent's first analyses. */
const WARM_UP = Math.min(60, SECONDS / 4);
/** The first and the last window compared. */
const WINDOW = Math.min(60, (SECONDS - WARM_UP) / 3);
const PAGES = ["/dashboard", "/incidents", "/settings/clusters", "/settings/billing"];
const READS = ["/api/get_dashboard", "/api/list_incidents", "/api/get_usage"];

type Kind = "alert" | "page" | "server function" | "stream ready";

interface Team {
  cookie: string;
  apiKey: string;
}

class Figures {
  readonly samples: { kind: Kind; at: number; ms: number }[] = [];
  /** How many failed, and the first few of them. */
  errors = 0;
  readonly examples: string[] = [];
  readonly rss: { at: number; kib: number }[] = [];
  constructor(readonly started: number) {}

  now(): number {
    return (performance.now() - this.started) / 1000;
  }

  record(kind: Kind, scheduled: number): void {
    this.samples.push({ kind, at: (scheduled - this.started) / 1000, ms: performance.now() - scheduled });
  }

  fail(kind: Kind, what: string): void {
    this.errors++;
    if (this.examples.length < 20) this.examples.push(`${kind}: ${what}`);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

function residentKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connections kept open and reused, as browsers and senders keep theirs: Node's own
 * HTTP client, which spends less of the shared cores than `fetch` does. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One request on the kept connections; its status and body. */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = http.request(url, { method: options.method ?? "GET", headers: options.headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.on("error", reject);
    });
    sent.on("error", reject);
    sent.end(options.body);
  });
}

/** Calls a server function with a form body as the team's session; its JSON answer. */
async function call(url: string, team: Team, endpoint: string, form: Record<string, string>): Promise<unknown> {
  const response = await request(`${url}/api/${endpoint}`, {
    method: "POST",
    headers: { cookie: team.cookie, accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  expect(response.status, `${endpoint}: ${response.body}`).toBe(200);
  return response.body ? JSON.parse(response.body) : null;
}

/** A new team on Pro (through test mode's checkout) with the demo cluster and an API key;
 * its address confirmed with the mailed link, which signs it in. */
async function newTeam(url: string, n: number): Promise<Team> {
  const email = `soak-${n}-${Date.now()}@example.com`;
  const signUp = await fetch(`${url}/api/sign_up`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ email, password: PASSWORD, team_name: `Soak ${n}` }),
  });
  expect(signUp.status, await signUp.clone().text()).toBeLessThan(400);
  const link = linkIn(await waitForMail(email, CONFIRM_SUBJECT), "http");
  const token = new URL(link).searchParams.get("token") ?? "";
  const confirmed = await fetch(`${url}/api/verify_email`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ token }),
  });
  expect(confirmed.status, await confirmed.clone().text()).toBeLessThan(400);
  const cookie = confirmed.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
  const team: Team = { cookie, apiKey: "" };
  team.apiKey = ((await call(url, team, "create_api_key", { name: "soak" })) as { secret: string }).secret;
  const checkout = (await call(url, team, "start_checkout", { plan: "pro" })) as string;
  const session = checkout.split("/").pop() ?? "";
  await call(url, team, "pay_test_checkout", { session, card: "4242 4242 4242 4242" });
  await call(url, team, "add_demo_cluster", {});
  return team;
}

/** Calls `fire(n, scheduled)` `rate` times a second until `until`, each at its
 * scheduled time whatever earlier calls are doing (an open loop); waits for them all. */
async function onSchedule(
  rate: number,
  started: number,
  until: number,
  fire: (n: number, scheduled: number) => Promise<void>,
): Promise<void> {
  const inFlight: Promise<void>[] = [];
  for (let n = 0; ; n++) {
    const scheduled = started + (n * 1000) / rate;
    if (scheduled >= until) break;
    const wait = scheduled - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(fire(n, scheduled));
  }
  await Promise.all(inFlight);
}

/** Alerts on schedule: alert n goes to team n % TEAMS, on one of its keys; every tenth
 * of a key's alerts resolves it, so that the next one opens a new incident. */
function sendAlerts(url: string, teams: Team[], figures: Figures, until: number): Promise<void> {
  const titles = ["memory-hog OOMKilled", "checkout p99 above 2 s", "Pod crash looping", "Disk almost full"];
  return onSchedule(ALERT_RATE, figures.started, until, async (n, scheduled) => {
    const team = teams[n % TEAMS];
    const round = Math.floor(n / TEAMS);
    const key = round % KEYS_PER_TEAM;
    const body = {
      title: titles[key % titles.length],
      severity: ["critical", "error", "warning", "info"][key % 4],
      service: key % 4 === 0 ? "memory-hog" : `service-${key % 7}`,
      dedup_key: `soak-${key}`,
      action: Math.floor(round / KEYS_PER_TEAM) % 10 === 9 ? "resolve" : "trigger",
    };
    try {
      const response = await request(`${url}/api/v1/alerts`, {
        method: "POST",
        headers: { authorization: `Bearer ${team.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (response.status === 202) figures.record("alert", scheduled);
      else figures.fail("alert", `HTTP ${response.status}`);
    } catch (error) {
      figures.fail("alert", String(error));
    }
  });
}

/** Signed-in page views and server-function reads, alternating, on schedule. */
function browse(url: string, teams: Team[], figures: Figures, until: number): Promise<void> {
  return onSchedule(PAGE_RATE, figures.started, until, async (n, scheduled) => {
    const team = teams[n % TEAMS];
    const kind: Kind = n % 2 === 0 ? "page" : "server function";
    const path = kind === "page" ? PAGES[(n / 2) % PAGES.length] : READS[((n - 1) / 2) % READS.length];
    try {
      const response = await request(`${url}${path}`, { headers: { cookie: team.cookie } });
      if (response.status !== 200) figures.fail(kind, `${path}: HTTP ${response.status}`);
      else if (kind === "page" && !response.body.includes("</html>")) figures.fail(kind, `${path}: an incomplete page`);
      else figures.record(kind, scheduled);
    } catch (error) {
      figures.fail(kind, `${path}: ${error}`);
    }
  });
}

/** One live-event stream of `team`, reconnecting every STREAM_SECONDS; the events it got. */
async function watch(url: string, team: Team, figures: Figures, until: number): Promise<number> {
  let events = 0;
  while (performance.now() < until - 1_000) {
    const opened = performance.now();
    const closeAt = Math.min(until, opened + STREAM_SECONDS * 1000);
    let ready = false;
    await new Promise<void>((done) => {
      let closing = false;
      const stream = http.get(`${url}/events`, { headers: { cookie: team.cookie } }, (response) => {
        if (response.statusCode !== 200) {
          figures.fail("stream ready", `HTTP ${response.statusCode}`);
          response.resume();
          return;
        }
        response.on("data", (chunk: Buffer) => {
          for (let at = chunk.indexOf("event: "); at !== -1; at = chunk.indexOf("event: ", at + 7)) {
            if (!ready && chunk.toString("latin1", at, at + 12) === "event: ready") {
              ready = true;
              figures.record("stream ready", opened);
            } else events++;
          }
        });
        response.on("end", () => {
          if (!closing) figures.fail("stream ready", "the server ended a stream");
        });
      });
      const timer = setTimeout(() => {
        closing = true;
        stream.destroy();
      }, closeAt - opened);
      stream.on("error", (error) => {
        if (!closing) figures.fail("stream ready", String(error));
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (!ready) figures.fail("stream ready", "no ready event before the stream closed");
        done();
      });
    });
  }
  return events;
}

test("a mixed load holds: no error, and the figures of its first and last windows", async () => {
  test.setTimeout((SECONDS + 240) * 1000);
  const { url, env } = await deployment({ RUST_LOG: "warn" });
  const server = new ImageServer(url, env);
  try {
    await server.ready();
    const teams: Team[] = [];
    for (let n = 0; n < TEAMS; n++) teams.push(await newTeam(url, n));

    const figures = new Figures(performance.now());
    const until = figures.started + SECONDS * 1000;
    const sampler = setInterval(() => figures.rss.push({ at: figures.now(), kib: residentKiB(server.pid) }), 1_000);
    const [, , ...streamed] = await Promise.all([
      sendAlerts(url, teams, figures, until),
      browse(url, teams, figures, until),
      ...Array.from({ length: STREAMS }, (_, n) => watch(url, teams[n % TEAMS], figures, until)),
    ]);
    clearInterval(sampler);

    const first = [WARM_UP, WARM_UP + WINDOW];
    const last = [SECONDS - WINDOW, SECONDS];
    const within = ([from, to]: number[]) => (at: number) => at >= from && at < to;
    const rows: string[] = [];
    for (const kind of ["alert", "page", "server function", "stream ready"] as Kind[]) {
      const of = (window: number[]) =>
        figures.samples
          .filter((sample) => sample.kind === kind && within(window)(sample.at))
          .map((sample) => sample.ms)
          .sort((a, b) => a - b);
      const [early, late] = [of(first), of(last)];
      const all = figures.samples.filter((sample) => sample.kind === kind).length;
      const ms = (value: number) => `${value.toFixed(1)} ms`.padStart(10);
      rows.push(
        `${kind.padEnd(16)} ${String(all).padStart(8)} ${ms(percentile(early, 0.5))} ${ms(percentile(early, 0.99))}` +
          ` ${ms(percentile(late, 0.5))} ${ms(percentile(late, 0.99))}`,
      );
    }
    const meanRss = (window: number[]) => {
      const kib = figures.rss.filter((sample) => within(window)(sample.at)).map((sample) => sample.kib);
      return kib.reduce((sum, value) => sum + value, 0) / kib.length / 1024;
    };
    const [rssEarly, rssLate] = [meanRss(first), meanRss(last)];
    const peak = Math.max(...figures.rss.map((sample) => sample.kib)) / 1024;
    console.log(
      [
        `\nSoak: ${SECONDS} s, ${TEAMS} teams, alerts at ${ALERT_RATE}/s, pages and reads at ${PAGE_RATE}/s, ${STREAMS} streams` +
          ` (warm-up ${WARM_UP} s; windows of ${WINDOW} s at ${first[0]}–${first[1]} s and ${last[0]}–${last[1]} s)`,
        `${"kind".padEnd(16)} ${"answered".padStart(8)} ${"first p50".padStart(10)} ${"first p99".padStart(10)}` +
          ` ${"last p50".padStart(10)} ${"last p99".padStart(10)}`,
        ...rows,
        `resident memory: ${rssEarly.toFixed(1)} MiB in the first window, ${rssLate.toFixed(1)} MiB in the last` +
          ` (${(((rssLate - rssEarly) / rssEarly) * 100).toFixed(1)} %), peak ${peak.toFixed(1)} MiB`,
        `live events received: ${streamed.reduce((sum, count) => sum + count, 0)}; errors: ${figures.errors}`,
      ].join("\n"),
    );

    expect(figures.examples, "no request failed and no stream was cut short").toEqual([]);
    expect(streamed.reduce((sum, count) => sum + count, 0), "the streams carried the incidents' events").toBeGreaterThan(0);
  } finally {
    expect(await server.stop(), "a clean shutdown after the load").toBe(0);
  }
  const errors = server.lines.filter((line) => line.includes('"level":"ERROR"'));
  expect(errors, "nothing logged as an error").toEqual([]);
});
