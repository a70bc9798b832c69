//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Reads every `*.yaml` file under `dir`, recursively, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    // Upstream's rawPodWithInitContainer has a duplicate key; Go's YAML decoder keeps the last.
    let options = serde_saphyr::Options {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        ..serde_saphyr::Options::default()
    };
    serde_saphyr::from_str_with_options(&text, options).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Removes Go-encoding artefacts so that pods can be compared semantically: `null` members,
/// and empty `resources: {}` objects.
pub fn normalize(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, v| !(v.is_null() || (k == "resources" && v == &Value::Object(Default::default()))));
            for v in map.values_mut() {
                normalize(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// The result must deserialise as a typed Kubernetes Pod.
pub fn assert_is_pod(v: &Value, what: &str) {
    if let Err(e) = serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(v.clone()) {
        panic!("{what}: result is not a valid k8s-openapi Pod: {e}\n{v:#}");
    }
}
