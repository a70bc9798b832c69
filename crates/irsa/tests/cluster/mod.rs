//! What the real-cluster tests share: `irsa` processes with their logs, a kube-rs client for
//! the throwaway kube-apiserver, server-side apply of manifests as shipped, irsa's STS + IAM as
//! a process with the AWS CLI, and polling with a deadline.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use irsa_testkit::{KubeApiServer, free_port, venv_tool, wait_for_port};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use serde_json::Value;

/// The workspace root (manifests under `deploy/`).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An `irsa` process, killed on drop; its output goes to a log file, printed when a test fails.
pub struct Proc {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Proc {
    /// Starts `irsa ARGS` with `envs`, logging to `dir/NAME.log`.
    pub fn irsa(dir: &Path, name: &str, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_irsa"));
        command
            .args(args)
            .current_dir(dir)
            .env("IRSA_LOG", "info")
            .env_remove("AWS_PROFILE")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in envs {
            command.env(k, v);
        }
        Proc {
            child: command.spawn().unwrap(),
            name: name.to_owned(),
            log,
        }
    }

    /// Kills it now (SIGKILL, as a crashed pod).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- {} log (last 40 lines) ---\n{}",
                self.name,
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}

/// A kube-rs client for the API server's admin.
pub async fn client(api: &KubeApiServer) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(&api.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics after `timeout` saying `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The documents of a multi-document YAML file, as JSON.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Server-side applies every document (`dry_run`: validated and admitted by the API server,
/// nothing stored), in `namespace` where a namespaced document names none. Each document's
/// kind must be served; errors name the document.
pub async fn apply_documents(
    client: &kube::Client,
    docs: &[Value],
    namespace: Option<&str>,
    dry_run: bool,
) -> Result<(), String> {
    let discovery = Discovery::new(client.clone()).run().await.map_err(|e| e.to_string())?;
    for doc in docs {
        let obj: DynamicObject = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
        let types = obj.types.clone().ok_or("a document without apiVersion/kind")?;
        let (group, version) = match types.api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), types.api_version.clone()),
        };
        let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &types.kind);
        let name = obj.metadata.name.clone().unwrap_or_default();
        let (resource, caps): (ApiResource, ApiCapabilities) = discovery
            .resolve_gvk(&gvk)
            .ok_or_else(|| format!("{} {name}: kind not served", types.kind))?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => {
                let ns = obj.metadata.namespace.as_deref().or(namespace).unwrap_or("default");
                Api::namespaced_with(client.clone(), ns, &resource)
            }
        };
        let mut params = PatchParams::apply("irsa-tests").force();
        params.dry_run = dry_run;
        api.patch(&name, &params, &Patch::Apply(doc))
            .await
            .map_err(|e| format!("{} {name}: {e}", types.kind))?;
    }
    Ok(())
}

/// Applies the profile controller's CRD as shipped and waits until it is established.
pub async fn install_profile_crd(client: &kube::Client) {
    let text = std::fs::read_to_string(workspace().join("deploy/profile-controller/crd.yaml")).unwrap();
    apply_documents(client, &yaml_documents(&text), None, false)
        .await
        .unwrap();
    wait_established(client, "profiles.kubeflow.org").await;
}

/// Installs a minimal CRD for Istio's `AuthorizationPolicy` (what the controller applies).
pub async fn install_istio_authorization_policy_crd(client: &kube::Client) {
    let crd = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "authorizationpolicies.security.istio.io"},
        "spec": {
            "group": "security.istio.io",
            "names": {"kind": "AuthorizationPolicy", "plural": "authorizationpolicies", "singular": "authorizationpolicy"},
            "scope": "Namespaced",
            "versions": [{"name": "v1beta1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    apply_documents(client, &[crd], None, false).await.unwrap();
    wait_established(client, "authorizationpolicies.security.istio.io").await;
}

async fn wait_established(client: &kube::Client, name: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_for(&format!("CRD {name} established"), Duration::from_secs(30), || async {
        let crd = crds.get_opt(name).await.ok().flatten()?;
        crd.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    })
    .await;
}

/// Creates a namespace (the API server has no controller manager: it is never finalized).
pub async fn create_namespace(client: &kube::Client, name: &str, labels: &[(&str, &str)]) {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}});
    apply_documents(client, &[ns], None, false).await.unwrap();
}

pub const ROOT_KEY_ID: &str = "AKIAIRSATESTROOT0001";
pub const ROOT_SECRET: &str = "irsa-test-root-secret-access-key-0000000";
pub const ACCOUNT: &str = "111122223333";

/// irsa's STS + IAM as a process (`irsa server`), trusting the API server's CA for issuer
/// fetches, with root credentials the tests know.
pub struct Iam {
    pub proc: Proc,
    pub endpoint: String,
    dir: PathBuf,
}

impl Iam {
    /// Starts it in `dir` (its data under `dir/iam`) and waits until it listens.
    pub fn start(dir: &Path, api: &KubeApiServer) -> Iam {
        let ca = dir.join("cluster-ca.pem");
        std::fs::write(&ca, &api.ca_pem).unwrap();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let proc = Proc::irsa(
            dir,
            "irsa-server",
            &[
                "server",
                "--listen",
                &listen,
                "--data-dir",
                "iam",
                "--account-id",
                ACCOUNT,
                "--root-access-key-id",
                ROOT_KEY_ID,
                "--root-secret-access-key",
                ROOT_SECRET,
                "--oidc-ca-file",
                ca.to_str().unwrap(),
                // The API server's issuer has a port, which AWS refuses; irsa accepts it for
                // local issuers only.
                "--allow-http-issuers",
            ],
            &[],
        );
        wait_for_port(port, Duration::from_secs(30));
        Iam {
            proc,
            endpoint: format!("http://{listen}"),
            dir: dir.to_owned(),
        }
    }

    /// The environment an AWS client needs to act as the root user here.
    pub fn root_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ROOT_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", ROOT_SECRET.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_CONFIG_FILE", self.dir.join("no-aws-config").display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.join("no-aws-credentials").display().to_string(),
            ),
        ]
    }

    /// The AWS CLI as root.
    pub fn aws(&self, args: &[&str]) -> Output {
        self.aws_with(args, &[])
    }

    /// The AWS CLI with `env` over the root environment (an empty value removes a variable).
    pub fn aws_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(venv_tool("aws"));
        command.args(args).current_dir(&self.dir).env_remove("AWS_PROFILE");
        for (k, v) in self.root_env() {
            command.env(k, v);
        }
        for (k, v) in env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        command.output().unwrap()
    }

    /// The AWS CLI as root; panics with its output unless it succeeds; its stdout.
    pub fn aws_ok(&self, args: &[&str]) -> String {
        ok(self.aws(args))
    }

    /// Registers the API server's issuer and creates `roles`, each trusting only EC2 for now.
    pub fn register_cluster(&self, api: &KubeApiServer, roles: &[&str]) {
        self.aws_ok(&[
            "iam",
            "create-open-id-connect-provider",
            "--url",
            api.issuer(),
            "--client-id-list",
            "sts.amazonaws.com",
            "--thumbprint-list",
            "9e99a48a9960b14926bb7f3b02e22da2b0ab7280",
        ]);
        for role in roles {
            self.aws_ok(&[
                "iam",
                "create-role",
                "--role-name",
                role,
                "--assume-role-policy-document",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            ]);
        }
    }

    /// A role's trust policy as IAM returns it.
    pub fn trust_policy(&self, role: &str) -> Value {
        let out = self.aws_ok(&["iam", "get-role", "--role-name", role]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["Role"]["AssumeRolePolicyDocument"].clone()
    }
}

/// The role's ARN in the test account.
pub fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{role}")
}

/// `system:serviceaccount:NS:SA`.
pub fn subject(ns: &str, sa: &str) -> String {
    format!("system:serviceaccount:{ns}:{sa}")
}

/// stdout of a successful command; panics with both streams otherwise.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether every field of `expected` is in `actual` with the same value: objects may have more
/// keys in `actual` (the API server's defaults), arrays must have the same length.
pub fn subset(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let here = format!("{path}/{k}");
                subset(v, a.get(k).ok_or_else(|| format!("{here} is missing"))?, &here)?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: {} items, expected {}: {actual}", a.len(), e.len()));
            }
            for (i, (e, a)) in e.iter().zip(a).enumerate() {
                subset(e, a, &format!("{path}/{i}"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: {actual}, expected {expected}")),
    }
}

/// The Profiles of the cluster (`kubeflow.org/v1`).
pub fn profiles(client: &kube::Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("kubeflow.org", "v1", "Profile"),
        "profiles",
    );
    Api::all_with(client.clone(), &resource)
}

/// Profile `name` owned by `name@example.com`, with the AWS plugin naming `role`.
pub fn profile(name: &str, role: &str) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name},
        "spec": {"owner": {"kind": "User", "name": format!("{name}@example.com")},
                 "plugins": [{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": role_arn(role)}}]}
    }))
    .unwrap()
}

/// The controller as a process, as a Deployment would run it.
pub fn profile_controller(dir: &std::path::Path, api: &KubeApiServer, iam: &Iam, name: &str) -> (Proc, u16) {
    let metrics = free_port();
    let labels = workspace().join("deploy/profile-controller/namespace-labels.yaml");
    let mut env: Vec<(&str, String)> = iam.root_env();
    env.push(("POD_NAME", name.to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let proc = Proc::irsa(
        dir,
        name,
        &[
            "profile-controller",
            "--kubeconfig",
            api.kubeconfig.to_str().unwrap(),
            "--endpoint-url",
            &iam.endpoint,
            "--oidc-issuer",
            api.issuer(),
            "--namespace-labels-path",
            labels.to_str().unwrap(),
            "--metrics-bind-address",
            &format!("127.0.0.1:{metrics}"),
            "--leader-elect",
            "--leader-election-namespace",
            "kubeflow",
            "--iam-qps",
            "50",
        ],
        &env,
    );
    (proc, metrics)
}
