//! `irsa server` as CI runs it (what LocalStack and moto users expect): `--seed FILE` creates the
//! providers, policies and roles a job needs, seen here through the AWS CLI, and a restart with
//! the same seed changes nothing; a bad seed ends the server at once with one line naming the
//! entry and exit status 2; `--ephemeral` writes no file anywhere; `GET /healthz` is JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irsa_testkit::{free_port, http_get, venv_tool};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY_ID: &str = "AKIAIRSACITESTEXAMPLE";
const SECRET: &str = "irsa-ci-test-secret-0123456789";

const SEED: &str = r#"
oidc-providers:
  - url: https://oidc.example.com/clusters/ci
policies:
  - name: read-artifacts
    document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
roles:
  - name: team-a
    trust-policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/clusters/ci"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition: {StringEquals: {"oidc.example.com/clusters/ci:sub": "system:serviceaccount:team-a:default-editor"}}
    inline-policies:
      logs: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "logs:PutLogEvents", Resource: "*"}]}
    managed-policies: [read-artifacts]
"#;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `irsa server` in `dir`, with HOME and XDG_DATA_HOME there too (so that a default data
/// directory would show up in it), stderr in `dir/../stderr-<port>.log`.
fn server(dir: &Path, log: &Path, args: &[&str]) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(env!("CARGO_BIN_EXE_irsa"))
            .arg("server")
            .args(args)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env_remove("IRSA_DATA_DIR")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Waits for `/healthz` and returns it; fails with the server's stderr if it exits first.
fn wait_healthy(p: &mut Proc, log: &Path, port: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            panic!("irsa server exited with {status}:\n{}", read(log));
        }
        if let Ok((200, body)) = http_get(port, "/healthz") {
            return serde_json::from_str(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "no /healthz within 30 s:\n{}", read(log));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the process to end (it must, within 20 s) and returns its exit code.
fn wait_exit(p: &mut Proc, log: &Path) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "still running after 20 s:\n{}", read(log));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `aws iam ARGS --output json` against the server, with the given keys.
fn aws(port: u16, key: (&str, &str), args: &[&str]) -> serde_json::Value {
    let out = Command::new(venv_tool("aws"))
        .arg("iam")
        .args(args)
        .args(["--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws iam {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What the AWS CLI sees of the seeded account.
fn listing(port: u16) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let key = (KEY_ID, SECRET);
    (
        aws(port, key, &["list-roles"])["Roles"].clone(),
        aws(port, key, &["list-open-id-connect-providers"]).clone(),
        aws(port, key, &["list-attached-role-policies", "--role-name", "team-a"]).clone(),
    )
}

#[test]
fn a_seed_creates_what_ci_needs_and_a_restart_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("seed.yaml"), SEED).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        &listen,
        "--data-dir",
        "data",
        "--account-id",
        "111122223333",
        "--root-access-key-id",
        KEY_ID,
        "--root-secret-access-key",
        SECRET,
        "--seed",
        "seed.yaml",
    ];
    let log = d.join("first.log");
    let mut first = server(d, &log, &args);
    let health = wait_healthy(&mut first, &log, port);
    assert_eq!(health["store"], "embedded");
    assert!(read(&log).contains("seed applied: 3 created, 0 updated, 0 unchanged"));
    let before = listing(port);
    assert_eq!(before.0.as_array().unwrap().len(), 1);
    assert_eq!(before.0[0]["RoleName"], "team-a");
    assert_eq!(
        before.1["OpenIDConnectProviderList"][0]["Arn"],
        "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/clusters/ci"
    );
    assert_eq!(
        before.2["AttachedPolicies"][0]["PolicyArn"],
        "arn:aws:iam::111122223333:policy/read-artifacts"
    );
    drop(first);

    let log = d.join("second.log");
    let mut second = server(d, &log, &args);
    wait_healthy(&mut second, &log, port);
    assert!(
        read(&log).contains("seed applied: 0 created, 0 updated, 3 unchanged"),
        "{}",
        read(&log)
    );
    // Same role id and creation date: nothing was recreated.
    assert_eq!(listing(port), before);
}

#[test]
fn ephemeral_writes_nothing_and_prints_its_generated_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(
        home.join("seed.json"),
        r#"{"oidc-providers":[{"url":"https://oidc.example.com/ci"}]}"#,
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = tmp.path().join("stderr.log");
    let mut p = server(
        &home,
        &log,
        &["--ephemeral", "--listen", &listen, "--seed", "seed.json"],
    );
    let health = wait_healthy(&mut p, &log, port);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "memory");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let text = read(&log);
    assert!(text.contains("store: in memory, nothing written to disk"), "{text}");
    let creds = text
        .lines()
        .find_map(|l| l.split_once("valid until this process ends: "))
        .map(|(_, c)| c.to_owned())
        .unwrap_or_else(|| panic!("no generated credentials in:\n{text}"));
    let (id, secret) = creds
        .split_once(' ')
        .map(|(i, s)| {
            (
                i.trim_start_matches("AWS_ACCESS_KEY_ID=").to_owned(),
                s.trim_start_matches("AWS_SECRET_ACCESS_KEY=").to_owned(),
            )
        })
        .unwrap();
    let providers = aws(port, (&id, &secret), &["list-open-id-connect-providers"]);
    assert_eq!(providers["OpenIDConnectProviderList"].as_array().unwrap().len(), 1);
    aws(
        port,
        (&id, &secret),
        &[
            "create-role",
            "--role-name",
            "r",
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        ],
    );
    drop(p);
    let left: Vec<String> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["seed.json"], "--ephemeral wrote into its directory or HOME");
}

#[test]
fn a_bad_seed_ends_the_server_with_one_line_naming_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            // IAM refuses the document: the entry, the action and IAM's reason.
            "roles:\n  - name: ok\n    trust-policy: {Version: \"2012-10-17\", Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: sts:AssumeRole}]}\n  - name: broken\n    trust-policy: '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\"}]}'\n",
            &["--ephemeral"],
            "seed: roles[1] (broken): CreateRole: MalformedPolicyDocument",
        ),
        (
            "policies:\n  - name: p\n    document: [1]\n",
            &["--ephemeral"],
            "seed `seed.yaml`: policies[0] (p): document must be a mapping or a string of JSON, not a list",
        ),
        (
            "roles:\n  - name: r\n    trust-polcy: {}\n",
            &["--ephemeral"],
            "seed `seed.yaml`: ",
        ),
        (
            "",
            &["--ephemeral", "--data-dir", "x"],
            "--ephemeral writes nothing to disk",
        ),
    ];
    for (seed, extra, expected) in cases {
        std::fs::write(d.join("seed.yaml"), seed).unwrap();
        let log = d.join("stderr.log");
        let mut args = vec!["--listen", "127.0.0.1:0", "--seed", "seed.yaml"];
        args.extend_from_slice(extra);
        let mut p = server(d, &log, &args);
        let code = wait_exit(&mut p, &log);
        let text = read(&log);
        assert_eq!(code, Some(2), "{seed}:\n{text}");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line expected:\n{text}");
        assert!(
            lines[0].starts_with("irsa: error: ") && lines[0].contains(expected),
            "expected {expected:?} in\n{text}"
        );
    }
}
