//! XML documents as AWS Query services write them.

use crate::error::AwsError;

/// The STS namespace.
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The IAM namespace.
pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// Escapes text for element content and attribute values.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry are dropped rather than producing
            // a document no client can parse.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

/// A minimal streaming writer: elements open and close in order, text is escaped.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl XmlWriter {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens `<name>`.
    pub fn start(&mut self, name: &'static str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
        self
    }

    /// Opens `<name xmlns="ns">`.
    pub fn start_ns(&mut self, name: &'static str, ns: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        escape(ns, &mut self.out);
        self.out.push_str("\">");
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// `<name>text</name>`.
    pub fn element(&mut self, name: &'static str, text: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape(text, &mut self.out);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Escaped text inside the open element.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape(text, &mut self.out);
        self
    }

    /// `<name>text</name>` when `text` is present.
    pub fn opt(&mut self, name: &'static str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.element(name, t);
        }
        self
    }

    /// `<name><member>..</member>...</name>`, each member written by `f`.
    pub fn list<T>(&mut self, name: &'static str, items: &[T], mut f: impl FnMut(&mut Self, &T)) -> &mut Self {
        self.start(name);
        for item in items {
            self.start("member");
            f(self, item);
            self.end();
        }
        self.end()
    }

    /// The document, with any element left open closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}

/// A success document:
/// `<{Action}Response xmlns=..><{Action}Result>..</{Action}Result><ResponseMetadata>..</ResponseMetadata></{Action}Response>`.
/// `result` is `None` for actions whose response has no result element.
pub fn response(action: &str, namespace: &str, request_id: &str, result: Option<&dyn Fn(&mut XmlWriter)>) -> String {
    let mut out = String::with_capacity(512);
    out.push('<');
    out.push_str(action);
    out.push_str("Response xmlns=\"");
    escape(namespace, &mut out);
    out.push_str("\">");
    if let Some(f) = result {
        let mut w = XmlWriter::new();
        f(&mut w);
        out.push('<');
        out.push_str(action);
        out.push_str("Result>");
        out.push_str(&w.finish());
        out.push_str("</");
        out.push_str(action);
        out.push_str("Result>");
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape(request_id, &mut out);
    out.push_str("</RequestId></ResponseMetadata></");
    out.push_str(action);
    out.push_str("Response>");
    out
}

/// A success document around result content already written (the text
/// between `<{Action}Result>` and `</{Action}Result>`); `None` for actions
/// whose response has no result element.
pub fn response_xml(action: &str, namespace: &str, request_id: &str, result: Option<&str>) -> String {
    match result {
        Some(inner) => response(
            action,
            namespace,
            request_id,
            Some(&|w: &mut XmlWriter| {
                w.out.push_str(inner);
            }),
        ),
        None => response(action, namespace, request_id, None),
    }
}

/// An error document, as STS and IAM write them.
pub fn error_response(err: &AwsError, namespace: &str, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    w.start_ns("ErrorResponse", namespace)
        .start("Error")
        .element("Type", err.code.fault().as_str())
        .element("Code", err.code.code())
        .element("Message", &err.message)
        .end()
        .element("RequestId", request_id)
        .end();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn escapes_text_and_drops_unencodable_characters() {
        let mut s = String::new();
        escape("a<b>&\"'\u{1}\tz", &mut s);
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;\tz");
    }

    #[test]
    fn error_document_snapshot() {
        let e = AwsError::new(
            ErrorCode::AccessDenied,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
        insta::assert_snapshot!(error_response(&e, STS_NAMESPACE, "0f5f3b5e-0000-4000-8000-000000000000"), @r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>0f5f3b5e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"#);
    }

    #[test]
    fn response_document_snapshot() {
        let body = response(
            "GetCallerIdentity",
            STS_NAMESPACE,
            "rid",
            Some(&|w: &mut XmlWriter| {
                w.element("Arn", "arn:aws:iam::111122223333:root")
                    .element("UserId", "111122223333")
                    .element("Account", "111122223333");
            }),
        );
        insta::assert_snapshot!(body, @r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:root</Arn><UserId>111122223333</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#);
        assert_eq!(
            response_xml("GetCallerIdentity", STS_NAMESPACE, "rid", Some("<Arn>a</Arn>")),
            r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>a</Arn></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
        );
        let empty = response("DeleteRole", IAM_NAMESPACE, "rid", None);
        assert_eq!(
            empty,
            r#"<DeleteRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteRoleResponse>"#
        );
    }

    #[test]
    fn lists_use_member_elements() {
        let mut w = XmlWriter::new();
        w.list("ClientIDList", &["a", "b&c"], |w, s| {
            w.text(s);
        });
        assert_eq!(
            w.finish(),
            "<ClientIDList><member>a</member><member>b&amp;c</member></ClientIDList>"
        );
    }
}
