//! Events about Profiles (`events.k8s.io/v1`), visible in `kubectl describe profile`.
//!
//! kube-runtime's `Recorder` creates an Event in the namespace of the object it is about, and
//! in `default` for cluster-scoped objects. The API server validates that namespace: for an
//! object without a namespace, the Event must live in `kube-system` (kube-apiserver 1.20 and
//! later accept exactly that; newer ones also `default`), so every Event about a Profile, which
//! is cluster-scoped, was refused. This publisher chooses the namespace the API requires, keeps
//! the reference namespace-free, and folds repeats into a series as client-go does, so a
//! warning repeated by each retry does not become one Event per retry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::Mutex;

/// Where Events about cluster-scoped objects go: the one namespace every API server version
/// accepts for them.
pub const CLUSTER_SCOPED_EVENT_NAMESPACE: &str = "kube-system";

/// How long a published Event is remembered for folding repeats into its series (client-go
/// uses the same order of magnitude).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// The namespace an Event about `regarding` must be created in.
pub fn event_namespace(regarding: &ObjectReference) -> &str {
    match regarding.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns,
        _ => CLUSTER_SCOPED_EVENT_NAMESPACE,
    }
}

/// Who publishes.
#[derive(Debug, Clone)]
pub struct Reporter {
    /// `reportingController`, e.g. `irsa-profile-controller`.
    pub controller: String,
    /// `reportingInstance`: the pod name, else the controller name.
    pub instance: String,
}

/// What happened, as the publisher is told.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    /// A warning (else normal).
    pub warning: bool,
    /// CamelCase reason, e.g. `Trusted`.
    pub reason: String,
    /// `action`, e.g. `Reconcile`.
    pub action: String,
    /// The human-readable note.
    pub note: String,
}

/// A new Event about `regarding` (pure): its name is unique per publication.
pub fn new_event(
    reporter: &Reporter,
    regarding: &ObjectReference,
    note: &Note,
    now: k8s_openapi::jiff::Timestamp,
) -> Event {
    let base = regarding.name.as_deref().unwrap_or(&reporter.controller);
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{base}.{:x}", now.as_nanosecond())),
            namespace: Some(event_namespace(regarding).to_owned()),
            ..ObjectMeta::default()
        },
        action: Some(note.action.clone()),
        reason: Some(note.reason.clone()),
        note: Some(truncate_note(&note.note)),
        type_: Some(if note.warning { "Warning" } else { "Normal" }.to_owned()),
        regarding: Some(regarding.clone()),
        event_time: Some(MicroTime(now)),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(reporter.instance.clone()),
        ..Event::default()
    }
}

/// The API refuses notes over 1 KiB.
fn truncate_note(note: &str) -> String {
    const MAX: usize = 1024;
    if note.len() <= MAX {
        return note.to_owned();
    }
    let mut end = MAX - 3;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &note[..end])
}

#[derive(Debug)]
struct Published {
    name: String,
    namespace: String,
    count: i32,
    at: Instant,
}

/// Publishes Events, folding a repeat of the same note about the same object within a few
/// minutes into the first Event's series.
pub struct Publisher {
    client: Client,
    reporter: Reporter,
    recent: Mutex<HashMap<(String, Note), Published>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher reporting as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Publisher {
            client,
            reporter,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes `note` about `regarding`.
    pub async fn publish(&self, regarding: &ObjectReference, note: Note) -> Result<(), kube::Error> {
        let key_object = regarding
            .uid
            .clone()
            .or_else(|| regarding.name.clone())
            .unwrap_or_default();
        let key = (key_object, note);
        let mut recent = self.recent.lock().await;
        recent.retain(|_, p| p.at.elapsed() < SERIES_WINDOW);
        let now = k8s_openapi::jiff::Timestamp::now();
        if let Some(seen) = recent.get_mut(&key) {
            let count = seen.count + 1;
            let api: Api<Event> = Api::namespaced(self.client.clone(), &seen.namespace);
            let patch = serde_json::json!({"series": EventSeries { count, last_observed_time: MicroTime(now) }});
            match api
                .patch(&seen.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    seen.count = count;
                    return Ok(());
                }
                // Gone (expired by the API server's TTL): start a new one.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = new_event(&self.reporter, regarding, &key.1, now);
        let namespace = event_namespace(regarding).to_owned();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let created = api.create(&PostParams::default(), &event).await?;
        let name = created.metadata.name.or(event.metadata.name).unwrap_or_default();
        recent.insert(
            key,
            Published {
                name,
                namespace,
                count: 1,
                at: Instant::now(),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reference(namespace: Option<&str>) -> ObjectReference {
        ObjectReference {
            api_version: Some("kubeflow.org/v1".into()),
            kind: Some("Profile".into()),
            name: Some("team-a".into()),
            namespace: namespace.map(str::to_owned),
            uid: Some("u-1".into()),
            ..ObjectReference::default()
        }
    }

    fn reporter() -> Reporter {
        Reporter {
            controller: "irsa-profile-controller".into(),
            instance: "pod-1".into(),
        }
    }

    #[test]
    fn cluster_scoped_objects_get_events_in_kube_system_with_a_namespace_free_reference() {
        let note = Note {
            warning: true,
            reason: "TrustEditFailed".into(),
            action: "Reconcile".into(),
            note: "x".into(),
        };
        let now = k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let e = new_event(&reporter(), &reference(None), &note, now);
        assert_eq!(e.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(e.regarding.as_ref().unwrap().namespace, None);
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert!(e.metadata.name.as_deref().unwrap().starts_with("team-a."));
        assert_eq!(e.reporting_instance.as_deref(), Some("pod-1"));
        // An empty namespace is cluster-scoped too.
        assert_eq!(event_namespace(&reference(Some(""))), "kube-system");
        assert_eq!(event_namespace(&reference(Some("team-a"))), "team-a");
    }

    #[test]
    fn long_notes_are_cut_at_a_char_boundary() {
        let long = "é".repeat(800);
        let cut = truncate_note(&long);
        assert!(cut.len() <= 1024 && cut.ends_with("..."), "{}", cut.len());
        assert_eq!(truncate_note("short"), "short");
    }
}
