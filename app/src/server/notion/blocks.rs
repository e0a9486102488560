//! Notion's blocks and DreamOps's Markdown, both ways: a page's blocks read as Markdown
//! (headings, paragraphs, bulleted, numbered and to-do lists, code, quotes, callouts,
//! dividers; what has no Markdown is left out), and Markdown written as blocks for a new
//! page (text in pieces of Notion's 2,000 characters at most).

use serde_json::{Value, json};

/// The most characters one rich-text object holds.
const TEXT_MAX: usize = 2000;

/// The plain text of a block's `rich_text`.
fn plain(rich_text: &Value) -> String {
    rich_text
        .as_array()
        .map(|parts| parts.iter().filter_map(|part| part["plain_text"].as_str()).collect::<String>())
        .unwrap_or_default()
}

/// `blocks` as Markdown, one line (or fenced code block) per block.
pub fn to_markdown(blocks: &[Value]) -> String {
    let mut out = String::new();
    let mut previous_was_list = false;
    for block in blocks {
        let Some(kind) = block["type"].as_str() else { continue };
        let content = &block[kind];
        let text = plain(&content["rich_text"]);
        let (line, is_list) = match kind {
            "heading_1" => (format!("# {text}"), false),
            "heading_2" => (format!("## {text}"), false),
            "heading_3" => (format!("### {text}"), false),
            "paragraph" => (text, false),
            "bulleted_list_item" => (format!("- {text}"), true),
            "numbered_list_item" => (format!("1. {text}"), true),
            "to_do" => {
                let mark = if content["checked"].as_bool().unwrap_or(false) { "x" } else { " " };
                (format!("- [{mark}] {text}"), true)
            }
            "quote" | "callout" => (format!("> {text}"), false),
            "code" => {
                let language = content["language"].as_str().filter(|l| *l != "plain text").unwrap_or("");
                (format!("```{language}\n{text}\n```"), false)
            }
            "divider" => ("---".to_string(), false),
            _ => continue,
        };
        if !out.is_empty() {
            // List items stay together; everything else is a paragraph of its own.
            out.push_str(if is_list && previous_was_list { "\n" } else { "\n\n" });
        }
        out.push_str(&line);
        previous_was_list = is_list;
    }
    out
}

/// `text` as rich-text objects of at most [`TEXT_MAX`] characters.
fn rich_text(text: &str) -> Value {
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<Value> = chars
        .chunks(TEXT_MAX)
        .map(|piece| json!({ "type": "text", "text": { "content": piece.iter().collect::<String>() } }))
        .collect();
    Value::Array(parts)
}

fn block(kind: &str, text: &str) -> Value {
    json!({ "object": "block", "type": kind, kind: { "rich_text": rich_text(text) } })
}

/// `markdown` as Notion blocks.
pub fn from_markdown(markdown: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut code: Option<(String, Vec<&str>)> = None;
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Value>| {
        if !paragraph.is_empty() {
            blocks.push(block("paragraph", &paragraph.join("\n")));
            paragraph.clear();
        }
    };
    for line in markdown.lines() {
        if let Some((language, lines)) = &mut code {
            if line.trim_start().starts_with("```") {
                let language = if language.is_empty() { "plain text".to_string() } else { language.clone() };
                blocks.push(json!({ "object": "block", "type": "code",
                    "code": { "rich_text": rich_text(&lines.join("\n")), "language": language } }));
                code = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        let trimmed = line.trim();
        if let Some(language) = trimmed.strip_prefix("```") {
            flush(&mut paragraph, &mut blocks);
            code = Some((language.trim().to_string(), Vec::new()));
            continue;
        }
        let listed = |prefix: &str| trimmed.strip_prefix(prefix).map(str::trim);
        let numbered = trimmed
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, rest)| rest.trim());
        let made = if trimmed.is_empty() {
            None
        } else if let Some(text) = listed("### ") {
            Some(block("heading_3", text))
        } else if let Some(text) = listed("## ") {
            Some(block("heading_2", text))
        } else if let Some(text) = listed("# ") {
            Some(block("heading_1", text))
        } else if let Some(text) = listed("- [ ] ").or_else(|| listed("* [ ] ")) {
            Some(
                json!({ "object": "block", "type": "to_do", "to_do": { "rich_text": rich_text(text), "checked": false } }),
            )
        } else if let Some(text) = listed("- [x] ").or_else(|| listed("- [X] ")).or_else(|| listed("* [x] ")) {
            Some(
                json!({ "object": "block", "type": "to_do", "to_do": { "rich_text": rich_text(text), "checked": true } }),
            )
        } else if let Some(text) = listed("- ").or_else(|| listed("* ")).or_else(|| listed("+ ")) {
            Some(block("bulleted_list_item", text))
        } else if let Some(text) = numbered {
            Some(block("numbered_list_item", text))
        } else if let Some(text) = listed("> ") {
            Some(block("quote", text))
        } else if trimmed == "---" || trimmed == "***" {
            Some(json!({ "object": "block", "type": "divider", "divider": {} }))
        } else {
            paragraph.push(trimmed);
            continue;
        };
        flush(&mut paragraph, &mut blocks);
        blocks.extend(made);
    }
    if let Some((language, lines)) = code {
        // An unclosed fence: what follows it is still code.
        let language = if language.is_empty() { "plain text".to_string() } else { language };
        blocks.push(json!({ "object": "block", "type": "code",
            "code": { "rich_text": rich_text(&lines.join("\n")), "language": language } }));
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_goes_to_blocks_and_back() {
        let markdown = "# Post-mortem: web down\n\n## Summary\n\nThe web tier ran out of memory.\nTwice.\n\n- Duration: 12 min\n- Alerts: 3\n\n1. Restart\n2. Raise the limit\n\n- [ ] Alert at 80 %\n- [x] Roll back\n\n> quoted\n\n```sh\nkubectl rollout undo deploy/web\n```\n\n---";
        let blocks = from_markdown(markdown);
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "heading_1",
                "heading_2",
                "paragraph",
                "bulleted_list_item",
                "bulleted_list_item",
                "numbered_list_item",
                "numbered_list_item",
                "to_do",
                "to_do",
                "quote",
                "code",
                "divider"
            ]
        );
        assert_eq!(
            blocks[2]["paragraph"]["rich_text"][0]["text"]["content"],
            "The web tier ran out of memory.\nTwice."
        );
        assert_eq!(blocks[10]["code"]["language"], "sh");
        // Notion answers with plain_text beside text.content.
        let answered: Vec<Value> = blocks
            .into_iter()
            .map(|mut block| {
                let kind = block["type"].as_str().unwrap().to_string();
                if let Some(parts) = block[&kind]["rich_text"].as_array_mut() {
                    for part in parts {
                        part["plain_text"] = part["text"]["content"].clone();
                    }
                }
                block
            })
            .collect();
        let back = to_markdown(&answered);
        assert!(back.starts_with("# Post-mortem: web down\n\n## Summary\n\nThe web tier ran out of memory.\nTwice.\n\n- Duration: 12 min\n- Alerts: 3\n1. Restart"), "{back}");
        assert!(back.contains("- [ ] Alert at 80 %\n- [x] Roll back"), "{back}");
        assert!(back.contains("```sh\nkubectl rollout undo deploy/web\n```"), "{back}");
    }

    #[test]
    fn long_text_is_cut_into_notions_pieces() {
        let long = "x".repeat(4500);
        let blocks = from_markdown(&long);
        let parts = blocks[0]["paragraph"]["rich_text"].as_array().unwrap();
        assert_eq!(
            parts.iter().map(|p| p["text"]["content"].as_str().unwrap().len()).collect::<Vec<_>>(),
            [2000, 2000, 500]
        );
    }
}
