//! A strict JSON reader for policy documents.
//!
//! `serde_json::Value` silently keeps the last of two duplicate keys, which turns
//! the seed's "userA OR userB" trust policy into "userB only". This reader keeps
//! every member in order, rejects duplicates at any depth with the member's JSON
//! pointer, rejects trailing commas and other RFC 8259 violations, and reports
//! line and column. Depth is bounded so hostile input cannot exhaust the stack.

use std::collections::HashSet;
use std::fmt;

/// Deepest nesting accepted; policies need five or six levels.
const MAX_DEPTH: usize = 64;

/// A parsed JSON value that remembers member order and where it started.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number's source text, validated against the JSON grammar.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Why a document is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// RFC 6901 pointer of the value being read when the error occurred.
    pub pointer: String,
    /// 1-based line of the offending character.
    pub line: usize,
    /// 1-based column (in characters) of the offending character.
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

/// Escapes one reference token for a JSON pointer (RFC 6901 §3).
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

struct Reader<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    path: Vec<Seg>,
    /// Duplicate keys found so far; reading goes on so that one report
    /// names every duplicate and any later syntax error.
    duplicates: Vec<JsonError>,
}

/// Parses a whole document; anything but whitespace after the value is an
/// error. Every duplicate key is reported, then the first syntax error if any.
pub(crate) fn parse(src: &str) -> Result<Json, Vec<JsonError>> {
    let mut r = Reader {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        path: Vec::new(),
        duplicates: Vec::new(),
    };
    let result = r.document();
    let mut errors = std::mem::take(&mut r.duplicates);
    match result {
        Ok(v) if errors.is_empty() => Ok(v),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    }
}

/// Parses a document whose only faults are duplicate keys (the first member of
/// each name is kept); `None` for anything that is not JSON. For guessing what a
/// document is for, where a duplicate is reported later by [`parse`] anyway.
pub(crate) fn parse_keeping_first(src: &str) -> Option<Json> {
    let mut r = Reader {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        path: Vec::new(),
        duplicates: Vec::new(),
    };
    r.document().ok()
}

impl Reader<'_> {
    fn document(&mut self) -> Result<Json, JsonError> {
        self.skip_ws();
        if self.pos >= self.bytes.len() {
            return Err(self.err("empty document"));
        }
        let v = self.value(0)?;
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(self.err("unexpected characters after the end of the document"));
        }
        Ok(v)
    }

    fn pointer(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            s.push('/');
            match seg {
                Seg::Key(k) => s.push_str(&escape_token(k)),
                Seg::Index(i) => s.push_str(&i.to_string()),
            }
        }
        s
    }

    fn err_at(&self, pos: usize, message: impl Into<String>) -> JsonError {
        let pos = pos.min(self.bytes.len());
        let before = &self.src[..floor_char_boundary(self.src, pos)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        JsonError {
            message: message.into(),
            pointer: self.pointer(),
            line,
            column,
        }
    }

    fn err(&self, message: impl Into<String>) -> JsonError {
        self.err_at(self.pos, message)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            None => Err(self.err("unexpected end of document")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err(format!("unexpected character `{}`", self.current_char()))),
        }
    }

    fn current_char(&self) -> char {
        self.src[floor_char_boundary(self.src, self.pos)..]
            .chars()
            .next()
            .unwrap_or(' ')
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err(format!("invalid literal, expected `{word}`")))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1; // '{'
        let mut members: Vec<(String, Json)> = Vec::new();
        let mut seen: Option<HashSet<String>> = None;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') if !members.is_empty() => {
                    return Err(self.err("trailing comma before `}`"));
                }
                None => return Err(self.err("unexpected end of document inside an object")),
                Some(_) => return Err(self.err("expected a member name in double quotes")),
            }
            let key_pos = self.pos;
            let key = self.string()?;
            let dup = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = members.iter().any(|(k, _)| *k == key);
                    if members.len() >= 16 {
                        seen = Some(members.iter().map(|(k, _)| k.clone()).chain([key.clone()]).collect());
                    }
                    dup
                }
            };
            if dup {
                self.path.push(Seg::Key(key.clone()));
                let e = self.err_at(key_pos, format!("duplicate key `{key}`"));
                self.path.pop();
                self.duplicates.push(e);
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected `:` after a member name"));
            }
            self.pos += 1;
            self.skip_ws();
            self.path.push(Seg::Key(key.clone()));
            let v = self.value(depth + 1)?;
            self.path.pop();
            if !dup {
                members.push((key, v));
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                None => return Err(self.err("unexpected end of document inside an object")),
                Some(_) => return Err(self.err("expected `,` or `}` after an object member")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b']') {
                return Err(self.err("trailing comma before `]`"));
            }
            self.path.push(Seg::Index(items.len()));
            let v = self.value(depth + 1)?;
            self.path.pop();
            items.push(v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                None => return Err(self.err("unexpected end of document inside an array")),
                Some(_) => return Err(self.err("expected `,` or `]` after an array element")),
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            // Copy the run of plain characters in one go.
            let run_start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.src[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.err_at(start, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| self.err_at(start, "unterminated string"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => {
                            self.pos -= 2;
                            return Err(self.err("invalid escape sequence in string"));
                        }
                    }
                }
                Some(_) => {
                    return Err(self.err("control character inside a string must be escaped"));
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(hex) = self.bytes.get(self.pos..self.pos + 4) else {
            return Err(self.err("truncated \\u escape"));
        };
        let mut v = 0u32;
        for &h in hex {
            let d = (h as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid hex digit in \\u escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                return Err(self.err("unpaired surrogate in \\u escape"));
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.err("unpaired surrogate in \\u escape"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.err("unpaired surrogate in \\u escape"))
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        let digits = |r: &mut Self| {
            let s = r.pos;
            while let Some(b'0'..=b'9') = r.peek() {
                r.pos += 1;
            }
            r.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 {
            return Err(self.err("invalid number"));
        }
        if n > 1 && self.bytes[int_start] == b'0' {
            return Err(self.err_at(int_start, "leading zeros are not allowed in numbers"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number: digits expected after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number: digits expected in exponent"));
            }
        }
        Ok(Json::Number(self.src[start..self.pos].to_owned()))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Writes `s` as a JSON string literal: only what RFC 8259 requires is escaped.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_member_order_and_values() {
        let v = parse(r#"{"b": 1, "a": [true, null, "x\u00e9"]}"#).unwrap();
        let Json::Object(m) = v else { panic!() };
        assert_eq!(m[0].0, "b");
        assert_eq!(m[0].1, Json::Number("1".into()));
        assert_eq!(
            m[1].1,
            Json::Array(vec![Json::Bool(true), Json::Null, Json::String("xé".into())])
        );
    }

    #[test]
    fn duplicate_key_names_pointer_with_escaping() {
        let e = parse("{\"C\": {\"oidc.x/id/1:sub\": \"a\",\n \"oidc.x/id/1:sub\": \"b\"}}").unwrap_err();
        let e = &e[0];
        assert_eq!(e.message, "duplicate key `oidc.x/id/1:sub`");
        assert_eq!(e.pointer, "/C/oidc.x~1id~11:sub");
        assert_eq!((e.line, e.column), (2, 2));
    }

    #[test]
    fn duplicate_detection_switches_to_hash_set_for_wide_objects() {
        let mut doc = String::from("{");
        for i in 0..40 {
            doc.push_str(&format!("\"k{i}\": {i},"));
        }
        doc.push_str("\"k3\": 0}");
        assert!(parse(&doc).unwrap_err()[0].message.contains("duplicate key `k3`"));
    }

    #[test]
    fn trailing_commas_are_errors() {
        assert!(parse(r#"{"a": 1,}"#).unwrap_err()[0].message.contains("trailing comma"));
        assert!(parse(r#"["a",]"#).unwrap_err()[0].message.contains("trailing comma"));
    }

    #[test]
    fn rejects_malformed_documents() {
        for doc in [
            "",
            "{",
            "[1 2]",
            "{\"a\" 1}",
            "{a: 1}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"a",
            "tru",
            "{} {}",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "1e",
            "[",
            "{\"a\":}",
        ] {
            assert!(parse(doc).is_err(), "{doc:?} should fail");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep).unwrap_err()[0].message.contains("nesting"));
    }

    #[test]
    fn duplicates_and_a_later_syntax_error_are_all_reported() {
        let e = parse("{\"a\": 1, \"a\": 2, \"b\": [1,],}").unwrap_err();
        let msgs: Vec<&str> = e.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["duplicate key `a`", "trailing comma before `]`"]);
    }

    #[test]
    fn surrogate_pairs_decode() {
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), Json::String("😀".into()));
    }
}
