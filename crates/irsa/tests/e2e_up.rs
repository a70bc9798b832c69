//! `irsa up` end to end, with unmodified AWS clients: a profile's env file is
//! all the AWS CLI, boto3 and aws-sdk-rust (`irsa whoami`) need; another
//! profile's service account cannot assume that profile's role; Ctrl-C stops
//! cleanly; a second start reuses the state; a Profile dropped from the
//! configuration loses its trust and its token directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_testkit::{free_port, venv_tool};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `irsa up`; killed if the test fails before stopping it.
struct Up {
    child: Child,
    stdout: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `irsa up` and waits for its "ready" line (everything it printed until then is kept).
fn start(dir: &Path, port: u16, extra: &[&str]) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .arg("up")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                if line == "irsa up: ready" {
                    break;
                }
            }
            Err(e) => panic!("irsa up did not get ready ({e}); it printed:\n{out}"),
        }
    }
    // Keep draining, so the process never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Up { child, stdout: out }
}

/// Ctrl-C, and the exit status.
fn interrupt(mut up: Up) -> std::process::ExitStatus {
    let pid = up.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    for _ in 0..200 {
        if let Some(status) = up.child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("irsa up did not stop on SIGINT");
}

/// The dotenv lines of an env file.
fn env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

/// A command with nothing of the caller's AWS configuration, only `env`.
fn with_env(program: impl AsRef<std::ffi::OsStr>, env: &BTreeMap<String, String>, scratch: &Path) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("AWS_CONFIG_FILE", scratch.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", scratch.join("no-credentials"))
        .envs(env);
    c
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn caller_arn(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["Arn"].as_str().unwrap().to_owned()
}

const BOTO3: &str = r#"
import boto3
sts = boto3.client("sts")
who = sts.get_caller_identity()
print(who["Arn"])
print(who["UserId"])
"#;

fn profile_dir(dir: &Path, ns: &str, sa: &str) -> PathBuf {
    dir.join("profiles").join(ns).join(sa)
}

#[test]
fn irsa_up_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let scratch = tmp.path();
    let port = free_port();
    let aws = venv_tool("aws");
    let python = venv_tool("python");

    let up = start(&dir, port, &[]);
    assert!(
        up.stdout
            .contains("create    role kf-user-local trusting system:serviceaccount:kubeflow:kf-user"),
        "{}",
        up.stdout
    );
    assert!(up.stdout.contains("profile team-b: created role"), "{}", up.stdout);
    let team_a = profile_dir(&dir, "team-a", "default-editor");
    let team_b = profile_dir(&dir, "team-b", "default-editor");
    assert!(
        up.stdout.contains(&format!(
            "(set -a; . {}; aws sts get-caller-identity)",
            team_a.join("env").display()
        )),
        "{}",
        up.stdout
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the data directory is owner-only");
    }

    // The env file is the contract.
    let env_a = env_file(&team_a.join("env"));
    let endpoint = format!("http://127.0.0.1:{port}");
    assert_eq!(env_a["AWS_ROLE_ARN"], "arn:aws:iam::000000000000:role/kf-user-local");
    assert_eq!(
        Path::new(&env_a["AWS_WEB_IDENTITY_TOKEN_FILE"]),
        team_a.join("token").canonicalize().unwrap()
    );
    assert_eq!(env_a["AWS_ENDPOINT_URL_STS"], endpoint);
    assert_eq!(env_a["AWS_ENDPOINT_URL_IAM"], endpoint);
    assert_eq!(env_a["AWS_REGION"], "us-east-1");

    // The token is what a kubelet would project for team-a's default-editor.
    let token = std::fs::read_to_string(team_a.join("token")).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], format!("{endpoint}/clusters/local"));
    assert_eq!(claims["sub"], "system:serviceaccount:team-a:default-editor");
    assert_eq!(claims["aud"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);

    // The AWS CLI, boto3 and aws-sdk-rust get team-a's role from the env file alone.
    let cli = ok(&with_env(&aws, &env_a, scratch)
        .args(["sts", "get-caller-identity", "--output", "json"])
        .output()
        .unwrap());
    let arn = caller_arn(&cli);
    assert!(
        arn.starts_with("arn:aws:sts::000000000000:assumed-role/kf-user-local/botocore-session-"),
        "{arn}"
    );
    let boto = ok(&with_env(&python, &env_a, scratch).args(["-c", BOTO3]).output().unwrap());
    let mut lines = boto.lines();
    let (boto_arn, user_id) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        boto_arn.starts_with("arn:aws:sts::000000000000:assumed-role/kf-user-local/"),
        "{boto}"
    );
    let session = boto_arn.rsplit('/').next().unwrap();
    assert!(
        user_id.starts_with("AROA") && user_id.ends_with(&format!(":{session}")),
        "{boto}"
    );
    let env_b = env_file(&team_b.join("env"));
    let rust = ok(&with_env(env!("CARGO_BIN_EXE_irsa"), &env_b, scratch)
        .arg("whoami")
        .output()
        .unwrap());
    assert!(
        caller_arn(&rust).starts_with("arn:aws:sts::000000000000:assumed-role/kf-profile-team-b/"),
        "{rust}"
    );

    // team-b's service account cannot assume team-a's role, and is told why.
    let mut b_as_a = env_b.clone();
    b_as_a.insert("AWS_ROLE_ARN".into(), env_a["AWS_ROLE_ARN"].clone());
    let denied = with_env(&aws, &b_as_a, scratch)
        .args(["sts", "get-caller-identity"])
        .output()
        .unwrap();
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(err.contains("system:serviceaccount:team-b:default-editor"), "{err}");
    // `irsa whoami` says so in one line: STS's code and reason, no SDK log lines.
    let denied = with_env(env!("CARGO_BIN_EXE_irsa"), &b_as_a, scratch)
        .arg("whoami")
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(2));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot get credentials: AssumeRoleWithWebIdentity: AccessDenied")
            && err.contains("system:serviceaccount:team-b:default-editor"),
        "{err}"
    );
    // Nor team-a's team-b's.
    let mut a_as_b = env_a.clone();
    a_as_b.insert("AWS_ROLE_ARN".into(), env_b["AWS_ROLE_ARN"].clone());
    let denied = with_env(&aws, &a_as_b, scratch)
        .args(["sts", "get-caller-identity"])
        .output()
        .unwrap();
    assert!(!denied.status.success());

    // A second `irsa up` on the same state is refused with a reason, and breaks nothing.
    let second = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .arg("up")
        .arg("--data-dir")
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("locked"), "{err}");

    let root_key = std::fs::read_to_string(dir.join("root-credentials")).unwrap();
    assert!(interrupt(up).success(), "Ctrl-C is a clean stop");

    // Tokens are re-minted before they expire (here every second instead of at 80% of an hour).
    let up = start(&dir, port, &["--token-refresh", "1"]);
    let first = std::fs::read_to_string(team_a.join("token")).unwrap();
    let mut refreshed = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let now = std::fs::read_to_string(team_a.join("token")).unwrap();
        assert!(now.split('.').count() == 3, "a reader never sees a partial token");
        if now != first {
            refreshed = true;
            break;
        }
    }
    assert!(refreshed, "the token was not refreshed");
    ok(&with_env(&aws, &env_a, scratch)
        .args(["sts", "get-caller-identity"])
        .output()
        .unwrap());
    assert!(interrupt(up).success());

    // Restart without team-b: everything else is reused, team-b's trust and files go.
    let only_a = scratch.join("only-team-a.yaml");
    std::fs::write(
        &only_a,
        "apiVersion: kubeflow.org/v1\nkind: Profile\nmetadata: {name: team-a}\nspec:\n  owner: {kind: User, name: alice@example.com}\n  plugins:\n  - kind: AwsIamForServiceAccount\n    spec: {awsIamRole: 'arn:aws:iam::000000000000:role/kf-user-local'}\n",
    )
    .unwrap();
    let old_b_token = std::fs::read_to_string(team_b.join("token")).unwrap();
    let up = start(&dir, port, &["--config", only_a.to_str().unwrap()]);
    assert!(up.stdout.contains("unchanged OIDC provider"), "{}", up.stdout);
    assert!(
        up.stdout.contains("unchanged role kf-user-local trust"),
        "{}",
        up.stdout
    );
    assert!(up.stdout.contains("profile team-a: unchanged"), "{}", up.stdout);
    assert!(up.stdout.contains("profile team-b: removed"), "{}", up.stdout);
    assert!(!team_b.exists(), "team-b's token directory is gone");
    assert_eq!(std::fs::read_to_string(dir.join("root-credentials")).unwrap(), root_key);
    ok(&with_env(&aws, &env_a, scratch)
        .args(["sts", "get-caller-identity"])
        .output()
        .unwrap());
    // team-b's last token is still signed by the issuer, but its role no longer trusts it.
    let kept = scratch.join("old-b-token");
    std::fs::write(&kept, old_b_token).unwrap();
    let mut revoked = env_b.clone();
    revoked.insert(
        "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
        kept.to_string_lossy().into_owned(),
    );
    let denied = with_env(&aws, &revoked, scratch)
        .args(["sts", "get-caller-identity"])
        .output()
        .unwrap();
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("AccessDenied"));
    assert!(interrupt(up).success());
}

#[test]
fn irsa_up_refuses_bad_input_before_starting() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_irsa"))
            .arg("up")
            .arg("--data-dir")
            .arg(tmp.path().join("state"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("fixed port"));
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "kind: Profile\napiVersion: kubeflow.org/v1\nmetadata: {name: Team_A}\nspec: {}\n",
    )
    .unwrap();
    let o = run(&["--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Team_A"), "{err}");
    let o = run(&["--token-ttl", "60"]);
    assert_eq!(o.status.code(), Some(2));
    // Port taken: a clear error, not a hang.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = run(&["--listen", &addr]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&addr), "{err}");
    assert!(
        !tmp.path().join("state/profiles").exists(),
        "nothing projected for a failed start"
    );
}
