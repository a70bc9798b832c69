//! The request as the verifier sees it: no IO, no HTTP library types required.

/// A view of an HTTP request, borrowed from whatever the server has in hand.
///
/// * `method`: as on the request line (`GET`, `POST`).
/// * `path`: the raw path as it came on the wire (still percent-encoded), without the query.
/// * `query`: the raw query string without the leading `?` (empty when there is none).
/// * headers: every header line in arrival order; names compare case-insensitively and a name
///   may repeat. Include `host` (on HTTP/2, put the `:authority` there as `host`).
/// * `body`: the complete body bytes (the Query protocol's form body for POST).
///
/// ```
/// let req = irsa_sigv4::Request::new("POST", "/")
///     .header("Host", "sts.example.test")
///     .header("Content-Type", "application/x-www-form-urlencoded")
///     .body(b"Action=GetCallerIdentity&Version=2011-06-15");
/// assert_eq!(req.header_values("host").count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: Vec<(&'a str, &'a [u8])>,
    pub(crate) body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request for `target`, the request-target as sent: `/path?query` (the part from the first
    /// `?` on is the query).
    pub fn new(method: &'a str, target: &'a str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        Self {
            method,
            path,
            query,
            headers: Vec::new(),
            body: &[],
        }
    }

    /// A request with the path and the query given separately.
    pub fn from_parts(method: &'a str, path: &'a str, query: &'a str) -> Self {
        Self {
            method,
            path,
            query,
            headers: Vec::new(),
            body: &[],
        }
    }

    /// Adds one header line (values are bytes: HTTP allows non-UTF-8 octets).
    pub fn header(mut self, name: &'a str, value: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.headers.push((name, value.as_ref()));
        self
    }

    /// Adds one header line, in place.
    pub fn push_header(&mut self, name: &'a str, value: &'a [u8]) {
        self.headers.push((name, value));
    }

    /// Sets the body.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// A view of an `http::Request` whose body the server has already collected.
    pub fn from_http<B>(req: &'a http::Request<B>, body: &'a [u8]) -> Self {
        Self::from_http_parts(req.method(), req.uri(), req.headers(), body)
    }

    /// A view of the parts of an `http` request (`http::request::Parts` or a borrowed request).
    /// Without a `host` header (HTTP/2), the URI's authority stands in for it.
    pub fn from_http_parts(
        method: &'a http::Method,
        uri: &'a http::Uri,
        headers: &'a http::HeaderMap,
        body: &'a [u8],
    ) -> Self {
        let mut req = Self::from_parts(method.as_str(), uri.path(), uri.query().unwrap_or(""));
        req.headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        if !headers.contains_key(http::header::HOST)
            && let Some(authority) = uri.authority()
        {
            req.headers.push(("host", authority.as_str().as_bytes()));
        }
        req.body = body;
        req
    }

    /// The method.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The raw path.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The raw query string.
    pub fn query(&self) -> &'a str {
        self.query
    }

    /// The body.
    pub fn body_bytes(&self) -> &'a [u8] {
        self.body
    }

    /// The values of every header line named `name` (ASCII case-insensitive), in order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_target() {
        let r = Request::new("GET", "/a/b?x=1&y");
        assert_eq!((r.path(), r.query()), ("/a/b", "x=1&y"));
        let r = Request::new("GET", "/a?b?c");
        assert_eq!((r.path(), r.query()), ("/a", "b?c"));
        let r = Request::new("GET", "");
        assert_eq!((r.path(), r.query()), ("", ""));
    }

    #[test]
    fn headers_are_case_insensitive_and_multi_valued() {
        let r = Request::new("GET", "/")
            .header("X-A", "1")
            .header("x-a", b"2".as_slice())
            .header("x-b", "3");
        let v: Vec<_> = r.header_values("x-A").collect();
        assert_eq!(v, vec![b"1".as_slice(), b"2".as_slice()]);
    }

    #[test]
    fn from_http_uses_authority_without_host() {
        let req = http::Request::builder()
            .method("POST")
            .uri("https://sts.example.test:8443/?a=b")
            .body(())
            .unwrap();
        let r = Request::from_http(&req, b"x");
        assert_eq!(
            r.header_values("host").next(),
            Some(b"sts.example.test:8443".as_slice())
        );
        assert_eq!(
            (r.method(), r.path(), r.query(), r.body_bytes()),
            ("POST", "/", "a=b", b"x".as_slice())
        );
    }
}
