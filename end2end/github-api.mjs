// A loopback GitHub REST API for the end-to-end tests, speaking GitHub's documented JSON:
// who a token belongs to (GET /user), a repository's merged pull requests (one, merged
// nine minutes before each request), deployments and commits (none), and opening an
// issue (POST /repos/{owner}/{repo}/issues, numbered from 100). Only the token
// GITHUB_TOKEN is accepted. Listens on 127.0.0.1:GITHUB_PORT.
import { createServer } from "node:http";

const port = Number(process.env.GITHUB_PORT);
const token = process.env.GITHUB_TOKEN ?? "ghp_e2e_token";

function send(response, status, body) {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(body));
}

let issues = 0;

function openIssue(request, response, repository) {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    let issue;
    try {
      issue = JSON.parse(body);
    } catch {
      return send(response, 400, { message: "Problems parsing JSON" });
    }
    if (typeof issue.title !== "string" || issue.title === "") {
      return send(response, 422, { message: "Validation Failed", errors: [{ resource: "Issue", field: "title", code: "missing_field" }] });
    }
    issues += 1;
    const number = 99 + issues;
    send(response, 201, { id: 5000 + number, number, state: "open", title: issue.title, body: issue.body, html_url: `https://github.com/${repository}/issues/${number}` });
  });
}

createServer((request, response) => {
  const url = new URL(request.url, `http://127.0.0.1:${port}`);
  if (request.headers["x-github-api-version"] !== "2022-11-28" || request.headers.accept !== "application/vnd.github+json") {
    return send(response, 400, { message: "Missing the API version or media type" });
  }
  if (request.headers.authorization !== `Bearer ${token}`) {
    return send(response, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
  }
  if (url.pathname === "/user") return send(response, 200, { login: "e2e-bot", id: 7, type: "User" });
  const issue = url.pathname.match(/^\/repos\/([^/]+\/[^/]+)\/issues$/);
  if (issue && request.method === "POST") return openIssue(request, response, issue[1]);
  const repository = url.pathname.match(/^\/repos\/([^/]+\/[^/]+)\/(pulls|deployments|commits)$/);
  if (!repository) return send(response, 404, { message: "Not Found" });
  if (repository[2] !== "pulls") return send(response, 200, []);
  const merged = new Date(Date.now() - 9 * 60_000).toISOString();
  send(response, 200, [
    {
      number: 42,
      title: "Raise the connection pool",
      user: { login: "dana" },
      state: "closed",
      merged_at: merged,
      updated_at: merged,
      html_url: `https://github.com/${repository[1]}/pull/42`,
      merge_commit_sha: "4b1d2c3e",
    },
  ]);
}).listen(port, "127.0.0.1");
