//! Walks a parsed JSON request and reports the first problem the way Adyen words a
//! `MessageFormat` error: `At SaleToPOIRequest.PaymentRequest.PaymentTransaction.AmountsReq,
//! field Currency: Missing` (docs.adyen.com/point-of-sale/error-scenarios).
//!
//! Fields poigate does not use are ignored, as Adyen ignores unsupported elements.

use serde_json::{Map, Number, Value};

/// A problem with the request's content, worded for `AdditionalResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub message: String,
}

impl FormatError {
    pub fn at(path: &str, field: &str, problem: &str) -> FormatError {
        let at = if path.is_empty() { "toplevel" } else { path };
        FormatError {
            message: format!("At {at}, field {field}: {problem}"),
        }
    }
}

/// A JSON object at a known path.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub map: &'a Map<String, Value>,
    path: &'a str,
}

/// An owned path, so children can borrow it.
pub struct Path(String);

impl Path {
    pub fn root() -> Path {
        Path(String::new())
    }

    pub fn child(&self, field: &str) -> Path {
        if self.0.is_empty() {
            Path(field.to_string())
        } else {
            Path(format!("{}.{field}", self.0))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'a> Node<'a> {
    pub fn new(map: &'a Map<String, Value>, path: &'a Path) -> Node<'a> {
        Node {
            map,
            path: path.as_str(),
        }
    }

    pub fn path(&self) -> &'a str {
        self.path
    }

    fn err(&self, field: &str, problem: &str) -> FormatError {
        FormatError::at(self.path, field, problem)
    }

    fn present(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// A required object.
    pub fn object(&self, field: &str) -> Result<&'a Map<String, Value>, FormatError> {
        self.opt_object(field)?
            .ok_or_else(|| self.err(field, "Missing"))
    }

    pub fn opt_object(&self, field: &str) -> Result<Option<&'a Map<String, Value>>, FormatError> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.err(field, "Expected an object")),
        }
    }

    /// A required, non-empty string.
    pub fn string(&self, field: &str) -> Result<&'a str, FormatError> {
        self.opt_string(field)?
            .ok_or_else(|| self.err(field, "Missing"))
    }

    /// An optional string; present means non-empty.
    pub fn opt_string(&self, field: &str) -> Result<Option<&'a str>, FormatError> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Err(self.err(field, "Empty value")),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(field, "Expected a string")),
        }
    }

    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, FormatError> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(field, "Expected a boolean")),
        }
    }

    pub fn opt_number(&self, field: &str) -> Result<Option<&'a Number>, FormatError> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n)),
            Some(_) => Err(self.err(field, "Expected a number")),
        }
    }

    /// An optional list of strings (nexo "clusters" such as `DocumentQualifier`).
    pub fn opt_strings(&self, field: &str) -> Result<Option<Vec<&'a str>>, FormatError> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| self.err(field, "Expected a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.err(field, "Expected a list of strings")),
        }
    }

    /// An invalid value of `field`, with what would be valid.
    pub fn invalid(&self, field: &str, expected: &str) -> FormatError {
        self.err(field, &format!("Invalid value ({expected})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_adyens() {
        let v: Value = serde_json::json!({"AmountsReq": {"RequestedAmount": 1}});
        let root = Path::root();
        let Some(top) = v.as_object() else {
            panic!("object")
        };
        let node = Node::new(top, &root);
        assert_eq!(
            node.object("SaleToPOIRequest").err().map(|e| e.message),
            Some("At toplevel, field SaleToPOIRequest: Missing".to_string())
        );
        let path = Path::root()
            .child("SaleToPOIRequest")
            .child("PaymentRequest")
            .child("PaymentTransaction")
            .child("AmountsReq");
        let amounts = node.object("AmountsReq").expect("object");
        let node = Node::new(amounts, &path);
        assert_eq!(
            node.string("Currency").err().map(|e| e.message),
            Some(
                "At SaleToPOIRequest.PaymentRequest.PaymentTransaction.AmountsReq, field Currency: Missing"
                    .to_string()
            )
        );
        assert!(
            node.opt_number("RequestedAmount")
                .expect("number")
                .is_some()
        );
        assert!(node.opt_string("RequestedAmount").is_err());
    }
}
