//! Config-file watching for `--watch-container-credentials-config`.
//!
//! Upstream reacts to fsnotify events carrying the file's own name only, so a file mounted from a
//! ConfigMap or Secret volume (updated by swapping the `..data` symlink) was never reloaded. Here
//! the file is re-read by path on a short interval and compared by content: symlink swaps,
//! in-place writes, renames and deletions are all seen.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::sources::{ContainerCredentials, SourceError};
use crate::store::IdentityStore;

/// Default polling interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Errors loading the file.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Reading failed for a reason other than "not found".
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The content is malformed.
    #[error("{path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        source: SourceError,
    },
}

/// Reads the file; a missing file is `Ok(None)`.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WatchError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WatchError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Parses file content (missing ⇒ no identities, as upstream).
pub fn parse_container_credentials(path: &Path, content: Option<&[u8]>) -> Result<ContainerCredentials, WatchError> {
    let Some(bytes) = content else {
        return Ok(ContainerCredentials::default());
    };
    let text = String::from_utf8_lossy(bytes);
    ContainerCredentials::parse(&text).map_err(|source| WatchError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Polls the Pod Identity file into the store. The first check happens immediately. Malformed
/// content keeps the previous associations (logged once per distinct content).
pub async fn watch_container_credentials(path: PathBuf, store: Arc<IdentityStore>, interval: Duration) {
    let mut last: Option<Option<Vec<u8>>> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(changed) = poll_once(&path, &store, &mut last) {
            tracing::info!(path = %path.display(), identities = changed, "pod identity associations reloaded");
        }
    }
}

/// One polling step; returns the new association count when the store was updated.
pub fn poll_once(path: &Path, store: &IdentityStore, last: &mut Option<Option<Vec<u8>>>) -> Option<usize> {
    let content = match read_optional(path) {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%error, "pod identity associations not reloaded");
            return None;
        }
    };
    if last.as_ref() == Some(&content) {
        return None;
    }
    let result = parse_container_credentials(path, content.as_deref());
    *last = Some(content);
    match result {
        Ok(creds) => {
            let n = creds.len();
            store.set_container_credentials(Some(creds));
            Some(n)
        }
        Err(error) => {
            tracing::error!(%error, "invalid pod identity associations; keeping the previous ones");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_on_content_change_and_symlink_swap() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdentityStore::new();
        let mut last = None;
        let file = dir.path().join("config.json");
        // Missing ⇒ empty.
        assert_eq!(poll_once(&file, &store, &mut last), Some(0));
        assert_eq!(poll_once(&file, &store, &mut last), None);

        // Kubernetes-style volume: config.json -> ..data/config.json, ..data -> ..v1
        let v1 = dir.path().join("..v1");
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(
            v1.join("config.json"),
            r#"{"identities":[{"namespace":"a","serviceAccount":"b"}]}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("..v1", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.json", &file).unwrap();
        assert_eq!(poll_once(&file, &store, &mut last), Some(1));
        assert!(store.container_credentials().unwrap().contains("a", "b"));

        // Swap ..data to ..v2.
        let v2 = dir.path().join("..v2");
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(
            v2.join("config.json"),
            r#"{"identities":[{"namespace":"c","serviceAccount":"d"},{"namespace":"e","serviceAccount":"f"}]}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("..v2", dir.path().join("..data_tmp")).unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
        assert_eq!(poll_once(&file, &store, &mut last), Some(2));
        assert!(!store.container_credentials().unwrap().contains("a", "b"));

        // Malformed ⇒ previous kept.
        std::fs::write(v2.join("config.json"), "{").unwrap();
        assert_eq!(poll_once(&file, &store, &mut last), None);
        assert!(store.container_credentials().unwrap().contains("c", "d"));
    }
}
