// A loopback Notion API for the end-to-end tests, speaking Notion's documented JSON
// (Notion-Version 2022-06-28): whose the token is (GET /v1/users/me), a runbooks database
// of two pages (POST /v1/databases/{id}/query) and their blocks (GET
// /v1/blocks/{id}/children), and new pages (POST /v1/pages, PATCH
// /v1/blocks/{id}/children). Only the token NOTION_TOKEN is accepted. Listens on
// 127.0.0.1:NOTION_PORT.
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";

const port = Number(process.env.NOTION_PORT);
const token = process.env.NOTION_TOKEN ?? "secret_e2e_token";

function send(response, status, body) {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(body));
}

function error(response, status, code, message) {
  send(response, status, { object: "error", status, code, message });
}

const rich = (content) => [{ type: "text", text: { content, link: null }, plain_text: content, href: null }];
const block = (type, content) => ({ object: "block", id: randomUUID(), type, has_children: false, [type]: { rich_text: rich(content) } });

const pages = [
  {
    id: "6f1d7e52-3c1a-4f0e-9b7d-2a4c8e1f0b31",
    title: "Restart a crash-looping pod",
    alerts: ["KubePodCrashLooping"],
    services: "checkout",
    blocks: [block("heading_2", "Steps"), block("numbered_list_item", "Read the previous log"), block("numbered_list_item", "Roll back the release")],
  },
  {
    id: "8a2e4c61-5d3b-4e7f-a0c9-1b3d5f7a9c42",
    title: "Disk filling up",
    alerts: ["KubePersistentVolumeFillingUp"],
    services: "",
    blocks: [block("to_do", "Delete old snapshots")],
  },
];

function pageJson(page) {
  return {
    object: "page",
    id: page.id,
    created_time: "2026-11-01T09:00:00.000Z",
    last_edited_time: "2026-12-01T10:00:00.000Z",
    archived: false,
    in_trash: false,
    url: `https://www.notion.so/${page.id.replaceAll("-", "")}`,
    properties: {
      Name: { id: "title", type: "title", title: rich(page.title) },
      Alerts: { id: "a", type: "multi_select", multi_select: page.alerts.map((name) => ({ id: name, name, color: "red" })) },
      Services: { id: "s", type: "rich_text", rich_text: rich(page.services) },
    },
  };
}

function body(request) {
  return new Promise((resolve) => {
    let text = "";
    request.on("data", (chunk) => (text += chunk));
    request.on("end", () => {
      try {
        resolve(JSON.parse(text || "{}"));
      } catch {
        resolve(null);
      }
    });
  });
}

createServer(async (request, response) => {
  const path = new URL(request.url, `http://127.0.0.1:${port}`).pathname;
  if (request.headers.authorization !== `Bearer ${token}`) return error(response, 401, "unauthorized", "API token is invalid.");
  if (request.headers["notion-version"] !== "2022-06-28") return error(response, 400, "missing_version", "Notion-Version header failed validation.");
  const sent = await body(request);
  if (sent === null) return error(response, 400, "invalid_json", "Error parsing JSON body.");
  if (request.method === "GET" && path === "/v1/users/me") {
    return send(response, 200, { object: "user", id: "b0t", name: "DreamOps", type: "bot", bot: { owner: { type: "workspace", workspace: true }, workspace_name: "E2E workspace" } });
  }
  if (request.method === "POST" && /^\/v1\/databases\/[0-9a-f-]{36}\/query$/.test(path)) {
    return send(response, 200, { object: "list", results: pages.map(pageJson), has_more: false, next_cursor: null, type: "page_or_database" });
  }
  const children = path.match(/^\/v1\/blocks\/([0-9a-f-]{36})\/children$/);
  if (children && request.method === "GET") {
    const page = pages.find((p) => p.id === children[1]);
    if (!page) return error(response, 404, "object_not_found", "Could not find block.");
    return send(response, 200, { object: "list", results: page.blocks, has_more: false, next_cursor: null, type: "block" });
  }
  if (children && request.method === "PATCH") {
    return send(response, 200, { object: "list", results: sent.children ?? [], has_more: false, next_cursor: null });
  }
  if (request.method === "POST" && path === "/v1/pages") {
    const title = sent.properties?.title?.title?.[0]?.text?.content;
    if (!title || !sent.parent?.page_id || (sent.children ?? []).length > 100) {
      return error(response, 400, "validation_error", "body failed validation.");
    }
    const id = randomUUID();
    return send(response, 200, { object: "page", id, url: `https://www.notion.so/${id.replaceAll("-", "")}`, parent: sent.parent });
  }
  error(response, 404, "object_not_found", "Could not find the object.");
}).listen(port, "127.0.0.1");
