//! The CLI's own documentation: shell completions that the shells accept (`bash -n`, `zsh -n`,
//! `fish -n`; `scripts/test` installs zsh and fish), manual pages, examples at the end of every
//! subcommand's help, and `irsa healthcheck`'s exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::process::{Command, Output, Stdio};

fn irsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `SHELL -n FILE` on a completion script; the shell must be installed.
fn syntax_check(shell: &str, script: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("irsa.{shell}"));
    std::fs::write(&file, script).unwrap();
    let out = Command::new(shell)
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell} ({e}): install it (./scripts/test does)"));
    assert!(
        out.status.success(),
        "{shell} -n rejects the completion script:\n{}",
        text(&out.stderr)
    );
}

#[test]
fn completion_scripts_pass_their_shells_syntax_check() {
    for shell in ["bash", "zsh", "fish"] {
        let out = irsa(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        // Nested subcommands and flags are in it.
        assert!(script.contains("validate") && script.contains("ephemeral"), "{shell}");
        syntax_check(shell, &out.stdout);
    }
    let bad = irsa(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_prints_a_page_and_writes_one_per_subcommand() {
    let out = irsa(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(".TH irsa 1"), "{page}");
    assert!(page.contains("policy") && page.contains("healthcheck"));

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = irsa(&["man", "--out", pages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for want in [
        "irsa.1",
        "irsa-policy-validate.1",
        "irsa-server.1",
        "irsa-profile-controller.1",
        "irsa-webhook-mutate.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let validate = std::fs::read_to_string(pages.join("irsa-policy-validate.1")).unwrap();
    assert!(validate.contains(".TH irsa\\-policy\\-validate 1") || validate.contains(".TH irsa-policy-validate 1"));
    assert!(validate.contains("Examples:"), "{validate}");
}

/// The subcommands `irsa WORDS --help` lists under `Commands:` (without `help`).
fn subcommands(words: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
    args.push("--help");
    let out = irsa(&args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    let help = text(&out.stdout);
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A command's line is indented by two; a wrapped description line, further.
        .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn every_subcommands_help_ends_with_examples() {
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = 0;
    while let Some(words) = todo.pop() {
        for sub in subcommands(&words) {
            let mut path = words.clone();
            path.push(sub);
            todo.push(path);
        }
        for flag in ["-h", "--help"] {
            let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
            args.push(flag);
            let out = irsa(&args);
            let help = text(&out.stdout);
            let (_, examples) = help
                .rsplit_once("Examples:\n")
                .unwrap_or_else(|| panic!("`irsa {}` has no Examples section:\n{help}", args.join(" ")));
            // Two or three commands, after everything else.
            let commands = examples.lines().filter(|l| l.trim_start().starts_with("irsa ")).count()
                + examples.lines().filter(|l| l.contains("| irsa ")).count();
            assert!(
                (2..=3).contains(&commands),
                "`irsa {}`: {commands} example commands:\n{examples}",
                args.join(" ")
            );
            assert!(
                examples.lines().all(|l| l.is_empty() || l.starts_with("  ")),
                "`irsa {}`: the examples are not the end of the help:\n{examples}",
                args.join(" ")
            );
        }
        seen += 1;
    }
    // The root, 15 top-level commands and 12 nested ones (as many as `irsa man --out` pages).
    assert!(seen >= 28, "only {seen} commands found");
}

/// One HTTP answer with `status` to the first connection, on a free port.
fn answer_once(status: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    port
}

#[test]
fn healthcheck_exits_0_on_2xx_and_1_with_one_line_otherwise() {
    let port = answer_once("200 OK");
    let ok = irsa(&["healthcheck", "--url", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(ok.stdout.is_empty() && ok.stderr.is_empty());

    let port = answer_once("503 Service Unavailable");
    let url = format!("http://127.0.0.1:{port}/readyz");
    let down = irsa(&["healthcheck", "--url", &url]);
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(
        text(&down.stderr),
        format!("irsa healthcheck: {url}: HTTP 503 Service Unavailable\n")
    );

    // Nothing listening; a listener that never answers (short timeout); not a URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://127.0.0.1:{}/", silent.local_addr().unwrap().port());
    let refused_url = format!("http://127.0.0.1:{closed_port}/");
    for (args, expected) in [
        (vec!["--url", refused_url.as_str()], "refused"),
        (
            vec!["--url", silent_url.as_str(), "--timeout", "0.3"],
            "no answer within 0.3 s",
        ),
        (vec!["--url", "not a url"], "not a usable URL"),
        (
            vec!["--url", refused_url.as_str(), "--timeout", "0"],
            "--timeout must be",
        ),
    ] {
        let mut all = vec!["healthcheck"];
        all.extend(args.iter().copied());
        let out = irsa(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("irsa healthcheck: ") && err.contains(expected),
            "{args:?}: {err}"
        );
    }
    drop(silent);
}
