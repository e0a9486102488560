//! Label and field selectors as the Kubernetes API reads them from a list's query
//! (`labelSelector=app=web,tier!=db,env in (a,b),!legacy`, `fieldSelector=metadata.name=x`).

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, PartialEq, Eq)]
enum Label {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Label>);

/// Splits at commas outside parentheses.
fn terms(text: &str) -> Vec<&str> {
    let (mut terms, mut depth, mut start) = (Vec::new(), 0, 0);
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(text[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(text[start..].trim());
    terms.into_iter().filter(|term| !term.is_empty()).collect()
}

fn set(values: &str) -> Result<Vec<String>, String> {
    let inner =
        values.trim().strip_prefix('(').and_then(|v| v.strip_suffix(')')).ok_or("a set must be in parentheses")?;
    Ok(inner.split(',').map(|value| value.trim().to_string()).filter(|value| !value.is_empty()).collect())
}

impl LabelSelector {
    /// Parses a selector; an error says what is malformed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in terms(text) {
            let requirement = if let Some((key, values)) = term.split_once(" notin ") {
                Label::NotIn(key.trim().to_string(), set(values)?)
            } else if let Some((key, values)) = term.split_once(" in ") {
                Label::In(key.trim().to_string(), set(values)?)
            } else if let Some((key, value)) = term.split_once("!=") {
                Label::NotEquals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Label::Equals(key.trim().to_string(), value.trim().to_string())
            } else if let Some(key) = term.strip_prefix('!') {
                Label::NotExists(key.trim().to_string())
            } else {
                Label::Exists(term.to_string())
            };
            let key = match &requirement {
                Label::Equals(key, _)
                | Label::NotEquals(key, _)
                | Label::In(key, _)
                | Label::NotIn(key, _)
                | Label::Exists(key)
                | Label::NotExists(key) => key,
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(format!("unable to parse requirement: {term:?}"));
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether `object`'s labels satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        let label =
            |key: &str| object.pointer("/metadata/labels").and_then(|labels| labels.get(key)).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            Label::Equals(key, value) => label(key) == Some(value.as_str()),
            Label::NotEquals(key, value) => label(key) != Some(value.as_str()),
            Label::In(key, values) => label(key).is_some_and(|v| values.iter().any(|value| value == v)),
            Label::NotIn(key, values) => label(key).is_none_or(|v| !values.iter().any(|value| value == v)),
            Label::Exists(key) => label(key).is_some(),
            Label::NotExists(key) => label(key).is_none(),
        })
    }
}

/// A parsed field selector: `path=value` / `path!=value` terms, all of which must hold.
#[derive(Debug, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses a selector of the fields the demo cluster can select on.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in terms_of(text) {
            let (field, equal, value) = if let Some((field, value)) = term.split_once("!=") {
                (field, false, value)
            } else if let Some((field, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (field, true, value)
            } else {
                return Err(format!("invalid selector: {term:?}; can't understand it"));
            };
            terms.push((field.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether `object`'s fields satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

fn terms_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|term| !term.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_hold_as_kubernetes_defines_them() {
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        let holds = |selector: &str| LabelSelector::parse(selector).unwrap().matches(&pod);
        assert!(holds("app=web"));
        assert!(holds("app==web,tier!=db"));
        assert!(holds("app in (web, api),!legacy"));
        assert!(holds("tier"));
        assert!(holds(""));
        assert!(!holds("app notin (web)"));
        assert!(!holds("app=api"));
        assert!(!holds("legacy"));
        assert!(LabelSelector::parse("app in web").is_err());
    }

    #[test]
    fn field_selectors_read_nested_fields() {
        let event =
            json!({"metadata": {"name": "x.1"}, "involvedObject": {"kind": "Pod", "name": "web-1"}, "count": 3});
        let holds = |selector: &str| FieldSelector::parse(selector).unwrap().matches(&event);
        assert!(holds("involvedObject.kind=Pod,involvedObject.name=web-1"));
        assert!(holds("metadata.name!=y"));
        assert!(!holds("involvedObject.name=web-2"));
        assert!(holds("count=3"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
