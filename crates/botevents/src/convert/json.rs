//! The JSON side of conversion: a capped buffer for the small JSON answers of the `customEvents`
//! and `histogram` endpoints, and their parsing into typed values with the path of any problem.
//!
//! The JSON answers are a few kilobytes (one entry per event name, one entry per period), so they
//! are gathered whole and parsed at the end of the body. Memory is the body itself plus its typed
//! form; the body is capped at [`DEFAULT_MAX_JSON_BYTES`] so that a runaway answer fails with a
//! clear error instead of exhausting memory.

use serde::de::DeserializeOwned;

use super::ConvertError;

/// Default cap on the bytes of one JSON answer.
pub const DEFAULT_MAX_JSON_BYTES: usize = 64 * 1024 * 1024;

/// Longest start of a body quoted in an error.
const EXCERPT_CHARS: usize = 80;

/// The bytes of one JSON answer, gathered up to a cap.
#[derive(Debug)]
pub(crate) struct JsonBody {
    endpoint: &'static str,
    buf: Vec<u8>,
    limit: usize,
}

impl JsonBody {
    /// An empty body of `endpoint`'s answer (named in errors), capped at `limit` bytes.
    pub(crate) fn new(endpoint: &'static str, limit: usize) -> JsonBody {
        JsonBody { endpoint, buf: Vec::new(), limit }
    }

    /// Changes the cap.
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Appends the next bytes, refusing to grow past the cap.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        if self.buf.len().saturating_add(data.len()) > self.limit {
            return Err(ConvertError::JsonTooLarge { endpoint: self.endpoint, limit: self.limit });
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Parses the whole body as a `T`. `None` when it is empty (no bytes, or only whitespace),
    /// which is how a 204 or an empty 200 arrives; the vendor's other "empty list" answers, a bare
    /// `[]` (any whitespace inside) or `null`, are `T::default()`. The buffer is released either
    /// way.
    pub(crate) fn parse<T: DeserializeOwned + Default>(&mut self) -> Result<Option<T>, ConvertError> {
        let buf = std::mem::take(&mut self.buf);
        let body = buf.trim_ascii();
        if body.is_empty() {
            return Ok(None);
        }
        if body == b"null" || (body.starts_with(b"[") && body[1..].trim_ascii() == b"]") {
            return Ok(Some(T::default()));
        }
        // Both answers are objects; anything else (an HTML error page, CSV, a list of entries) is
        // said as such rather than as a type error deep in the parser.
        if body[0] != b'{' {
            return Err(self.bad(format!("not a JSON object: starts with {:?}", excerpt(body))));
        }
        let mut de = serde_json::Deserializer::from_slice(&buf);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() && path != "." {
                self.bad(format!("at {path}: {inner}"))
            } else {
                self.bad(inner.to_string())
            }
        })?;
        de.end().map_err(|e| self.bad(format!("text after the JSON value: {e}")))?;
        Ok(Some(value))
    }

    fn bad(&self, reason: String) -> ConvertError {
        ConvertError::BadJson { endpoint: self.endpoint, reason }
    }
}

/// The start of a body, lossily decoded, for an error.
fn excerpt(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(EXCERPT_CHARS * 4)];
    String::from_utf8_lossy(head).chars().take(EXCERPT_CHARS).collect()
}

/// A count of the JSON answers: a number, or a string of digits (`"12"`); `null` is 0. Negative,
/// fractional or other values are refused with what was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Count(pub u64);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Count, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a count (a number or a string of digits, or null)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Count, E> {
                u64::try_from(v).map(Count).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Count, E> {
                let t = s.trim();
                if t.is_empty() {
                    return Ok(Count(0));
                }
                t.parse::<u64>().map(Count).map_err(|_| E::invalid_value(serde::de::Unexpected::Str(s), &self))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// Deserializes a JSON `null` as the type's default (the vendor's empty lists may be `null`),
/// while a missing field stays an error.
pub(crate) fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    struct Doc {
        #[serde(deserialize_with = "null_as_default")]
        list: Vec<u32>,
    }

    fn parse(text: &str) -> Result<Option<Doc>, ConvertError> {
        let mut b = JsonBody::new("test", 1024);
        b.push(text.as_bytes())?;
        b.parse()
    }

    fn reason(text: &str) -> String {
        match parse(text) {
            Err(ConvertError::BadJson { endpoint: "test", reason }) => reason,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_and_takes_null_lists_as_empty() {
        assert_eq!(parse(r#"{"list":[1,2]}"#).unwrap(), Some(Doc { list: vec![1, 2] }));
        assert_eq!(parse(r#" {"list":null} "#).unwrap(), Some(Doc { list: vec![] }));
        assert_eq!(parse(" \n ").unwrap(), None);
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn the_empty_lists_of_the_page_are_the_default() {
        for body in ["[]", " [ \n ] ", "null", "\nnull\n"] {
            assert_eq!(parse(body).unwrap(), Some(Doc::default()), "{body:?}");
        }
    }

    #[test]
    fn counts_are_numbers_or_strings_of_digits() {
        let count = |v: &str| serde_json::from_str::<Count>(v).map(|c| c.0).map_err(|e| e.to_string());
        assert_eq!(count("7"), Ok(7));
        assert_eq!(count("\" 12 \""), Ok(12));
        assert_eq!(count("null"), Ok(0));
        assert_eq!(count("\"\""), Ok(0));
        assert!(count("-1").unwrap_err().starts_with("invalid value: integer `-1`"), "{:?}", count("-1"));
        assert!(count("1.5").unwrap_err().starts_with("invalid type: floating point"), "{:?}", count("1.5"));
        assert!(count("\"x1\"").unwrap_err().starts_with("invalid value: string \"x1\""), "{:?}", count("\"x1\""));
    }

    #[test]
    fn errors_say_where_and_what() {
        assert!(
            reason(r#"{"list":[1,"x"]}"#).starts_with("at list[1]: invalid type: string \"x\""),
            "{}",
            reason(r#"{"list":[1,"x"]}"#)
        );
        assert!(reason("{}").contains("missing field `list`"), "{}", reason("{}"));
        assert!(reason(r#"{"list":[1,2]"#).contains("EOF"), "{}", reason(r#"{"list":[1,2]"#));
        assert!(reason("<html><body>502</body></html>").starts_with("not a JSON object: starts with \"<html>"));
        assert!(reason(r#"{"list":[]} x"#).starts_with("text after the JSON value"));
        assert!(reason("[1, 2]").starts_with("not a JSON object: starts with \"[1, 2]\""));
        assert!(reason("nullx").starts_with("not a JSON object: starts with \"nullx\""));
    }

    #[test]
    fn the_cap_is_enforced() {
        let mut b = JsonBody::new("test", 10);
        b.push(b"{\"list\":").unwrap();
        let err = b.push(b"[1,2,3]}").unwrap_err();
        assert_eq!(err, ConvertError::JsonTooLarge { endpoint: "test", limit: 10 });
        assert!(err.to_string().contains("longer than 10 bytes"), "{err}");
    }
}
