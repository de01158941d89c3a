//! `/docs`: the API reference as one self-contained HTML page, rendered on the server from the
//! OpenAPI document. No script and no CDN: it works on an offline network and in any browser.

use serde_json::Value;
use std::fmt::Write;

/// Renders the reference page of `doc` (an OpenAPI 3.1 document as JSON).
pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t} API reference</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <nav>{nav}</nav>\n<main>\n<h1>{t} API reference <small>{v}</small></h1>\n\
         <p>{d}</p>\n<p>The machine-readable contract is <a href=\"/openapi.json\"><code>/openapi.json</code></a> \
         (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer pg_test_…</code> (or <code>pg_live_…</code>). \
         Errors are <code>application/problem+json</code> with a stable <code>code</code>: see \
         <a href=\"#schema-Problem\">Problem</a>.</p>\n",
        t = esc(title),
        v = esc(version),
        d = esc(doc["info"]["description"].as_str().unwrap_or("")),
        nav = navigation(doc),
    );
    for (tag, description) in tags(doc) {
        let _ = write!(
            out,
            "<section id=\"tag-{a}\">\n<h2>{t}</h2>\n<p>{d}</p>\n",
            a = anchor(&tag),
            t = esc(&tag),
            d = esc(&description)
        );
        for (path, method, op) in operations(doc) {
            if first_tag(op) == tag {
                operation(&mut out, path, method, op);
            }
        }
        out.push_str("</section>\n");
    }
    schemas(&mut out, doc);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222;display:flex}\
nav{position:sticky;top:0;height:100vh;overflow:auto;min-width:14rem;padding:1rem;background:#f6f6f6;font-size:.9rem}\
nav a{display:block;color:#06c;text-decoration:none;margin:.15rem 0}\
main{max-width:62rem;padding:1rem 2rem}\
code{background:#f0f0f0;padding:0 .25rem}\
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
.m{display:inline-block;min-width:4.5rem;font-weight:bold}\
.get{color:#06c}.post{color:#0a6}.patch{color:#a60}.delete{color:#c33}\
table{border-collapse:collapse;margin:.3rem 0;font-size:.9rem}\
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}\
small{color:#777;font-weight:normal}";

fn navigation(doc: &Value) -> String {
    let mut nav = String::from("<strong>Tags</strong>");
    for (tag, _) in tags(doc) {
        let _ = write!(nav, "<a href=\"#tag-{}\">{}</a>", anchor(&tag), esc(&tag));
    }
    nav.push_str("<a href=\"#schemas\"><strong>Schemas</strong></a>");
    nav
}

/// The document's tags in order, with any tag used by an operation but not declared.
fn tags(doc: &Value) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    Some((
                        t["name"].as_str()?.to_string(),
                        t["description"].as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for (_, _, op) in operations(doc) {
        let tag = first_tag(op);
        if !tags.iter().any(|(t, _)| *t == tag) {
            tags.push((tag, String::new()));
        }
    }
    tags
}

fn first_tag(op: &Value) -> String {
    op["tags"][0].as_str().unwrap_or("other").to_string()
}

fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
    let mut ops = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(op) = item.get(method) {
                    ops.push((path.as_str(), method, op));
                }
            }
        }
    }
    ops
}

fn operation(out: &mut String, path: &str, method: &str, op: &Value) {
    let _ = write!(
        out,
        "<div class=\"op\" id=\"op-{id}\">\n<h3><span class=\"m {method}\">{m}</span><code>{p}</code> <small>{s}</small></h3>\n",
        id = esc(op["operationId"].as_str().unwrap_or("")),
        m = method.to_ascii_uppercase(),
        p = esc(path),
        s = esc(op["summary"].as_str().unwrap_or("")),
    );
    if let Some(d) = op["description"].as_str() {
        let _ = writeln!(out, "<p>{}</p>", esc(d));
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str(
            "<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>\n",
        );
        for p in params {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                if p["required"].as_bool() == Some(true) {
                    " <small>required</small>"
                } else {
                    ""
                },
                esc(p["in"].as_str().unwrap_or("")),
                type_of(&p["schema"]),
                esc(p["description"].as_str().unwrap_or("")),
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, c) in content {
            let _ = writeln!(
                out,
                "<p>Request body (<code>{}</code>): {}</p>",
                esc(media),
                type_of(&c["schema"])
            );
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        out.push_str("<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>\n");
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| type_of(&c["schema"]))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                esc(r["description"].as_str().unwrap_or("")),
                body
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</div>\n");
}

fn schemas(out: &mut String, doc: &Value) {
    out.push_str("<section id=\"schemas\">\n<h2>Schemas</h2>\n");
    let Some(schemas) = doc["components"]["schemas"].as_object() else {
        out.push_str("</section>\n");
        return;
    };
    for (name, schema) in schemas {
        let _ = writeln!(
            out,
            "<div class=\"op\" id=\"schema-{a}\">\n<h3>{n}</h3>",
            a = anchor(name),
            n = esc(name)
        );
        if let Some(d) = schema["description"].as_str() {
            let _ = writeln!(out, "<p>{}</p>", esc(d));
        }
        if let Some(props) = schema["properties"].as_object() {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.push_str("<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>\n");
            for (field, p) in props {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(field),
                    if required.contains(&field.as_str()) {
                        " <small>required</small>"
                    } else {
                        ""
                    },
                    type_of(p),
                    esc(p["description"].as_str().unwrap_or("")),
                );
            }
            out.push_str("</table>\n");
        } else {
            let _ = writeln!(out, "<p>{}</p>", type_of(schema));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

/// A short, linked description of a schema: `InteractionView`, `array of EventView`,
/// `string (date-time)`, `one of: …`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = schema[key].as_array() {
            let parts: Vec<String> = alts.iter().map(type_of).collect();
            return parts.join(" | ");
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        let parts: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&v.to_string())))
            .collect();
        return format!("one of {}", parts.join(", "));
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    };
    let mut text = if ty.contains("array") {
        format!("array of {}", type_of(&schema["items"]))
    } else {
        esc(&ty)
    };
    if let Some(f) = schema["format"].as_str() {
        let _ = write!(text, " ({})", esc(f));
    }
    let range = (schema.get("minimum"), schema.get("maximum"));
    if let (Some(min), Some(max)) = range {
        let _ = write!(text, ", {min} to {max}");
    }
    if let Some(p) = schema["pattern"].as_str() {
        let _ = write!(text, ", matching <code>{}</code>", esc(p));
    }
    if text.is_empty() { "any".into() } else { text }
}

fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// HTML-escapes text (descriptions come from doc comments and may contain `<`, `&`).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_operations_by_tag_with_linked_schemas_and_escapes_text() {
        let doc = serde_json::json!({
            "info": {"title": "t", "version": "1", "description": "a <b> & c"},
            "tags": [{"name": "things", "description": "Things"}],
            "paths": {"/v1/things/{id}": {"get": {
                "tags": ["things"], "summary": "Get a thing", "operationId": "get_thing",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
            }}},
            "components": {"schemas": {"Thing": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}}}}}
        });
        let html = render(&doc);
        assert!(html.contains("a &lt;b&gt; &amp; c"));
        assert!(html.contains("id=\"tag-things\""));
        assert!(html.contains("<code>/v1/things/{id}</code>"));
        assert!(html.contains("<a href=\"#schema-Thing\">Thing</a>"));
        assert!(html.contains("id=\"schema-Thing\""));
        assert!(html.contains("integer, 1 to 9"));
        assert!(!html.contains("<script"));
    }
}
