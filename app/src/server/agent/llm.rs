//! Optional LLM analysis beside the deterministic one: the Anthropic Messages API and any
//! OpenAI-compatible chat-completions endpoint (vLLM, Ollama, LiteLLM), tried in the
//! configured order with a timeout and one retry each, within each team's monthly token
//! budget. Everything sent is redacted first (secrets, tokens, passwords, email and IP
//! addresses). An LLM only writes text: it never executes anything.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::server::config::{Provider, ProviderKind};
use crate::server::egress::Policy;

/// What a model answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// `provider/model` that answered.
    pub model: String,
    pub text: String,
    /// Tokens used, prompt and answer.
    pub tokens: i64,
}

/// Why no model answered.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("every LLM provider failed: {0}")]
    AllFailed(String),
}

/// The instructions every request carries.
pub const SYSTEM: &str = "You are an experienced site reliability engineer helping an on-call engineer. \
You are given an incident, the evidence gathered from the cluster, and a deterministic diagnosis. \
In at most 200 words: say whether you agree with the root cause and why, name anything the evidence suggests \
that the diagnosis missed, and list the next checks. Never propose commands that delete data. \
Values shown as [REDACTED:…] were removed on purpose.";

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // key=value and key: value secrets (the key stays, the value goes).
        (r"(?i)\b((?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|authorization)\s*[=:]\s*)(?:bearer\s+)?[^\s,;&]+", "secret"),
        (r"(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}", "token"),
        (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "jwt"),
        (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", "aws-key"),
        (r"\b(?:sk|pk|rk|whsec|xox[bap]|ghp|glpat)[-_][A-Za-z0-9_-]{10,}", "key"),
        (r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s/@]+@", "credentials-in-url"),
        (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "email"),
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "ip"),
        (r"(?i)\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", "ip"),
        (r"\b[A-Fa-f0-9]{32,}\b", "hex-secret"),
    ]
    .into_iter()
    .map(|(pattern, kind)| (Regex::new(pattern).expect("a valid pattern"), kind))
    .collect()
});

/// `text` with secrets, tokens, passwords, email and IP addresses replaced by
/// `[REDACTED:kind]`.
pub fn redact(text: &str) -> String {
    let mut text = text.to_string();
    for (pattern, kind) in PATTERNS.iter() {
        text = pattern
            .replace_all(&text, |captures: &regex::Captures| match captures.get(1) {
                Some(key) => format!("{}[REDACTED:{kind}]", key.as_str()),
                None => format!("[REDACTED:{kind}]"),
            })
            .into_owned();
    }
    text
}

/// The longest answer asked for, in tokens.
const MAX_ANSWER_TOKENS: i64 = 1024;

/// The tokens a call is charged: what the provider reports, but never less than zero
/// (a team's own endpoint could otherwise refill its budget) and never more than the call
/// could have used — every token stands for at least a byte of what was sent, the answer
/// is at most [`MAX_ANSWER_TOKENS`], and each message adds a few tokens of framing.
fn charged(reported: i64, prompt: &str) -> i64 {
    let most = i64::try_from(SYSTEM.len() + prompt.len()).unwrap_or(i64::MAX).saturating_add(MAX_ANSWER_TOKENS + 64);
    reported.clamp(0, most)
}

/// The request body and headers for `provider`.
fn request(provider: &Provider, prompt: &str) -> (String, Value, Vec<(&'static str, String)>) {
    let key = provider.api_key.as_ref().map(|key| key.expose_secret().to_string());
    let base = provider.base_url.trim_end_matches('/');
    match provider.kind {
        ProviderKind::Anthropic => (
            format!("{base}/v1/messages"),
            json!({"model": provider.model, "max_tokens": MAX_ANSWER_TOKENS, "system": SYSTEM,
                   "messages": [{"role": "user", "content": prompt}]}),
            [("anthropic-version", "2023-06-01".to_string())]
                .into_iter()
                .chain(key.map(|key| ("x-api-key", key)))
                .collect(),
        ),
        ProviderKind::OpenAiCompatible => (
            format!("{base}/chat/completions"),
            json!({"model": provider.model, "max_tokens": MAX_ANSWER_TOKENS, "temperature": 0.2,
                   "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]}),
            key.map(|key| ("authorization", format!("Bearer {key}"))).into_iter().collect(),
        ),
    }
}

/// The text and tokens of a provider's answer.
fn read_answer(kind: ProviderKind, body: &Value) -> Option<(String, i64)> {
    let count = |field: &str| body["usage"][field].as_i64().unwrap_or(0).max(0);
    match kind {
        ProviderKind::Anthropic => {
            let text: String = body["content"]
                .as_array()?
                .iter()
                .filter(|block| block["type"] == "text")
                .filter_map(|block| block["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let tokens = count("input_tokens").saturating_add(count("output_tokens"));
            (!text.trim().is_empty()).then_some((text, tokens))
        }
        ProviderKind::OpenAiCompatible => {
            let text = body["choices"][0]["message"]["content"].as_str()?.to_string();
            let tokens = body["usage"]["total_tokens"]
                .as_i64()
                .unwrap_or_else(|| count("prompt_tokens").saturating_add(count("completion_tokens")));
            (!text.trim().is_empty()).then_some((text, tokens))
        }
    }
}

/// One request to `provider`; `Err` says why it failed and whether a retry may help.
async fn ask_once(
    policy: &Policy,
    client: &reqwest::Client,
    provider: &Provider,
    prompt: &str,
    timeout: Duration,
) -> Result<Answer, (String, bool)> {
    let (url, body, headers) = request(provider, prompt);
    let mut call = client.post(&url).timeout(timeout).json(&body);
    for (name, value) in headers {
        call = call.header(name, value);
    }
    let response =
        policy.send(call, "the endpoint").await.map_err(|failure| (failure.to_string(), failure.is_transient()))?;
    let status = response.status();
    if !status.is_success() {
        let retry = status.is_server_error() || status.as_u16() == 429;
        return Err((format!("answered {status}"), retry));
    }
    let body: Value =
        response.json().await.map_err(|error| (format!("answered something unreadable: {error}"), false))?;
    let (text, tokens) =
        read_answer(provider.kind, &body).ok_or_else(|| ("answered without text".to_string(), false))?;
    Ok(Answer { model: provider.name(), text, tokens: charged(tokens, prompt) })
}

/// Asks each provider in turn (each once more after a timeout, 5xx or 429) until one
/// answers.
/// Every request goes out under `policy` (the addresses are the operator's and the
/// teams').
pub async fn ask(policy: &Policy, providers: &[Provider], prompt: &str, timeout: Duration) -> Result<Answer, LlmError> {
    let client = policy.client(timeout);
    let mut failures = Vec::new();
    for provider in providers {
        for attempt in 1..=2 {
            match ask_once(policy, &client, provider, prompt, timeout).await {
                Ok(answer) => return Ok(answer),
                Err((why, retry)) => {
                    tracing::warn!(provider = %provider.name(), attempt, %why, "an LLM provider failed");
                    if !retry || attempt == 2 {
                        failures.push(format!("{}: {why}", provider.name()));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
    Err(LlmError::AllFailed(failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_addresses_are_redacted_and_the_rest_is_kept() {
        let log = "ERROR connect postgres://app:hunter2@10.0.4.17:5432/app failed for ops@example.com \
                   token=ghp_abcdefghijklmnop1234 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIz \
                   password: s3cr3t! key AKIAIOSFODNN7EXAMPLE digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 \
                   from fe80:0:0:0:202:b3ff:fe1e:8329 — pod web-5d9c restarted 4 times";
        let redacted = redact(log);
        for secret in [
            "hunter2",
            "10.0.4.17",
            "ops@example.com",
            "ghp_abcdefghijklmnop1234",
            "eyJhbGci",
            "s3cr3t!",
            "AKIAIOSFODNN7EXAMPLE",
            "9f86d081884c",
            "fe80:0:0:0",
        ] {
            assert!(!redacted.contains(secret), "{secret} survived: {redacted}");
        }
        assert!(redacted.contains("pod web-5d9c restarted 4 times"), "{redacted}");
        assert!(redacted.contains("password: [REDACTED:secret]"), "{redacted}");
    }

    #[test]
    fn answers_are_read_in_each_providers_format() {
        let anthropic = json!({"content": [{"type": "text", "text": "Agreed."}], "usage": {"input_tokens": 120, "output_tokens": 30}});
        assert_eq!(read_answer(ProviderKind::Anthropic, &anthropic), Some(("Agreed.".to_string(), 150)));
        let openai = json!({"choices": [{"message": {"role": "assistant", "content": "Agreed."}}], "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}});
        assert_eq!(read_answer(ProviderKind::OpenAiCompatible, &openai), Some(("Agreed.".to_string(), 120)));
        assert_eq!(read_answer(ProviderKind::OpenAiCompatible, &json!({"choices": []})), None);
    }

    #[test]
    fn usage_is_charged_within_what_a_call_can_use() {
        // An endpoint that reports huge or negative usage once overflowed the sum, or
        // gave its team tokens back.
        let huge = json!({"content": [{"type": "text", "text": "x"}], "usage": {"input_tokens": i64::MAX, "output_tokens": i64::MAX}});
        assert_eq!(read_answer(ProviderKind::Anthropic, &huge).unwrap().1, i64::MAX);
        let negative = json!({"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": -5_000_000}});
        assert_eq!(charged(read_answer(ProviderKind::OpenAiCompatible, &negative).unwrap().1, "prompt"), 0);
        assert_eq!(charged(-1, "prompt"), 0);
        assert_eq!(charged(900, "prompt"), 900);
        let most = (SYSTEM.len() + 6) as i64 + MAX_ANSWER_TOKENS + 64;
        assert_eq!(charged(i64::MAX, "prompt"), most);
    }
}
