//! The whole IRSA flow with unmodified AWS clients: `irsa oidc serve` as the
//! cluster's issuer, `irsa server` as STS + IAM, `irsa token` as the kubelet,
//! and the AWS CLI and boto3 (from the test virtualenv) as the workload.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_testkit::{free_port, venv_tool, wait_for_port};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn irsa(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn spawn_irsa(dir: &Path, args: &[&str]) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_irsa"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn wait_for(port: u16) {
    wait_for_port(port, Duration::from_secs(30));
}

/// Runs the AWS CLI with the root credentials of the data dir.
fn aws(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(venv_tool("aws"))
        .args(args)
        .current_dir(dir)
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("data/root-credentials"))
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const BOTO3: &str = r#"
import json, sys, boto3, botocore
out = {}
sts = boto3.client("sts")
out["caller"] = sts.get_caller_identity()["Arn"]
iam = boto3.client("iam")
out["roles"] = [r["RoleName"] for r in iam.list_roles()["Roles"]]
try:
    iam.delete_role(RoleName="team-a")
    out["delete"] = "allowed"
except botocore.exceptions.ClientError as e:
    out["delete"] = e.response["Error"]["Code"]
    out["delete_message"] = e.response["Error"]["Message"]
print(json.dumps(out))
"#;

#[test]
fn a_pod_token_becomes_role_credentials_for_the_aws_cli_and_boto3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (issuer_port, server_port) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let endpoint = format!("http://127.0.0.1:{server_port}");
    ok(irsa(d, &["oidc", "keygen", "--out", "sa.key"]));
    let _issuer = spawn_irsa(
        d,
        &[
            "oidc",
            "serve",
            "--issuer",
            &issuer,
            "--key",
            "sa.key",
            "--listen",
            &format!("127.0.0.1:{issuer_port}"),
        ],
    );
    let _server = spawn_irsa(
        d,
        &[
            "server",
            "--listen",
            &format!("127.0.0.1:{server_port}"),
            "--data-dir",
            "data",
            "--account-id",
            "111122223333",
            "--allow-http-issuers",
        ],
    );
    wait_for(issuer_port);
    wait_for(server_port);

    // The platform engineer: register the issuer, create a role that trusts team-a's default-editor.
    ok(aws(
        d,
        &endpoint,
        &[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            &issuer,
            "--client-id-list",
            "sts.amazonaws.com",
        ],
    ));
    let provider = format!("arn:aws:iam::111122223333:oidc-provider/127.0.0.1:{issuer_port}");
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"127.0.0.1:{issuer_port}:aud":"sts.amazonaws.com","127.0.0.1:{issuer_port}:sub":["system:serviceaccount:team-a:default-editor"]}}}}}}]}}"#
    );
    std::fs::write(d.join("trust.json"), trust).unwrap();
    ok(aws(
        d,
        &endpoint,
        &[
            "iam",
            "create-role",
            "--role-name",
            "team-a",
            "--assume-role-policy-document",
            "file://trust.json",
        ],
    ));
    std::fs::write(
        d.join("read.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#,
    )
    .unwrap();
    ok(aws(
        d,
        &endpoint,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "team-a",
            "--policy-name",
            "read",
            "--policy-document",
            "file://read.json",
        ],
    ));

    // The kubelet: a projected token for team-a/default-editor.
    let token = ok(irsa(
        d,
        &[
            "token",
            "--signing-key",
            "sa.key",
            "--issuer",
            &issuer,
            "--namespace",
            "team-a",
            "--service-account",
            "default-editor",
        ],
    ));
    std::fs::write(d.join("token"), token.trim()).unwrap();

    // The AWS CLI, as in the docs: an unsigned AssumeRoleWithWebIdentity.
    let creds = ok(aws(
        d,
        &endpoint,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            "arn:aws:iam::111122223333:role/team-a",
            "--role-session-name",
            "notebook",
            "--web-identity-token",
            "file://token",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&creds).unwrap();
    assert!(v["Credentials"]["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(
        v["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::111122223333:assumed-role/team-a/notebook"
    );
    assert_eq!(
        v["SubjectFromWebIdentityToken"],
        "system:serviceaccount:team-a:default-editor"
    );

    // boto3 from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ENDPOINT_URL_STS alone.
    let out = Command::new(venv_tool("python"))
        .args(["-c", BOTO3])
        .env("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/team-a")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", d.join("token"))
        .env("AWS_ENDPOINT_URL_STS", &endpoint)
        .env("AWS_ENDPOINT_URL_IAM", &endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", d.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", d.join("no-credentials"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    assert!(
        v["caller"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::111122223333:assumed-role/team-a/"),
        "{v}"
    );
    assert_eq!(v["roles"][0], "team-a");
    assert_eq!(v["delete"], "AccessDenied", "{v}");

    // Tenant isolation: team-b's token never assumes team-a's role, and is told why.
    let other = ok(irsa(
        d,
        &[
            "token",
            "--signing-key",
            "sa.key",
            "--issuer",
            &issuer,
            "--namespace",
            "team-b",
            "--service-account",
            "default-editor",
        ],
    ));
    std::fs::write(d.join("token-b"), other.trim()).unwrap();
    let denied = aws(
        d,
        &endpoint,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            "arn:aws:iam::111122223333:role/team-a",
            "--role-session-name",
            "intruder",
            "--web-identity-token",
            "file://token-b",
        ],
    );
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains("AccessDenied") && err.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{err}"
    );
    assert!(
        err.contains("team-b"),
        "the explanation names the subject that did not match: {err}"
    );

    // `irsa trust` through irsa's own IAM: trust team-b, and its token works; remove it, and it fails again.
    let trust_cli = |args: &[&str]| {
        let mut all = vec!["trust"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--endpoint-url", &endpoint]);
        Command::new(env!("CARGO_BIN_EXE_irsa"))
            .args(&all)
            .current_dir(d)
            .env("AWS_SHARED_CREDENTIALS_FILE", d.join("data/root-credentials"))
            .env("AWS_CONFIG_FILE", d.join("no-config"))
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap()
    };
    let role = "arn:aws:iam::111122223333:role/team-a";
    let sa = ["--namespace", "team-b", "--service-account", "default-editor"];
    let added = ok(trust_cli(
        &[&["add", "--role-arn", role, "--issuer", &issuer][..], &sa[..]].concat(),
    ));
    assert!(
        added.contains("now trusts system:serviceaccount:team-b:default-editor"),
        "{added}"
    );
    let shown = ok(trust_cli(&["show", "--role-arn", role]));
    assert!(
        shown.contains("trusts system:serviceaccount:team-a:default-editor"),
        "{shown}"
    );
    assert!(
        shown.contains("trusts system:serviceaccount:team-b:default-editor"),
        "{shown}"
    );
    let assume_b = || {
        aws(
            d,
            &endpoint,
            &[
                "sts",
                "assume-role-with-web-identity",
                "--role-arn",
                role,
                "--role-session-name",
                "team-b",
                "--web-identity-token",
                "file://token-b",
            ],
        )
    };
    ok(assume_b());
    ok(trust_cli(
        &[&["remove", "--role-arn", role, "--issuer", &issuer][..], &sa[..]].concat(),
    ));
    assert!(!assume_b().status.success());
    // Team a was never touched.
    ok(aws(
        d,
        &endpoint,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            role,
            "--role-session-name",
            "team-a",
            "--web-identity-token",
            "file://token",
        ],
    ));

    // The AWS SDK for Rust, from the environment alone (`irsa whoami` is aws-config's default chain).
    let who = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .arg("whoami")
        .env("AWS_ROLE_ARN", role)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", d.join("token"))
        .env("AWS_ENDPOINT_URL_STS", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", d.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", d.join("no-credentials"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let who: serde_json::Value = serde_json::from_str(&ok(who)).unwrap();
    assert!(
        who["Arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::111122223333:assumed-role/team-a/"),
        "{who}"
    );

    // A token minted by an independent implementation (PyJWT) with the cluster's key is just as good.
    let jwks: serde_json::Value =
        serde_json::from_str(&ok(irsa(d, &["oidc", "jwks", "--public-key", "sa.key"]))).unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let mint = format!(
        r#"
import jwt, time
now = int(time.time())
claims = {{"iss": "{issuer}", "sub": "system:serviceaccount:team-a:default-editor", "aud": ["sts.amazonaws.com"],
          "iat": now, "nbf": now, "exp": now + 3600}}
print(jwt.encode(claims, open("sa.key").read(), algorithm="RS256", headers={{"kid": "{kid}"}}))
"#
    );
    let py = Command::new(venv_tool("python"))
        .args(["-c", &mint])
        .current_dir(d)
        .output()
        .unwrap();
    std::fs::write(d.join("token-pyjwt"), ok(py).trim()).unwrap();
    let creds = ok(aws(
        d,
        &endpoint,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            role,
            "--role-session-name",
            "pyjwt",
            "--web-identity-token",
            "file://token-pyjwt",
        ],
    ));
    assert!(creds.contains("assumed-role/team-a/pyjwt"), "{creds}");

    // The STS counted its JWKS fetches and cache hits.
    let metrics = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        write!(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing in {metrics}"))
    };
    assert!(count("irsa_jwks_fetches_total ") >= 1);
    assert!(count("irsa_jwks_cache_hits_total ") >= 1);
    assert!(
        metrics.contains("action=\"sts:AssumeRoleWithWebIdentity\",outcome=\"AccessDenied\""),
        "{metrics}"
    );
}
