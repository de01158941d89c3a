//! Comparing poigate's answers with the providers' published examples (`seeds/examples/`).

use serde_json::Value;
use std::path::PathBuf;

/// The parsed example `name` from `seeds/examples/`.
pub fn seed_example(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../seeds/examples")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `expected` (a seed example) must exist in `actual` with the same JSON type,
/// recursively (arrays: element by element where both have one). Returns the differences.
pub fn shape_differences(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("$", expected, actual, &mut out);
    out
}

fn walk(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    // A null in an example only says "the field exists".
    if !expected.is_null() && kind(expected) != kind(actual) {
        out.push(format!(
            "{path}: expected {}, got {}",
            kind(expected),
            kind(actual)
        ));
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => walk(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a.iter()).enumerate() {
                walk(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ => {}
    }
}

/// Fields of `actual` that `expected` (a seed example) does not have, recursively through
/// objects present in both: what poigate adds beyond the example.
pub fn extra_fields(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    extra("$", expected, actual, &mut out);
    out
}

fn extra(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, av) in a {
                match e.get(k) {
                    Some(ev) => extra(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a.iter()).enumerate() {
                extra(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ => {}
    }
}

/// Panics unless `actual` has every field of the seed example `name` with the same JSON
/// type, and no field beyond them except those listed in `allowed_extra` (`$.a.b` paths).
pub fn assert_matches_example(name: &str, actual: &Value, allowed_extra: &[&str]) {
    let seed = seed_example(name);
    let missing = shape_differences(&seed, actual);
    assert!(missing.is_empty(), "{name}: {missing:?}\n{actual:#}");
    let extra: Vec<String> = extra_fields(&seed, actual)
        .into_iter()
        .filter(|f| !allowed_extra.contains(&f.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "{name}: fields the example lacks: {extra:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_missing_fields_and_wrong_types() {
        let seed = json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}], "n": null});
        assert!(
            shape_differences(
                &seed,
                &json!({"a": 2, "b": {"c": "y"}, "d": [{"e": false}], "n": 3})
            )
            .is_empty()
        );
        let diff = shape_differences(&seed, &json!({"a": "1", "b": {}, "d": [{"e": 1}]}));
        assert_eq!(
            diff,
            vec![
                "$.a: expected number, got string",
                "$.b.c: missing",
                "$.d[0].e: expected bool, got number",
                "$.n: missing"
            ]
        );
    }

    #[test]
    fn finds_fields_the_example_does_not_have() {
        let seed = json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}]});
        assert!(extra_fields(&seed, &json!({"a": 2, "b": {"c": "y"}})).is_empty());
        assert_eq!(
            extra_fields(
                &seed,
                &json!({"a": 1, "z": 0, "b": {"c": "x", "y": 1}, "d": [{"e": true, "f": 1}]})
            ),
            vec!["$.b.y", "$.d[0].f", "$.z"]
        );
    }
}
