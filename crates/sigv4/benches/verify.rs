//! `cargo bench -p irsa-sigv4`: verifying a typical STS POST (an SDK's `AssumeRole` with a
//! session token: seven headers, a 1 KB token, a 300-byte form body), with the signing key
//! derived per request and cached; and a presigned GetCallerIdentity (EKS-token style).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use irsa_sigv4::{AmzDate, Request, Scope, SigningKey, Verifier};

fn main() {
    divan::main();
}

const SECRET: &str = "bench/Secret+Key/0123456789abcdefghijklmno";
const DATE: &str = "20260101T000000Z";
const BODY: &[u8] = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fkf-user\
&RoleSessionName=alice%40example.com&DurationSeconds=3600&Policy=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement\
%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";

fn now() -> SystemTime {
    AmzDate::parse_iso8601_basic(DATE).unwrap().to_system_time()
}

struct Post {
    token: String,
    authorization: String,
}

impl Post {
    fn new() -> Self {
        let token = "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQD".repeat(18);
        let mut post = Post {
            token,
            authorization: String::new(),
        };
        let placeholder = "AWS4-HMAC-SHA256 Credential=ASIAIRSABENCH0000001/20260101/us-east-1/sts/aws4_request, \
            SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token, Signature=00";
        post.authorization = placeholder.to_owned();
        let sts = {
            let req = post.request();
            let auth = Verifier::new(["sts"]).parse(&req, now()).unwrap();
            auth.canonical_request_and_string_to_sign().unwrap().1
        };
        let key = SigningKey::derive(SECRET, &Scope::new("20260101", "us-east-1", "sts"));
        post.authorization = placeholder.replace("Signature=00", &format!("Signature={}", key.sign(&sts)));
        assert!(
            Verifier::new(["sts"])
                .parse(&post.request(), now())
                .unwrap()
                .verify(SECRET)
                .is_ok()
        );
        post
    }

    fn request(&self) -> Request<'_> {
        Request::new("POST", "/")
            .header("Host", "sts.irsa.test")
            .header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
            .header("Content-Length", "303")
            .header("User-Agent", "aws-sdk-rust/1.3.9 os/linux lang/rust/1.94.0")
            .header("X-Amz-Date", DATE)
            .header("X-Amz-Security-Token", self.token.as_str())
            .header("Authorization", self.authorization.as_str())
            .body(BODY)
    }
}

#[divan::bench]
fn sts_post_parse_and_verify(bencher: divan::Bencher<'_, '_>) {
    let post = Post::new();
    let verifier = Verifier::new(["sts"]);
    bencher.bench_local(|| {
        let req = post.request();
        let auth = verifier.parse(divan::black_box(&req), now()).unwrap();
        auth.verify(SECRET).unwrap()
    });
}

#[divan::bench]
fn sts_post_parse_and_verify_with_cached_key(bencher: divan::Bencher<'_, '_>) {
    let post = Post::new();
    let verifier = Verifier::new(["sts"]);
    let key = SigningKey::derive(SECRET, &Scope::new("20260101", "us-east-1", "sts"));
    bencher.bench_local(|| {
        let req = post.request();
        let auth = verifier.parse(divan::black_box(&req), now()).unwrap();
        auth.verify_with_key(&key).unwrap()
    });
}

#[divan::bench]
fn sts_post_signature_mismatch(bencher: divan::Bencher<'_, '_>) {
    let post = Post::new();
    let verifier = Verifier::new(["sts"]);
    bencher.bench_local(|| {
        let req = post.request();
        let auth = verifier.parse(divan::black_box(&req), now()).unwrap();
        auth.verify("wrong").unwrap_err()
    });
}

#[divan::bench]
fn derive_signing_key() -> SigningKey {
    SigningKey::derive(divan::black_box(SECRET), &Scope::new("20260101", "us-east-1", "sts"))
}
