//! The deployment files (issue 16) against what they deploy: the Kubernetes manifests under deploy/kubernetes/ are
//! valid against the Kubernetes 1.30 strict JSON Schemas (fixtures/kubernetes/) and consistent with each other; the
//! command lines of the StatefulSet, the CronJob, the systemd units and the Dockerfile parse with the real `Cli`; the
//! shard of every StatefulSet pod is the one its ordinal names; the example job file is a valid job file whose
//! certificate and key are where the Secret puts them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use clap::Parser;
use o365sync::cli::{Cli, Command};
use o365sync::exec::cli::RunArgs;
use o365sync::exit::Outcome;
use o365sync::shard::Shard;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

// ---- Kubernetes manifests -------------------------------------------------------------------------------------------

/// One YAML document of a file under deploy/kubernetes/.
struct Manifest {
    file: String,
    doc: Value,
}

impl Manifest {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or_default()
    }
}

/// Every document of every deploy/kubernetes/*.yaml, in file-name order.
fn manifests() -> Vec<Manifest> {
    let dir = root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("deploy/kubernetes/{file} is not YAML: {e}"));
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            out.push(Manifest {
                file: file.clone(),
                doc,
            });
        }
    }
    out
}

/// The one manifest of `kind` (the deployment has exactly one of each).
fn one<'a>(all: &'a [Manifest], kind: &str) -> &'a Manifest {
    let found: Vec<&Manifest> = all.iter().filter(|m| m.kind() == kind).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} under deploy/kubernetes/, found {}",
        found.len()
    );
    found[0]
}

/// The schema fixture of an (apiVersion, kind).
fn schema_file(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("apps/v1", "StatefulSet") => "statefulset-apps-v1.json",
        ("batch/v1", "CronJob") => "cronjob-batch-v1.json",
        ("v1", "Service") => "service-v1.json",
        ("v1", "ConfigMap") => "configmap-v1.json",
        ("v1", "Secret") => "secret-v1.json",
        ("v1", "PersistentVolumeClaim") => "persistentvolumeclaim-v1.json",
        _ => return None,
    })
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&read(&format!("fixtures/kubernetes/{name}")))
        .unwrap_or_else(|e| panic!("fixtures/kubernetes/{name} is not JSON: {e}"))
}

/// A validator for one resource schema; its `$ref`s point into `_definitions.json`, registered under the URI they
/// resolve to, so nothing is fetched.
fn k8s_validator(file: &str) -> jsonschema::Validator {
    let defs = fixture_json("_definitions.json");
    let uri = defs["$id"].as_str().unwrap().to_owned();
    jsonschema::options()
        .with_resource(uri, jsonschema::Resource::from_contents(defs).unwrap())
        .build(&fixture_json(file))
        .unwrap_or_else(|e| panic!("fixtures/kubernetes/{file} does not compile: {e}"))
}

fn k8s_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("at {}: {e}", e.instance_path))
        .collect()
}

#[test]
fn every_manifest_is_valid_against_the_kubernetes_strict_schema_of_its_kind() {
    let all = manifests();
    let mut validators: HashMap<&str, jsonschema::Validator> = HashMap::new();
    let mut kinds = Vec::new();
    for m in &all {
        let api_version = m.doc["apiVersion"].as_str().unwrap_or_default();
        if m.kind() == "Kustomization" {
            assert_eq!(api_version, "kustomize.config.k8s.io/v1beta1", "{}", m.file);
            continue;
        }
        let file = schema_file(api_version, m.kind()).unwrap_or_else(|| {
            panic!(
                "deploy/kubernetes/{}: no schema fixture for {api_version} {}: add it under fixtures/kubernetes/",
                m.file,
                m.kind()
            )
        });
        let validator = validators
            .entry(file)
            .or_insert_with(|| k8s_validator(file));
        let errors = k8s_errors(validator, &m.doc);
        assert!(
            errors.is_empty(),
            "deploy/kubernetes/{} ({} {}) is not valid against fixtures/kubernetes/{file}:\n{}",
            m.file,
            api_version,
            m.kind(),
            errors.join("\n")
        );
        kinds.push(m.kind().to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "CronJob",
            "PersistentVolumeClaim",
            "Secret",
            "Service",
            "StatefulSet"
        ],
        "the deployment's kinds, one each"
    );
}

#[test]
fn the_strict_schemas_reject_unknown_fields_and_wrong_types_deep_inside_the_pod_template() {
    // The valid manifests alone would also pass a schema whose $refs resolved to nothing: these must fail.
    let all = manifests();
    let sts = &one(&all, "StatefulSet").doc;
    let validator = k8s_validator("statefulset-apps-v1.json");
    assert!(k8s_errors(&validator, sts).is_empty());

    let mut typo = sts.clone();
    let container = &mut typo["spec"]["template"]["spec"]["containers"][0];
    let sc = container["securityContext"].take();
    container["securityContex"] = sc;
    assert!(
        !k8s_errors(&validator, &typo).is_empty(),
        "a misspelt container key (securityContex) must be refused by the strict schema"
    );

    let mut octal_string = sts.clone();
    let volumes = octal_string["spec"]["template"]["spec"]["volumes"]
        .as_array_mut()
        .unwrap();
    let certs = volumes
        .iter_mut()
        .find(|v| v["name"] == "certs")
        .expect("a volume named certs");
    certs["projected"]["defaultMode"] = "0440".into();
    assert!(
        !k8s_errors(&validator, &octal_string).is_empty(),
        "a string file mode must be refused (JSON wants decimal mode bits)"
    );

    let mut replicas = sts.clone();
    replicas["spec"]["replicas"] = "3".into();
    assert!(!k8s_errors(&validator, &replicas).is_empty());
}

/// The pod spec of a StatefulSet or of a CronJob.
fn pod_spec(m: &Manifest) -> &Value {
    match m.kind() {
        "StatefulSet" => &m.doc["spec"]["template"]["spec"],
        "CronJob" => &m.doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        other => panic!("no pod spec in a {other}"),
    }
}

fn the_container(m: &Manifest) -> &Value {
    let containers = pod_spec(m)["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{}: one container", m.file);
    &containers[0]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// The `run` arguments of a command line (`o365sync` first), parsed by the real command line.
fn parse_run(origin: &str, argv: &[String]) -> (o365sync::cli::GlobalArgs, RunArgs) {
    let cli = Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{origin}: {argv:?} does not parse:\n{e}"));
    match cli.command {
        Command::Run(args) => (cli.global, args),
        other => panic!("{origin}: {argv:?} is not `run` but {other:?}"),
    }
}

fn container_argv(m: &Manifest) -> Vec<String> {
    let mut argv = vec!["o365sync".to_owned()];
    argv.extend(strings(&the_container(m)["args"]));
    argv
}

/// The container's environment as Kubernetes builds it for pod `pod_name`: `fieldRef: metadata.name` is the pod's
/// name, and `$(VAR)` in a value is replaced by a variable declared earlier in the list (`$$` is a literal `$`;
/// an unknown reference stays as written).
fn container_env(m: &Manifest, pod_name: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for var in the_container(m)["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = if let Some(v) = var["value"].as_str() {
            expand_dependent(v, &env)
        } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
            pod_name.to_owned()
        } else {
            panic!(
                "{}: env {name}: only value and fieldRef metadata.name are expected",
                m.file
            );
        };
        env.insert(name, value);
    }
    env
}

fn expand_dependent(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some((name, after)) = tail
            .strip_prefix("$(")
            .and_then(|t| t.split_once(')'))
            .filter(|(n, _)| env.contains_key(*n))
        {
            out.push_str(&env[name]);
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn kubernetes_expands_dependent_variables_as_this_test_assumes() {
    let env = BTreeMap::from([("POD_NAME".to_owned(), "o365sync-2".to_owned())]);
    assert_eq!(expand_dependent("$(POD_NAME)/3", &env), "o365sync-2/3");
    assert_eq!(expand_dependent("$$(POD_NAME)", &env), "$(POD_NAME)");
    assert_eq!(expand_dependent("$(OTHER)/3", &env), "$(OTHER)/3");
}

/// A volume mount of the container: (volume name, read-only).
fn mount_at(m: &Manifest, path: &str) -> (String, bool) {
    let mounts = the_container(m)["volumeMounts"].as_array().unwrap();
    let mount = mounts
        .iter()
        .find(|v| v["mountPath"] == path)
        .unwrap_or_else(|| {
            panic!(
                "{}: nothing is mounted at {path}, which the command line uses",
                m.file
            )
        });
    (
        mount["name"].as_str().unwrap().to_owned(),
        mount["readOnly"].as_bool().unwrap_or(false),
    )
}

fn volume<'a>(m: &'a Manifest, name: &str) -> &'a Value {
    pod_spec(m)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{}: volume `{name}` is mounted but not declared", m.file))
}

/// The mode bits of every file of a Secret volume (plain or projected) must keep others out.
fn assert_not_world_readable(origin: &str, vol: &Value) {
    let mut modes = Vec::new();
    let mut sources = 0;
    if let Some(secret) = vol.get("secret") {
        sources += 1;
        modes.push(secret.get("defaultMode"));
        modes.extend(
            secret["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| i.get("mode")),
        );
    }
    if let Some(projected) = vol.get("projected") {
        modes.push(projected.get("defaultMode"));
        for source in projected["sources"].as_array().unwrap() {
            if let Some(secret) = source.get("secret") {
                sources += 1;
                modes.extend(
                    secret["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| i.get("mode")),
                );
            }
        }
    }
    assert!(
        sources > 0,
        "{origin}: the certificates volume holds no Secret"
    );
    let default_mode = modes[0].and_then(Value::as_u64).unwrap_or_else(|| {
        panic!("{origin}: give the certificates volume a defaultMode (Kubernetes' is 0644)")
    });
    assert_eq!(
        default_mode & 0o007,
        0,
        "{origin}: defaultMode {default_mode:#o} lets other users read the private keys"
    );
    assert_ne!(
        default_mode & 0o040,
        0,
        "{origin}: defaultMode {default_mode:#o}: the group (fsGroup) must read the keys, o365sync runs as non-root"
    );
    for mode in modes.iter().skip(1).flatten() {
        let mode = mode.as_u64().expect("a numeric mode");
        assert_eq!(
            mode & 0o007,
            0,
            "{origin}: item mode {mode:#o} is world-readable"
        );
    }
}

/// The hardening both pod specs share: non-root 65532 (the image's nonroot user), read-only root, no privilege
/// escalation, no capabilities, RuntimeDefault seccomp, a writable /tmp, a memory limit, time to finish a blob.
fn assert_hardened(m: &Manifest) {
    let origin = format!("deploy/kubernetes/{}", m.file);
    let pod = pod_spec(m);
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true, "{origin}: runAsNonRoot");
    assert_eq!(
        psc["runAsUser"], 65532,
        "{origin}: runAsUser must be distroless' nonroot (65532)"
    );
    assert_eq!(
        psc["fsGroup"], 65532,
        "{origin}: fsGroup (owns the volumes' files)"
    );
    assert_eq!(
        psc["seccompProfile"]["type"], "RuntimeDefault",
        "{origin}: seccomp"
    );
    let csc = &the_container(m)["securityContext"];
    assert_eq!(csc["allowPrivilegeEscalation"], false, "{origin}");
    assert_eq!(csc["readOnlyRootFilesystem"], true, "{origin}");
    assert_eq!(strings(&csc["capabilities"]["drop"]), ["ALL"], "{origin}");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    assert!(
        grace >= 60,
        "{origin}: terminationGracePeriodSeconds {grace}: SIGTERM lets the blobs in flight finish, give it time"
    );
    let memory = the_container(m)["resources"]["limits"]["memory"].as_str();
    assert!(memory.is_some(), "{origin}: no memory limit");
    let (tmp, _) = mount_at(m, "/tmp");
    assert!(
        volume(m, &tmp).get("emptyDir").is_some(),
        "{origin}: /tmp must be an emptyDir (the root filesystem is read-only; SQLite writes temporary files)"
    );
}

/// The mounts the command line and the environment rely on, in either pod spec: the jobs directory (a ConfigMap,
/// read-only), the certificates (a Secret, read-only, not world-readable) and the state directory.
fn assert_mounts(m: &Manifest, run: &RunArgs, state_dir: &Path) -> String {
    let origin = format!("deploy/kubernetes/{}", m.file);
    assert_eq!(
        run.paths,
        [PathBuf::from("/etc/o365sync/jobs")],
        "{origin}: the jobs directory"
    );
    let (jobs, ro) = mount_at(m, "/etc/o365sync/jobs");
    assert!(ro, "{origin}: mount the job files read-only");
    assert!(
        volume(m, &jobs).get("configMap").is_some(),
        "{origin}: /etc/o365sync/jobs should be the o365sync-jobs ConfigMap"
    );
    let (certs, ro) = mount_at(m, "/etc/o365sync/certs");
    assert!(ro, "{origin}: mount the certificates read-only");
    assert_not_world_readable(&origin, volume(m, &certs));
    let (state, ro) = mount_at(m, state_dir.to_str().unwrap());
    assert!(!ro, "{origin}: the state directory must be writable");
    state
}

#[test]
fn statefulset_runs_service_mode_and_each_pod_runs_the_shard_of_its_ordinal() {
    let all = manifests();
    let sts = one(&all, "StatefulSet");
    let replicas = sts.doc["spec"]["replicas"].as_u64().expect("spec.replicas") as u32;
    assert!(replicas >= 2, "a sharded StatefulSet has several replicas");
    assert_eq!(sts.doc["spec"]["podManagementPolicy"], "Parallel");
    let name = sts.doc["metadata"]["name"].as_str().unwrap();

    let argv = container_argv(sts);
    let (global, run) = parse_run("deploy/kubernetes/statefulset.yaml", &argv);
    assert_eq!(
        run.every,
        Some(std::time::Duration::from_secs(600)),
        "--every 10m"
    );
    let listen = run
        .metrics_listen
        .expect("--metrics-listen: Prometheus scrapes each pod");
    assert!(
        listen.ip().is_unspecified(),
        "--metrics-listen {listen}: bind all addresses so the kubelet and Prometheus reach it"
    );
    assert!(
        run.shard.is_none(),
        "the shard comes from O365SYNC_SHARD, not from the arguments"
    );
    assert_eq!(global.log_format, o365sync::logging::LogFormat::Json);

    for ordinal in 0..replicas {
        let pod = format!("{name}-{ordinal}");
        let env = container_env(sts, &pod);
        let value = env
            .get("O365SYNC_SHARD")
            .unwrap_or_else(|| panic!("no O365SYNC_SHARD in the StatefulSet's env"));
        let shard: Shard = value
            .parse()
            .unwrap_or_else(|e| panic!("pod {pod}: O365SYNC_SHARD={value} does not parse: {e}"));
        assert_eq!(
            shard,
            Shard {
                index: ordinal,
                count: replicas
            },
            "pod {pod}: O365SYNC_SHARD={value} must be shard {ordinal} of spec.replicas={replicas}"
        );
        // The same value through the command line's own parser (the env var and --shard share it).
        let mut with_shard = argv.clone();
        with_shard.insert(with_shard.len() - 1, format!("--shard={value}"));
        let (_, run) = parse_run("--shard from O365SYNC_SHARD", &with_shard);
        assert_eq!(run.shard, Some(shard));
    }

    let env = container_env(sts, &format!("{name}-0"));
    let state_dir = PathBuf::from(env.get("O365SYNC_STATE_DIR").expect("O365SYNC_STATE_DIR"));
    let state = assert_mounts(sts, &run, &state_dir);
    let claims: Vec<&str> = sts.doc["spec"]["volumeClaimTemplates"]
        .as_array()
        .expect("volumeClaimTemplates: each shard keeps its own state")
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        claims.contains(&state.as_str()),
        "the state mount `{state}` must be a volumeClaimTemplate (per-pod state), found {claims:?}"
    );
    assert_hardened(sts);

    let container = the_container(sts);
    let port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a containerPort named metrics");
    assert_eq!(
        port["containerPort"],
        listen.port(),
        "containerPort = --metrics-listen's port"
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], "/metrics", "{probe}");
        assert_eq!(get["port"], "metrics", "{probe}: the named metrics port");
    }
    let annotations = &sts.doc["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], listen.port().to_string());
}

#[test]
fn headless_service_selects_the_statefulset_pods_and_exposes_their_metrics_port() {
    let all = manifests();
    let sts = &one(&all, "StatefulSet").doc;
    let svc = &one(&all, "Service").doc;
    assert_eq!(
        svc["metadata"]["name"], sts["spec"]["serviceName"],
        "spec.serviceName names this Service"
    );
    assert_eq!(svc["spec"]["clusterIP"], "None", "headless");
    let labels = sts["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    let selector = svc["spec"]["selector"].as_object().unwrap();
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the Service selects {k}={v}, the pods lack it"
        );
    }
    assert_eq!(
        sts["spec"]["selector"]["matchLabels"].as_object().unwrap(),
        selector,
        "the Service and the StatefulSet select the same pods"
    );
    let port = &svc["spec"]["ports"][0];
    assert_eq!(port["targetPort"], "metrics");
    assert_eq!(
        svc["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    assert_eq!(
        svc["metadata"]["annotations"]["prometheus.io/port"],
        port["port"].to_string()
    );
}

#[test]
fn cronjob_runs_every_job_as_one_shard_on_the_claimed_state_volume() {
    let all = manifests();
    let cron = one(&all, "CronJob");
    assert_eq!(cron.doc["spec"]["schedule"], "*/10 * * * *");
    assert_eq!(cron.doc["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(pod_spec(cron)["restartPolicy"], "Never");
    let (global, run) = parse_run("deploy/kubernetes/cronjob.yaml", &container_argv(cron));
    assert!(
        run.every.is_none(),
        "the CronJob is batch mode: one run, then exit"
    );
    assert!(run.shard.is_none(), "the CronJob runs every job");
    assert_eq!(global.log_format, o365sync::logging::LogFormat::Json);
    let env = container_env(cron, "o365sync-28000000-abcde");
    assert!(
        !env.contains_key("O365SYNC_SHARD"),
        "the CronJob runs every job"
    );
    let state_dir = PathBuf::from(env.get("O365SYNC_STATE_DIR").expect("O365SYNC_STATE_DIR"));
    let state = assert_mounts(cron, &run, &state_dir);
    let claim = volume(cron, &state)["persistentVolumeClaim"]["claimName"]
        .as_str()
        .expect("the state volume is a PersistentVolumeClaim (it must outlive each run's pod)");
    let pvc = one(&all, "PersistentVolumeClaim");
    assert_eq!(pvc.file, "pvc.yaml");
    assert_eq!(
        pvc.doc["metadata"]["name"], claim,
        "pvc.yaml declares the claim the CronJob mounts"
    );
    assert_hardened(cron);
}

#[test]
fn example_job_file_is_a_valid_job_whose_credentials_are_where_the_secret_puts_them() {
    let all = manifests();
    let configmap = one(&all, "ConfigMap");
    let secret = one(&all, "Secret");
    let sts = one(&all, "StatefulSet");
    let jobs_volume = volume(sts, &mount_at(sts, "/etc/o365sync/jobs").0).clone();
    assert_eq!(
        jobs_volume["configMap"]["name"], configmap.doc["metadata"]["name"],
        "the StatefulSet mounts the ConfigMap configmap-jobs.yaml shows"
    );
    let certs_volume = volume(sts, &mount_at(sts, "/etc/o365sync/certs").0).clone();
    let secret_name = &secret.doc["metadata"]["name"];
    assert!(
        certs_volume["projected"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| &s["secret"]["name"] == secret_name),
        "the certificates volume projects the Secret secret-example.yaml shows ({secret_name})"
    );
    let secret_keys: Vec<&String> = secret.doc["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .collect();

    let schema: Value = serde_json::from_str(&read("schema/job.schema.json")).unwrap();
    let job_schema = jsonschema::validator_for(&schema).unwrap();
    let data = configmap.doc["data"].as_object().unwrap();
    assert!(
        !data.is_empty(),
        "the ConfigMap shows at least one job file"
    );
    // The environment of a running pod, with the certificates and the state in a temporary directory so the job
    // really loads: the certificate and key are the test pair of fixtures/credentials/.
    let pod_env = container_env(sts, "o365sync-0");
    let tmp = tempfile::tempdir().unwrap();
    for key in &secret_keys {
        let source = if key.ends_with("-key.pem") {
            "key.pem"
        } else {
            "cert.pem"
        };
        std::fs::copy(
            root().join("fixtures/credentials").join(source),
            tmp.path().join(key),
        )
        .unwrap();
    }
    let mut env: HashMap<String, String> = pod_env.clone().into_iter().collect();
    env.insert("O365SYNC_CERTS".into(), tmp.path().display().to_string());
    env.insert(
        "O365SYNC_STATE_DIR".into(),
        tmp.path().join("state").display().to_string(),
    );
    let pod_env: HashMap<String, String> = pod_env.into_iter().collect();

    for (file, text) in data {
        let text = text.as_str().unwrap();
        let doc: Value = serde_saphyr::from_str(text)
            .unwrap_or_else(|e| panic!("configmap-jobs.yaml: {file} is not YAML: {e}"));
        let errors: Vec<String> = job_schema
            .iter_errors(&doc)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "configmap-jobs.yaml: {file} against schema/job.schema.json: {errors:?}"
        );

        let name = doc["name"].as_str().unwrap();
        assert_eq!(
            *file,
            format!("{name}.yaml"),
            "one job file per job, named after the job"
        );
        let path = Path::new("/etc/o365sync/jobs").join(file);
        let ctx = o365sync::job::Context {
            env: &env,
            now: jiff::Timestamp::now(),
        };
        let loaded = o365sync::job::load_str(text, &path, &ctx)
            .unwrap_or_else(|d| panic!("configmap-jobs.yaml: {file} does not load:\n{d}"));
        assert!(loaded.job.tenant.certificate.starts_with(tmp.path()));

        // In the pod (its env: no O365SYNC_CERTS), every credential file is a key of the mounted Secret.
        for key in ["certificate", "private_key"] {
            let raw = doc["tenant"][key].as_str().unwrap();
            let in_pod = PathBuf::from(o365sync::job::expand::expand(raw, &pod_env).unwrap());
            assert_eq!(
                in_pod.parent(),
                Some(Path::new("/etc/o365sync/certs")),
                "{file}: tenant.{key} = {} in the pod, not in the Secret's mount",
                in_pod.display()
            );
            let base = in_pod.file_name().unwrap().to_str().unwrap();
            assert!(
                secret_keys.iter().any(|k| *k == base),
                "{file}: tenant.{key} names `{base}`, which is no key of the Secret ({secret_keys:?})"
            );
        }
        if let Some(out) = doc["sink"]["path"].as_str() {
            let in_pod = o365sync::job::expand::expand(out, &pod_env).unwrap();
            assert!(
                in_pod.starts_with("/var/lib/o365sync/"),
                "{file}: sink.path {in_pod} is not on the state volume (the root filesystem is read-only)"
            );
        }
    }
}

#[test]
fn kustomization_applies_the_sharded_statefulset_not_the_cronjob_alternative() {
    let all = manifests();
    let k = one(&all, "Kustomization");
    let resources = strings(&k.doc["resources"]);
    for r in &resources {
        assert!(
            root().join("deploy/kubernetes").join(r).is_file(),
            "kustomization.yaml lists {r}, which does not exist"
        );
    }
    for wanted in ["statefulset.yaml", "service.yaml"] {
        assert!(
            resources.iter().any(|r| r == wanted),
            "kustomization.yaml should apply {wanted}"
        );
    }
    for unwanted in ["cronjob.yaml", "pvc.yaml", "secret-example.yaml"] {
        assert!(
            !resources.iter().any(|r| r == unwanted),
            "kustomization.yaml must not apply {unwanted} (an alternative, or a placeholder)"
        );
    }
    let sts = one(&all, "StatefulSet");
    let image = the_container(sts)["image"].as_str().unwrap();
    for i in k.doc["images"].as_array().into_iter().flatten() {
        let name = i["name"].as_str().unwrap();
        assert!(
            image.starts_with(&format!("{name}:")),
            "kustomization.yaml retags `{name}`, the StatefulSet runs `{image}`"
        );
    }
}

// ---- systemd --------------------------------------------------------------------------------------------------------

/// A unit file: (section, key, value) in order; comments and blank lines dropped.
fn unit(file: &str) -> Vec<(String, String, String)> {
    let text = read(&format!("deploy/systemd/{file}"));
    let mut section = String::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "deploy/systemd/{file}:{}: keep directives on one line",
            n + 1
        );
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("deploy/systemd/{file}:{}: not Key=Value: {line}", n + 1));
        assert!(
            !section.is_empty(),
            "deploy/systemd/{file}:{}: a directive before any section",
            n + 1
        );
        out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
    }
    out
}

fn sections(u: &[(String, String, String)]) -> Vec<&str> {
    let mut s: Vec<&str> = u.iter().map(|(s, _, _)| s.as_str()).collect();
    s.dedup();
    s
}

/// Every value of `key` in `section`, space-separated lists split.
fn values<'a>(u: &'a [(String, String, String)], section: &str, key: &str) -> Vec<&'a str> {
    u.iter()
        .filter(|(s, k, _)| s == section && k == key)
        .flat_map(|(_, _, v)| v.split_whitespace())
        .collect()
}

fn value<'a>(u: &'a [(String, String, String)], section: &str, key: &str) -> &'a str {
    let found: Vec<&str> = u
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect();
    assert_eq!(found.len(), 1, "[{section}] {key}= once, found {found:?}");
    found[0]
}

/// A service unit's ExecStart parsed by the real command line, and the checks both services share.
fn service(
    file: &str,
) -> (
    Vec<(String, String, String)>,
    o365sync::cli::GlobalArgs,
    RunArgs,
) {
    let u = unit(file);
    let origin = format!("deploy/systemd/{file}");
    let s = sections(&u);
    assert!(
        s.contains(&"Unit") && s.contains(&"Service"),
        "{origin}: [Unit] and [Service], found {s:?}"
    );
    let exec = value(&u, "Service", "ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(
        words.next(),
        Some("/usr/local/bin/o365sync"),
        "{origin}: ExecStart runs the installed binary"
    );
    let argv: Vec<String> = std::iter::once("o365sync")
        .chain(words)
        .map(str::to_owned)
        .collect();
    let (global, run) = parse_run(&origin, &argv);

    let state_dirs = values(&u, "Service", "StateDirectory");
    assert_eq!(
        state_dirs,
        ["o365sync"],
        "{origin}: StateDirectory=o365sync"
    );
    assert_eq!(
        global.state_dir,
        Path::new("/var/lib/o365sync"),
        "{origin}: --state-dir is the StateDirectory"
    );
    assert!(
        values(&u, "Service", "ReadWritePaths").contains(&"/var/lib/o365sync"),
        "{origin}"
    );
    let read_only = values(&u, "Service", "ReadOnlyPaths");
    for p in &run.paths {
        assert!(
            read_only.iter().any(|r| p.starts_with(r)),
            "{origin}: the job files {} are under no ReadOnlyPaths ({read_only:?})",
            p.display()
        );
    }
    assert_eq!(run.paths, [PathBuf::from("/etc/o365sync/jobs")], "{origin}");
    assert_eq!(
        global.log_format,
        o365sync::logging::LogFormat::Json,
        "{origin}: journald gets JSON lines"
    );
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("KillSignal", "SIGTERM"),
        ("User", "o365sync"),
    ] {
        assert_eq!(value(&u, "Service", k), v, "{origin}: {k}");
    }
    let stop = value(&u, "Service", "TimeoutStopSec");
    assert!(
        stop.parse::<u32>().is_ok_and(|s| s >= 60),
        "{origin}: TimeoutStopSec={stop}: give the blobs in flight a minute or more to finish"
    );
    let locked = Outcome::Locked.code().to_string();
    assert!(
        values(&u, "Service", "SuccessExitStatus").contains(&locked.as_str()),
        "{origin}: exit {locked} (another run holds the job) is not a failure"
    );
    (u, global, run)
}

#[test]
fn batch_service_and_timer_run_every_job_once_per_tick() {
    let (u, _, run) = service("o365sync.service");
    assert_eq!(value(&u, "Service", "Type"), "oneshot");
    assert!(
        run.every.is_none(),
        "o365sync.service is batch mode: no --every"
    );
    assert!(run.metrics_listen.is_none());
    let gaps = Outcome::Gaps.code().to_string();
    assert!(
        !values(&u, "Service", "SuccessExitStatus").contains(&gaps.as_str()),
        "batch mode: exit {gaps} (gap recorded) fails the unit, as docs/deploy.md says"
    );

    let t = unit("o365sync.timer");
    assert_eq!(sections(&t), ["Unit", "Timer", "Install"]);
    assert_eq!(value(&t, "Timer", "Unit"), "o365sync.service");
    assert!(root().join("deploy/systemd/o365sync.service").is_file());
    assert_eq!(
        value(&t, "Timer", "OnCalendar"),
        "*:0/10",
        "every 10 minutes"
    );
    assert_eq!(value(&t, "Timer", "Persistent"), "true");
    assert!(!value(&t, "Timer", "RandomizedDelaySec").is_empty());
    assert_eq!(value(&t, "Install", "WantedBy"), "timers.target");
}

#[test]
fn service_mode_unit_runs_every_ten_minutes_with_local_metrics_and_restarts_on_failure() {
    let (u, _, run) = service("o365sync-every.service");
    assert!(
        sections(&u).contains(&"Install"),
        "o365sync-every.service is enabled: it needs [Install]"
    );
    assert_eq!(value(&u, "Install", "WantedBy"), "multi-user.target");
    assert_eq!(
        run.every,
        Some(std::time::Duration::from_secs(600)),
        "--every 10m"
    );
    let listen = run.metrics_listen.expect("--metrics-listen");
    assert!(
        listen.ip().is_loopback(),
        "--metrics-listen {listen}: on a host, serve metrics on loopback only"
    );
    assert_eq!(value(&u, "Service", "Restart"), "on-failure");
    let success = values(&u, "Service", "SuccessExitStatus");
    assert!(
        success.contains(&Outcome::Gaps.code().to_string().as_str()),
        "a stop after a run with gaps is not a failure"
    );
    let invalid = Outcome::Invalid.code().to_string();
    assert_eq!(
        values(&u, "Service", "RestartPreventExitStatus"),
        [invalid.as_str()],
        "an invalid command line or job file waits for a fix instead of restarting"
    );
    let conflicts = values(&u, "Unit", "Conflicts");
    for other in ["o365sync.timer", "o365sync.service"] {
        assert!(
            conflicts.contains(&other),
            "service mode and batch mode must not run together: Conflicts={other}"
        );
    }
}

// ---- Dockerfile -----------------------------------------------------------------------------------------------------

/// The Dockerfile's instructions: (KEYWORD, arguments), continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            current.push_str(cont);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (kw, args) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((kw.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    assert!(current.is_empty(), "Dockerfile ends in a continuation line");
    out
}

fn exec_form(keyword: &str, args: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(args).unwrap_or_else(|e| {
        panic!("Dockerfile: {keyword} {args} is not the exec (JSON array) form: {e}")
    });
    strings(&v)
}

#[test]
fn dockerfile_builds_in_a_rust_stage_and_runs_the_binary_as_nonroot_from_distroless() {
    let ins = dockerfile();
    let froms: Vec<&str> = ins
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        froms.len() >= 2,
        "a multi-stage build: found {} FROM",
        froms.len()
    );
    let builder = froms[0];
    assert!(
        builder.starts_with("rust:") && builder.ends_with(" AS builder"),
        "builder stage: {builder}"
    );
    let toolchain = builder
        .trim_start_matches("rust:")
        .split('-')
        .next()
        .unwrap();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    let rust_version = rust_version();
    assert!(
        parse(toolchain) >= parse(&rust_version),
        "the builder's Rust {toolchain} is older than Cargo.toml's rust-version {rust_version}"
    );
    assert!(
        ins.iter()
            .any(|(k, a)| k == "RUN" && a.contains("cargo build --release --locked")),
        "the builder runs cargo build --release --locked"
    );
    let last = *froms.last().unwrap();
    assert_eq!(
        last, "gcr.io/distroless/cc-debian12:nonroot",
        "the final stage"
    );

    // Instructions of the final stage only.
    let final_start = ins.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let fin = &ins[final_start..];
    let user = fin
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.as_str());
    let user = user.expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap();
    assert!(!["root", "0", ""].contains(&uid), "USER {user} is root");
    assert_eq!(user, "nonroot:nonroot");

    let entrypoint = fin
        .iter()
        .find(|(k, _)| k == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    let entrypoint = exec_form("ENTRYPOINT", &entrypoint.1);
    assert_eq!(entrypoint, ["/usr/local/bin/o365sync"]);
    assert!(
        fin.iter().any(|(k, a)| k == "COPY"
            && a.starts_with("--from=builder")
            && a.ends_with(" /usr/local/bin/o365sync")),
        "the final stage copies the binary to /usr/local/bin/o365sync"
    );
    let cmd = fin.iter().find(|(k, _)| k == "CMD").expect("CMD");
    let mut argv = vec!["o365sync".to_owned()];
    argv.extend(exec_form("CMD", &cmd.1));
    let (_, run) = parse_run("Dockerfile ENTRYPOINT + CMD", &argv);
    assert_eq!(run.paths, [PathBuf::from("/etc/o365sync/jobs")]);

    let env = fin
        .iter()
        .find(|(k, a)| k == "ENV" && a.starts_with("O365SYNC_STATE_DIR"));
    assert_eq!(
        env.map(|(_, a)| a.as_str()),
        Some("O365SYNC_STATE_DIR=/var/lib/o365sync"),
        "the state directory is set through the environment"
    );
    let volume = fin
        .iter()
        .find(|(k, _)| k == "VOLUME")
        .expect("a VOLUME for the state");
    assert_eq!(exec_form("VOLUME", &volume.1), ["/var/lib/o365sync"]);

    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in ["target/", ".git", "state/", "out/"] {
        assert!(
            ignored.contains(&must),
            ".dockerignore should leave out {must}"
        );
    }
    // cargo reads the manifest's bench and test targets and src/ embeds jobs/demo.yaml: the build needs them.
    for needed in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        "benches",
        "tests",
        "jobs",
    ] {
        assert!(
            !ignored.iter().any(|i| i.trim_end_matches('/') == needed),
            ".dockerignore leaves out {needed}, which cargo build needs"
        );
    }
}

/// `rust-version` of Cargo.toml (no TOML parser among the dependencies; the line is `rust-version = "1.89"`).
fn rust_version() -> String {
    read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("Cargo.toml has a rust-version line")
        .trim_matches('"')
        .to_owned()
}

// ---- docs -----------------------------------------------------------------------------------------------------------

#[test]
fn docs_deploy_md_describes_every_deployment_file() {
    let page = read("docs/deploy.md");
    for dir in ["deploy/systemd", "deploy/kubernetes"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                page.contains(&format!("`{name}`")),
                "docs/deploy.md does not mention {dir}/{name}"
            );
        }
    }
    for needed in [
        "docker build -t o365sync .",
        "kubectl create configmap o365sync-jobs --from-file=jobs/",
        "kubectl apply -k deploy/kubernetes",
        "(sharding.md)",
        "BENCHMARKS.md",
    ] {
        assert!(
            page.contains(needed),
            "docs/deploy.md should show `{needed}`"
        );
    }
}
