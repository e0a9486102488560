// A local model behind an OpenAI-compatible chat-completions endpoint, for the test of
// DreamOps' LLM path against a real model (`bash .ci/model-test`): node-llama-cpp (its
// prebuilt CPU build) runs the GGUF file at MODEL_PATH; the server answers
// POST /v1/chat/completions as OpenAI's API documents it (choices, usage), one request
// at a time, with answers cut at MAX_ANSWER_TOKENS (64: on two cores the model writes a
// few tokens a second); GET /received returns the requests' bodies, so that a test can
// check what was sent. Prints "listening on <port>" once the model is loaded.
import http from "node:http";
import { getLlama, LlamaChatSession } from "node-llama-cpp";

const modelPath = process.env.MODEL_PATH;
const modelName = process.env.MODEL_NAME ?? "gemma-3-270m";
if (!modelPath) {
  console.error("MODEL_PATH is not set");
  process.exit(2);
}

const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath });
const received = [];
let queue = Promise.resolve();

/** The model's answer to OpenAI-style `messages`, with the tokens it read and wrote. */
async function complete(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const system = messages.filter((m) => m.role === "system").map((m) => String(m.content)).join("\n");
  const user = messages.filter((m) => m.role !== "system").map((m) => String(m.content)).join("\n");
  const context = await model.createContext({ contextSize: 4096 });
  try {
    const session = new LlamaChatSession({ contextSequence: context.getSequence(), systemPrompt: system });
    // Cut short: on two cores this model writes a few tokens a second.
    const maxTokens = Math.min(Number(body.max_tokens) || 64, Number(process.env.MAX_ANSWER_TOKENS ?? 64));
    const text = await session.prompt(user, { maxTokens, temperature: Number(body.temperature ?? 0.2) });
    return {
      text,
      prompt: model.tokenize(system + "\n" + user).length,
      completion: model.tokenize(text).length,
    };
  } finally {
    await context.dispose();
  }
}

function send(response, status, value) {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(value));
}

const server = http.createServer((request, response) => {
  if (request.method === "GET" && request.url === "/received") {
    return send(response, 200, received);
  }
  if (request.method !== "POST" || request.url !== "/v1/chat/completions") {
    return send(response, 404, { error: { message: `no route ${request.method} ${request.url}`, type: "invalid_request_error" } });
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (error) {
      return send(response, 400, { error: { message: `the body is not JSON: ${error.message}`, type: "invalid_request_error" } });
    }
    received.push(body);
    queue = queue.then(async () => {
      try {
        const answer = await complete(body);
        send(response, 200, {
          id: `chatcmpl-${received.length}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: modelName,
          choices: [{ index: 0, message: { role: "assistant", content: answer.text }, finish_reason: "stop" }],
          usage: { prompt_tokens: answer.prompt, completion_tokens: answer.completion, total_tokens: answer.prompt + answer.completion },
        });
      } catch (error) {
        send(response, 500, { error: { message: String(error), type: "server_error" } });
      }
    });
  });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
