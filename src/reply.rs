//! Typed replies: every RESP2 and RESP3 type, converted from the `redis`
//! crate's values, and the `field:value` lines of INFO text. A server error
//! is a reply (tests assert on it), not an `Err`.

use std::fmt;

use redis::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    /// A simple string such as `OK` or `PONG`.
    Status(String),
    /// An error reply, e.g. `ERR unknown command 'FOO'` (code first).
    Error(String),
    Integer(i64),
    /// A bulk string; binary-safe.
    String(Vec<u8>),
    Array(Vec<Reply>),
    /// RESP3 map, in the order the server sent it.
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Boolean(bool),
    /// RESP3 big number, as its decimal text.
    BigNumber(String),
    /// RESP3 verbatim string: format (e.g. `txt`) and text.
    Verbatim {
        format: String,
        text: String,
    },
    /// RESP3 push message: kind (e.g. `message`) and data.
    Push {
        kind: String,
        data: Vec<Reply>,
    },
}

impl Reply {
    /// The bytes of a string-like reply (string, status, error, verbatim, big number).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::String(b) => Some(b),
            Reply::Status(s) | Reply::Error(s) | Reply::BigNumber(s) => Some(s.as_bytes()),
            Reply::Verbatim { text, .. } => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// The text of a string-like reply, when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Integer(i) => Some(*i),
            Reply::Boolean(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_double(&self) -> Option<f64> {
        match self {
            Reply::Double(d) => Some(*d),
            Reply::Integer(i) => Some(*i as f64),
            _ => self.as_str().and_then(|s| s.trim().parse().ok()),
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Nil)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// `Some(message)` for an error reply.
    pub fn error(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }

    /// The elements of an array, set or push reply, or the keys and values
    /// of a map, flattened (k1, v1, k2, v2, ...).
    pub fn elements(&self) -> Vec<&Reply> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push { data: v, .. } => v.iter().collect(),
            Reply::Map(pairs) => pairs.iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => Vec::new(),
        }
    }

    /// The value of `key` in a map reply, or in an array of alternating keys
    /// and values (what RESP2 gives for HGETALL or CONFIG GET).
    pub fn get(&self, key: &str) -> Option<&Reply> {
        let items = self.elements();
        items
            .chunks_exact(2)
            .find(|kv| kv[0].as_bytes() == Some(key.as_bytes()))
            .map(|kv| kv[1])
    }

    /// Converts a value from the `redis` crate.
    pub fn from_value(value: Value) -> Reply {
        match value {
            Value::Nil => Reply::Nil,
            Value::Int(i) => Reply::Integer(i),
            Value::BulkString(b) => Reply::String(b),
            Value::Array(v) => Reply::Array(v.into_iter().map(Reply::from_value).collect()),
            Value::SimpleString(s) => Reply::Status(s),
            Value::Okay => Reply::Status("OK".to_string()),
            Value::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Reply::from_value(k), Reply::from_value(v)))
                    .collect(),
            ),
            Value::Attribute { data, .. } => Reply::from_value(*data),
            Value::Set(v) => Reply::Set(v.into_iter().map(Reply::from_value).collect()),
            Value::Double(d) => Reply::Double(d),
            Value::Boolean(b) => Reply::Boolean(b),
            Value::VerbatimString { format, text } => Reply::Verbatim {
                format: format.to_string(),
                text,
            },
            Value::BigNumber(n) => Reply::BigNumber(String::from_utf8_lossy(&n).into_owned()),
            Value::Push { kind, data } => Reply::Push {
                kind: kind.to_string(),
                data: data.into_iter().map(Reply::from_value).collect(),
            },
            Value::ServerError(e) => Reply::Error(match e.details() {
                Some(detail) => format!("{} {detail}", e.code()),
                None => e.code().to_string(),
            }),
            // The enum is non-exhaustive: show a future kind rather than lose it.
            other => Reply::Status(format!("{other:?}")),
        }
    }
}

impl fmt::Display for Reply {
    /// Shown the way valkey-cli shows replies, compactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Nil => f.write_str("(nil)"),
            Reply::Status(s) => f.write_str(s),
            Reply::Error(e) => write!(f, "(error) {e}"),
            Reply::Integer(i) => write!(f, "(integer) {i}"),
            Reply::String(b) => write!(f, "\"{}\"", String::from_utf8_lossy(b).escape_debug()),
            Reply::Double(d) => write!(f, "(double) {d}"),
            Reply::Boolean(b) => write!(f, "({b})"),
            Reply::BigNumber(n) => write!(f, "(big number) {n}"),
            Reply::Verbatim { text, .. } => write!(f, "\"{}\"", text.escape_debug()),
            Reply::Array(_) | Reply::Set(_) | Reply::Push { .. } | Reply::Map(_) => {
                f.write_str("[")?;
                for (i, item) in self.elements().into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The value of `field` in INFO text ("field:value" lines).
pub fn info_value<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim_end())
    })
}
