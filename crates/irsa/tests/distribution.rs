//! What ships besides the code: the one container image (the root `Dockerfile` and
//! `.dockerignore`; there is no Docker engine here to build it, so this reads them for what they
//! must say), the manifests that run it under one image name set in one place, the license and
//! the package metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A Dockerfile's instructions (`KEYWORD`, arguments), continuation lines joined, comments and
/// parser directives dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.split_once(char::is_whitespace).unwrap_or((&current, ""));
                out.push((keyword.to_ascii_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_builds_the_one_binary_into_a_non_root_image() {
    let all = instructions(&read("Dockerfile"));
    let stages: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "a builder stage and a runtime stage: {all:?}");
    let (builder, runtime) = (&all[stages[0]..stages[1]], &all[*stages.last().unwrap()..]);
    assert!(
        builder[0].1.starts_with("rust:"),
        "the builder is a Rust image: {:?}",
        builder[0]
    );
    assert!(
        builder
            .iter()
            .any(|(k, a)| k == "RUN" && a.contains("cargo build --release --locked -p irsa")),
        "{builder:?}"
    );
    assert!(runtime[0].1.contains("distroless"), "{:?}", runtime[0]);

    let get = |keyword: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let user = get("USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage: {user:?}");
    let uid = user[0].split(':').next().unwrap();
    assert!(uid != "root" && uid != "0" && !uid.is_empty(), "non-root: {user:?}");
    assert!(
        get("EXPOSE")
            .iter()
            .any(|e| e.split_whitespace().any(|p| p == "4566" || p == "4566/tcp")),
        "EXPOSE 4566"
    );
    let entrypoint: Vec<String> = serde_json::from_str(get("ENTRYPOINT")[0]).expect("exec-form ENTRYPOINT");
    assert_eq!(Path::new(&entrypoint[0]).file_name().unwrap(), "irsa", "{entrypoint:?}");
    let health = get("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    let cmd = health[0].split_once("CMD ").expect("HEALTHCHECK CMD").1;
    let cmd: Vec<String> = serde_json::from_str(cmd).unwrap();
    assert_eq!(Path::new(&cmd[0]).file_name().unwrap(), "irsa");
    assert_eq!(cmd[1..3], ["healthcheck", "--url"]);
    assert!(cmd[3].ends_with(":4566/healthz"), "{cmd:?}");
    let default: Vec<String> = serde_json::from_str(get("CMD")[0]).unwrap();
    assert_eq!(default[0], "server");
    // The server listens where EXPOSE and HEALTHCHECK say.
    assert!(get("ENV").iter().any(|e| e.contains("IRSA_LISTEN=0.0.0.0:4566")));
}

#[test]
fn dockerignore_keeps_build_output_and_the_virtualenv_out() {
    let entries: Vec<String> = read(".dockerignore")
        .lines()
        .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["target", ".venv", ".git"] {
        assert!(
            entries.iter().any(|e| e == must),
            "{must} not in .dockerignore: {entries:?}"
        );
    }
}

/// Every file named `Dockerfile*` in the repository (outside build output).
fn dockerfiles(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | ".venv") {
                dockerfiles(&e.path(), out);
            }
        } else if name.starts_with("Dockerfile") {
            out.push(e.path());
        }
    }
}

#[test]
fn the_manifests_run_that_image_under_one_name_set_in_one_place() {
    let mut found = Vec::new();
    dockerfiles(&root(), &mut found);
    assert_eq!(found, [root().join("Dockerfile")], "one Dockerfile, at the root");

    let top = yaml("deploy/kustomization.yaml");
    let resources: Vec<&str> = top["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["webhook", "profile-controller"]);
    let images = top["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["name"], "irsa");
    assert!(images[0]["newName"].as_str().is_some_and(|n| !n.is_empty()));

    for component in resources {
        let k = yaml(&format!("deploy/{component}/kustomization.yaml"));
        assert!(
            k.get("images").is_none(),
            "deploy/{component} renames the image too: the top level would no longer match"
        );
        let d = yaml(&format!("deploy/{component}/deployment.yaml"));
        let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        for c in containers {
            assert_eq!(c["image"], "irsa", "deploy/{component}");
            let sub = c["args"][0].as_str().unwrap();
            assert!(
                ["webhook", "profile-controller"].contains(&sub),
                "deploy/{component} runs `irsa {sub}`"
            );
        }
        let security = &d["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "deploy/{component}");
    }
}

#[test]
fn the_license_and_every_crates_metadata_are_honest() {
    let license = read("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
    assert!(license.contains("END OF TERMS AND CONDITIONS"));
    assert!(license.lines().count() > 150, "the full text, not a pointer to it");

    let workspace = read("Cargo.toml");
    assert!(workspace.contains("license = \"Apache-2.0\""));
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("Cargo.toml"))
        .collect();
    manifests.push(root().join("Cargo.toml"));
    manifests.push(root().join("fuzz/Cargo.toml"));
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap();
        assert!(!text.contains("example.invalid"), "{}: a placeholder URL", m.display());
        if text.contains("[package]") {
            let description = text
                .lines()
                .find_map(|l| l.strip_prefix("description = \""))
                .unwrap_or_else(|| panic!("{} has no description", m.display()));
            assert!(description.len() > 20, "{}: {description}", m.display());
            assert!(
                text.contains("license.workspace = true") || text.contains("license = \"Apache-2.0\""),
                "{}",
                m.display()
            );
        }
    }
}

#[test]
fn the_release_profile_ships_a_stripped_binary() {
    let workspace = read("Cargo.toml");
    let release = workspace
        .split("[profile.release]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("[profile.release]");
    assert!(release.contains("strip = true"), "{release}");
    assert!(release.contains("debug = false"), "{release}");
    // Benchmarks inherit release but keep what profilers need.
    let bench = workspace.split("[profile.bench]").nth(1).expect("[profile.bench]");
    assert!(bench.contains("strip = \"none\"") && bench.contains("debug = \"line-tables-only\""));
}
