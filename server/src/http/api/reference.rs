//! `GET /docs/api`: the API reference, drawn on the server from the OpenAPI document
//! itself, so that it never says something the API does not do.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use utoipa::OpenApi as _;

use app::domain::account::ApiScope;
use app::server::mail::letters::escape;

use super::{ApiDoc, OPENAPI_PATH};

/// Where the page is served.
pub const PATH: &str = "/docs/api";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The handler.
pub async fn page() -> Response {
    let document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    crate::http::plain_page(StatusCode::OK, "DreamOps API reference", 52, &render(&document))
}

fn text(value: &Value) -> String {
    escape(value.as_str().unwrap_or_default())
}

/// The name a `$ref` points at, or the schema's type.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or_default().to_string();
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", schema_name(items));
    }
    for combined in ["oneOf", "allOf", "anyOf"] {
        if let Some(parts) = schema.get(combined).and_then(Value::as_array) {
            let names: Vec<String> =
                parts.iter().map(schema_name).filter(|name| !name.is_empty() && name != "null").collect();
            return names.join(" or ");
        }
    }
    match schema.get("type") {
        Some(Value::Array(types)) => {
            types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" or ")
        }
        Some(kind) => kind.as_str().unwrap_or_default().to_string(),
        None => String::new(),
    }
}

fn render(document: &Value) -> String {
    let mut html = String::new();
    html.push_str(&format!(
        "<p>{}</p><p>Base URL: this server. Machine-readable description (OpenAPI 3.1): \
         <a href=\"{OPENAPI_PATH}\"><code>{OPENAPI_PATH}</code></a>.</p>",
        text(&document["info"]["description"])
    ));
    html.push_str(
        "<h2 id=\"scopes\">Keys and scopes</h2><p>Make a key on the team's <a href=\"/settings/api-keys\">API keys</a> \
         page and send it as <code>Authorization: Bearer dok_…</code>. A key may do what its scopes allow, and never \
         manage members, keys, billing or the team:</p><ul>",
    );
    for scope in ApiScope::ALL {
        html.push_str(&format!("<li><code>{}</code>: {}</li>", scope.as_str(), scope.description()));
    }
    html.push_str("</ul>");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    for tag in document["tags"].as_array().cloned().unwrap_or_default() {
        let name = tag["name"].as_str().unwrap_or_default();
        html.push_str(&format!("<h2 id=\"{0}\">{0}</h2><p>{1}</p>", escape(name), text(&tag["description"])));
        for (path, item) in &paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else { continue };
                let tagged = operation["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| t == name));
                if tagged {
                    html.push_str(&operation_html(method, path, operation));
                }
            }
        }
    }
    html.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in document["components"]["schemas"].as_object().cloned().unwrap_or_default() {
        html.push_str(&format!("<h3 id=\"schema-{0}\" style=\"font-size:1rem\"><code>{0}</code></h3>", escape(&name)));
        if let Some(description) = schema.get("description") {
            html.push_str(&format!("<p>{}</p>", text(description)));
        }
        if let Some(properties) = schema["properties"].as_object() {
            html.push_str("<ul>");
            for (field, property) in properties {
                let description = property.get("description").map(text).unwrap_or_default();
                html.push_str(&format!(
                    "<li><code>{}</code> <i>{}</i> {description}</li>",
                    escape(field),
                    escape(&schema_name(property))
                ));
            }
            html.push_str("</ul>");
        } else if let Some(values) = schema["enum"].as_array() {
            let values: Vec<String> = values.iter().map(|v| format!("<code>{}</code>", text(v))).collect();
            html.push_str(&format!("<p>One of {}.</p>", values.join(", ")));
        }
    }
    html
}

fn operation_html(method: &str, path: &str, operation: &Value) -> String {
    let mut html =
        format!("<h3 style=\"font-size:1rem\"><code>{} {}</code></h3>", method.to_ascii_uppercase(), escape(path));
    for field in ["summary", "description"] {
        if let Some(value) = operation.get(field) {
            html.push_str(&format!("<p>{}</p>", text(value)));
        }
    }
    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        html.push_str("<p>Parameters:</p><ul>");
        for parameter in parameters {
            let required = if parameter["required"] == true { ", required" } else { "" };
            html.push_str(&format!(
                "<li><code>{}</code> ({}{required}, <i>{}</i>) {}</li>",
                text(&parameter["name"]),
                text(&parameter["in"]),
                escape(&schema_name(&parameter["schema"])),
                parameter.get("description").map(text).unwrap_or_default()
            ));
        }
        html.push_str("</ul>");
    }
    if let Some(content) = operation["requestBody"]["content"].as_object() {
        for (media, body) in content {
            html.push_str(&format!(
                "<p>Body ({}): <i>{}</i></p>",
                escape(media),
                escape(&schema_name(&body["schema"]))
            ));
        }
    }
    html.push_str("<p>Answers:</p><ul>");
    for (status, response) in operation["responses"].as_object().cloned().unwrap_or_default() {
        let schema = response["content"]
            .as_object()
            .and_then(|content| content.values().next())
            .map(|media| schema_name(&media["schema"]))
            .unwrap_or_default();
        let schema = if schema.is_empty() { String::new() } else { format!(" <i>{}</i>", escape(&schema)) };
        html.push_str(&format!("<li><b>{}</b>{schema}: {}</li>", escape(&status), text(&response["description"])));
    }
    html.push_str("</ul>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_every_operation_of_the_document() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let html = render(&document);
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    operations += 1;
                    let heading = format!("<code>{} {}</code>", method.to_ascii_uppercase(), escape(path));
                    assert!(html.contains(&heading), "{heading} is missing");
                }
            }
        }
        assert!(operations >= 25, "{operations} operations");
        assert!(html.contains("<code>approve</code>"));
    }
}
