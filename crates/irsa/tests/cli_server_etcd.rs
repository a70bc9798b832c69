//! `irsa server` on etcd from the command line: it starts on the flags (or the config file's
//! keys, TLS included) and answers `GET /healthz`; bad etcd settings and an unreachable etcd end
//! it at once with one line and exit status 2. Each test starts its own `etcd` (Debian's
//! etcd-server, installed by `scripts/test`); without it they fail, on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irsa_testkit::{EtcdServer, Pki, free_port, http_get};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn irsa(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    Proc(
        Command::new(env!("CARGO_BIN_EXE_irsa"))
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

fn stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

/// Waits until the server on `port` answers `/healthz`; fails with its stderr if it exits.
fn wait_healthy(server: &mut Proc, dir: &Path, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("irsa server exited with {status}:\n{}", stderr(dir));
        }
        if let Ok((200, body)) = http_get(port, "/healthz") {
            let health: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!((&health["status"], &health["store"]), (&"ok".into(), &"etcd".into()));
            return;
        }
        assert!(Instant::now() < deadline, "no /healthz within 30 s:\n{}", stderr(dir));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The data dir holds the root credentials only: the embedded store was not opened.
fn assert_only_root_credentials(data: &Path) {
    let files: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, ["root-credentials"]);
}

#[test]
fn serves_on_etcd_from_flags() {
    let etcd = EtcdServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "server",
        "--listen",
        &listen,
        "--data-dir",
        "data",
        "--etcd-endpoints",
        &etcd.url,
        "--etcd-prefix",
        "cli/",
    ];
    let mut server = irsa(tmp.path(), &args, &[]);
    wait_healthy(&mut server, tmp.path(), port);
    let log = stderr(tmp.path());
    assert!(
        log.contains(&format!("store: etcd at {}, prefix \"cli/\"", etcd.url)),
        "{log}"
    );
    assert_only_root_credentials(&tmp.path().join("data"));
}

#[test]
fn serves_on_etcd_over_tls_from_the_config_file() {
    let pki = Pki::new();
    let etcd = EtcdServer::start_tls(&pki);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(d.join("client.pem"), &pki.client_cert_pem).unwrap();
    std::fs::write(d.join("client-key.pem"), &pki.client_key_pem).unwrap();
    let port = free_port();
    let config = format!(
        "listen: 127.0.0.1:{port}\ndata-dir: data\netcd-endpoints:\n  - {}\netcd-ca-file: ca.pem\n\
         etcd-cert-file: client.pem\netcd-key-file: client-key.pem\n",
        etcd.url
    );
    std::fs::write(d.join("irsa.yaml"), config).unwrap();
    let mut server = irsa(d, &["server", "--config", "irsa.yaml"], &[]);
    wait_healthy(&mut server, d, port);
    let log = stderr(d);
    assert!(log.contains("TLS with a client certificate"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    assert_only_root_credentials(&d.join("data"));
}

/// Flags, environment, and what the one line of error must say.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_etcd_settings_and_an_unreachable_etcd_fail_at_once_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("not-a-cert.pem"), "hello").unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cases: &[Case<'_>] = &[
        (
            &["--etcd-endpoints", "127.0.0.1:2379"],
            &[],
            "etcd endpoint `127.0.0.1:2379` must be an http:// or https:// URL",
        ),
        (
            &["--etcd-endpoints", "https://127.0.0.1:2379"],
            &[],
            "https:// etcd endpoints need --etcd-ca-file",
        ),
        (
            &[],
            &[
                ("IRSA_ETCD_ENDPOINTS", "https://127.0.0.1:2379"),
                ("IRSA_ETCD_CA_FILE", "missing.pem"),
            ],
            "--etcd-ca-file: cannot read `missing.pem`",
        ),
        (
            &[
                "--etcd-endpoints",
                "https://127.0.0.1:2379",
                "--etcd-ca-file",
                "not-a-cert.pem",
            ],
            &[],
            "`not-a-cert.pem` holds no PEM certificate",
        ),
        (
            &["--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-cert-file", "c.pem"],
            &[],
            "give both --etcd-cert-file and --etcd-key-file, or neither",
        ),
        (
            &["--etcd-endpoints", &closed],
            &[],
            &format!("store backend unavailable: etcd at {closed}"),
        ),
    ];
    for (args, env, expected) in cases {
        let mut all = vec!["server", "--listen", "127.0.0.1:0", "--data-dir", "data"];
        all.extend_from_slice(args);
        let started = Instant::now();
        let mut server = irsa(d, &all, env);
        let status = loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                break status;
            }
            // The store's connect timeout is 5 s and its request timeout 10 s.
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{args:?}: still running after 20 s:\n{}",
                stderr(d)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = stderr(d);
        assert_eq!(status.code(), Some(2), "{args:?} {env:?}:\n{log}");
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?} {env:?}: one line expected:\n{log}");
        assert!(lines[0].starts_with("irsa: error: "), "{log}");
        assert!(
            lines[0].contains(expected),
            "{args:?} {env:?}: expected {expected:?} in\n{log}"
        );
    }
}

/// With etcd gone, a request is a 500 `ServiceFailure` that tells the client nothing internal,
/// and the server logs one warning with the store's cause under the request id the client got.
#[test]
fn a_store_failure_is_logged_with_its_cause_and_the_request_id() {
    let mut etcd = EtcdServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "server",
        "--listen",
        &listen,
        "--data-dir",
        "data",
        "--etcd-endpoints",
        &etcd.url,
    ];
    let mut server = irsa(tmp.path(), &args, &[("IRSA_LOG", "info")]);
    wait_healthy(&mut server, tmp.path(), port);
    etcd.kill();
    let out = Command::new(irsa_testkit::venv_tool("aws"))
        .args(["iam", "get-role", "--role-name", "anything", "--debug"])
        .current_dir(tmp.path())
        .env("AWS_SHARED_CREDENTIALS_FILE", tmp.path().join("data/root-credentials"))
        .env("AWS_CONFIG_FILE", tmp.path().join("no-config"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", format!("http://{listen}"))
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let client = String::from_utf8_lossy(&out.stderr);
    assert!(client.contains("ServiceFailure"), "{client}");
    assert!(!client.contains(&etcd.url), "no internals reach the client: {client}");
    // The request id the client received (x-amzn-RequestId), in the server's warning with the cause.
    let rid = client
        .split("<RequestId>")
        .nth(1)
        .and_then(|s| s.split("</RequestId>").next())
        .expect("a RequestId in the error response")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = stderr(tmp.path());
        if let Some(line) = log.lines().find(|l| l.contains("request failed") && l.contains(&rid)) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no warning with request id {rid}:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("cause=") && line.contains("store:"), "{line}");
    assert!(line.contains("127.0.0.1"), "the cause names the etcd endpoint: {line}");
    assert_eq!(stderr(tmp.path()).matches(&rid).count(), 1, "logged once");
}
