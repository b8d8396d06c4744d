//! The recipes of `docs/recipes/`, run as written, so that none can rot: a renamed or removed
//! flag, a JSON field a script reads, or a schema a CI system checks fails a test here.
//!
//! Commands in YAML are found by walking the parsed file (a container's `command` + `args`, a
//! compose healthcheck's `test`, the `command` of a service on the stillup image); the GitHub
//! action's and the GitLab job's shell steps and the deploy scripts are run whole, with bash
//! or python3, as their CI system or a user would, `stillup` on `PATH` being the binary under
//! test and a stand-in `kubectl` beside it. The recipes name hosts of their own (`api`, `db`,
//! `staging.example.com`); the tests send those to servers on 127.0.0.1 with
//! `STILLUP_CONNECT_TO` (the hosts stay as written: no name is resolved), and to the shared
//! PostgreSQL, whose database is `test`, not the recipes' `app`. YAML files are also validated
//! against their published schemas by `check-jsonschema` (installed by
//! `scripts/recipe-checkers.sh`), Kubernetes manifests structurally.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use stillup_testkit::services;

use super::support::*;

/// Where the recipes live.
fn recipes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/recipes")
}

/// Every file of `docs/recipes/`, each run or checked by a test below. A new file must be
/// added here, with its test.
const RECIPE_FILES: &[&str] = &[
    "README.md",
    "compose/README.md",
    "compose/compose.yaml",
    "deploy-scripts/README.md",
    "deploy-scripts/deploy.py",
    "deploy-scripts/deploy.sh",
    "github-actions/README.md",
    "github-actions/action.yml",
    "github-actions/workflow.yml",
    "gitlab-ci/.gitlab-ci.yml",
    "gitlab-ci/README.md",
    "kubernetes/README.md",
    "kubernetes/rollout-watch-job.yaml",
    "kubernetes/wait-for-dependencies.yaml",
];

fn read_recipe(name: &str) -> String {
    let path = recipes_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The documents of a YAML recipe as JSON values; every scalar stays a string (commands are
/// strings, and `"1"` or `1` make the same argument).
fn yaml_documents(name: &str) -> Vec<Value> {
    use saphyr_parser::{Event, Parser};
    let text = read_recipe(name);
    let mut documents = Vec::new();
    // Open collections, each with the key of a map waiting for its value.
    let mut open: Vec<(Value, Option<String>)> = Vec::new();
    for event in Parser::new_from_str(&text) {
        let (event, span) = event
            .unwrap_or_else(|e| panic!("{name}:{}: invalid YAML: {}", e.marker().line(), e.info()));
        let node = match event {
            Event::MappingStart(..) => {
                open.push((Value::Object(Map::new()), None));
                continue;
            }
            Event::SequenceStart(..) => {
                open.push((Value::Array(Vec::new()), None));
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => open.pop().expect("balanced YAML").0,
            Event::Scalar(text, ..) => Value::String(text.into_owned()),
            Event::Alias(_) => panic!("{name}:{}: the recipes use no aliases", span.start.line()),
            _ => continue,
        };
        match open.last_mut() {
            None => documents.push(node),
            Some((Value::Array(items), _)) => items.push(node),
            Some((Value::Object(map), key)) => match key.take() {
                None => {
                    let text = node.as_str().unwrap_or_else(|| {
                        panic!("{name}:{}: a key that is not a string", span.start.line())
                    });
                    *key = Some(text.to_string());
                }
                Some(key) => {
                    map.insert(key, node);
                }
            },
            Some(_) => unreachable!("only collections are open"),
        }
    }
    documents
}

/// A list of strings, or a panic naming `what`.
fn strings(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a list: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what} holds a non-string: {v}"))
                .to_string()
        })
        .collect()
}

fn is_stillup(program: &str) -> bool {
    Path::new(program).file_name().and_then(|n| n.to_str()) == Some("stillup")
}

/// The image the repository's Dockerfile builds (ENTRYPOINT /stillup): a `command` given to
/// it holds stillup's arguments.
fn is_stillup_image(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    name == "stillup" || name.starts_with("stillup:")
}

/// Every stillup command line in a YAML document, each with where it was found: the argv
/// with `stillup` first.
fn stillup_commands(value: &Value, at: &str, found: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::Object(map) => {
            // A Kubernetes container: command + args form the argv.
            if let Some(command) = map.get("command").filter(|c| c.is_array()) {
                let mut argv = strings(command, &format!("{at}.command"));
                if let Some(args) = map.get("args") {
                    argv.extend(strings(args, &format!("{at}.args")));
                }
                let image = map.get("image").and_then(Value::as_str).unwrap_or("");
                if argv.first().is_some_and(|p| is_stillup(p)) {
                    found.push((format!("{at}.command"), argv));
                } else if is_stillup_image(image) && map.get("entrypoint").is_none() {
                    argv.insert(0, "stillup".into());
                    found.push((format!("{at}.command"), argv));
                }
            }
            // A compose healthcheck: ["CMD", program, args…].
            if let Some(test) = map.get("test").filter(|t| t.is_array()) {
                let argv = strings(test, &format!("{at}.test"));
                if argv.first().map(String::as_str) == Some("CMD")
                    && argv.get(1).is_some_and(|p| is_stillup(p))
                {
                    found.push((format!("{at}.test"), argv[1..].to_vec()));
                }
            }
            for (key, child) in map {
                stillup_commands(child, &format!("{at}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                stillup_commands(child, &format!("{at}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// The stillup command lines of a YAML recipe, all documents.
fn commands_in(documents: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for (i, document) in documents.iter().enumerate() {
        stillup_commands(document, &format!("document {i}"), &mut found);
    }
    found
}

/// The shared PostgreSQL has the database `test`; the recipes name their application's, `app`.
fn local_database(arg: &str) -> String {
    match arg.strip_suffix("/app") {
        Some(server) if arg.starts_with("postgres://") => format!("{server}/test"),
        _ => arg.to_string(),
    }
}

/// `STILLUP_CONNECT_TO`: one `HOST:PORT:127.0.0.1:LOCAL` rule per line.
fn connect_to(rules: &[(&str, u16)]) -> String {
    rules
        .iter()
        .map(|(host_port, local)| format!("{host_port}:127.0.0.1:{local}\n"))
        .collect()
}

/// A directory for `PATH`: a stand-in `kubectl` that logs its arguments to `kubectl.log`
/// beside it, sleeps `sleep`, and exits 0 — the real one talks to a cluster.
fn kubectl_stand_in(dir: &TempDir, sleep: &str) -> PathBuf {
    let bin = dir.file("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.file("kubectl.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\nsleep {sleep}\nexit 0\n",
        log.display()
    );
    let path = bin.join("kubectl");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn kubectl_log(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.file("kubectl.log")).unwrap_or_default()
}

/// `PATH` with the stand-ins first, then the directory of the stillup binary under test, then
/// the caller's (bash, jq, python3, sleep).
fn path_with(stand_ins: &Path) -> String {
    let stillup = assert_cmd::cargo::cargo_bin("stillup");
    let mut dirs = vec![
        stand_ins.to_path_buf(),
        stillup
            .parent()
            .expect("the binary's directory")
            .to_path_buf(),
    ];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs)
        .expect("PATH can be joined")
        .into_string()
        .expect("PATH is UTF-8")
}

/// Run a recipe's argv (`stillup` first) with the binary under test and `vars` set.
fn run_argv(argv: &[String], vars: &[(&str, &str)]) -> Run {
    assert!(is_stillup(&argv[0]), "not a stillup command: {argv:?}");
    let args: Vec<String> = argv[1..].iter().map(|a| local_database(a)).collect();
    let mut cmd = wrapper(
        assert_cmd::cargo::cargo_bin("stillup").to_str().unwrap(),
        &args,
    );
    for (name, value) in vars {
        cmd.env(name, value);
    }
    run_to_end(cmd)
}

/// Run a script with `interpreter`, in `cwd`, with `vars` set and a bounded wall time.
fn run_script(interpreter: &[&str], script: &Path, cwd: &Path, vars: &[(&str, &str)]) -> Run {
    let mut args: Vec<&str> = interpreter[1..].to_vec();
    args.push(script.to_str().unwrap());
    let mut cmd = wrapper(interpreter[0], &args);
    cmd.current_dir(cwd);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    run_to_end(cmd)
}

fn healthy_json_server() -> ScriptedServer {
    serve_json(r#"{"status":"healthy","checks":{"db":"ok"}}"#)
}

/// A TLS server for `name` answering `{"status": …}` with `code`, and the PEM file that
/// makes it trusted (for `SSL_CERT_FILE`).
fn tls_server(dir: &TempDir, name: &str, code: u16, status: &str) -> (ScriptedServer, PathBuf) {
    let cert = self_signed(&[name], None);
    let server = tls_status_server(&cert, code, status);
    let pem = cert.write_pem(dir, &format!("{name}-{}.pem", server.port()));
    (server, pem)
}

/// A TLS server presenting `cert` that answers `{"status": …}` with `code`.
fn tls_status_server(cert: &Cert, code: u16, status: &str) -> ScriptedServer {
    let body = format!(r#"{{"status":"{status}"}}"#);
    serve_tls(cert, Behavior::Respond(Reply::json(code, &body)))
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

#[test]
fn kubernetes_init_container_waits_for_postgres_and_the_http_dependency() {
    let Some(pg) = services::running(services::POSTGRES, "recipes kubernetes init container")
    else {
        return;
    };
    let documents = yaml_documents("kubernetes/wait-for-dependencies.yaml");
    let commands = commands_in(&documents);
    assert_eq!(
        commands.len(),
        1,
        "one init container command: {commands:?}"
    );
    let (at, argv) = &commands[0];
    assert!(at.contains("initContainers"), "{at}");
    assert_eq!(argv[1], "wait", "{argv:?}");

    let auth = healthy_json_server();
    let rules = connect_to(&[("db:5432", pg.port()), ("auth:8080", auth.port())]);
    let run = run_argv(argv, &[("STILLUP_CONNECT_TO", &rules)]);
    run.assert_code(0);
    assert!(run.stderr.contains("http://auth:8080/health"), "{run}");
    // The URL went out as written: the Host header is the recipe's.
    assert_eq!(auth.request_log()[0].header("host"), Some("auth:8080"));

    // A dependency that answers 503 keeps the pod waiting (here until a 2 s deadline, not
    // the recipe's 5 minutes).
    let busy = serve(Behavior::Respond(Reply::text(503, "starting")));
    let rules = connect_to(&[("db:5432", pg.port()), ("auth:8080", busy.port())]);
    let mut short = argv.clone();
    let timeout = short.iter().position(|a| a == "--timeout").unwrap();
    short[timeout + 1] = "2s".into();
    let run = run_argv(&short, &[("STILLUP_CONNECT_TO", &rules)]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(2) + SLACK);
    assert!(run.stderr.contains("503"), "{run}");
}

#[test]
fn kubernetes_rollout_job_watches_the_rollout_within_its_downtime_budget() {
    let documents = yaml_documents("kubernetes/rollout-watch-job.yaml");
    let commands = commands_in(&documents);
    assert_eq!(commands.len(), 1, "one watch command: {commands:?}");
    let argv = &commands[0].1;
    assert_eq!(argv[1], "watch", "{argv:?}");
    let dash = argv.iter().position(|a| a == "--").expect("-- kubectl …");
    assert!(
        argv[..dash].iter().any(|a| a == "--max-downtime"),
        "{argv:?}"
    );
    assert_eq!(argv[dash + 1], "kubectl");

    // Healthy all along: within budget, and kubectl ran with the recipe's arguments.
    let dir = TempDir::new("recipe-watch");
    let bin = kubectl_stand_in(&dir, "1");
    let api = healthy_json_server();
    let path = path_with(&bin);
    let rules = connect_to(&[("api:8080", api.port())]);
    let run = run_argv(argv, &[("STILLUP_CONNECT_TO", &rules), ("PATH", &path)]);
    run.assert_code(0);
    assert!(
        kubectl_log(&dir).contains("rollout status deployment/api"),
        "{}\n{run}",
        kubectl_log(&dir)
    );
    assert!(api.requests() >= 2, "sampled while kubectl ran\n{run}");

    // Down for the whole 3 s rollout: over the 2 s budget, exit 4.
    let dir = TempDir::new("recipe-watch-down");
    let bin = kubectl_stand_in(&dir, "3");
    let path = path_with(&bin);
    let rules = connect_to(&[("api:8080", closed_port())]);
    let run = run_argv(argv, &[("STILLUP_CONNECT_TO", &rules), ("PATH", &path)]);
    run.assert_code(4);
    assert!(run.stderr.contains("refused"), "{run}");
}

/// What the API server would refuse first: kinds without their required fields, containers
/// without a name or image, a selector that misses its pods, references to nothing.
#[test]
fn kubernetes_manifests_have_the_fields_the_api_requires() {
    for name in [
        "kubernetes/wait-for-dependencies.yaml",
        "kubernetes/rollout-watch-job.yaml",
    ] {
        let documents = yaml_documents(name);
        assert!(!documents.is_empty(), "{name}");
        let named = |kind: &str, wanted: &str| {
            documents
                .iter()
                .any(|d| d["kind"] == kind && d["metadata"]["name"] == wanted)
        };
        for document in &documents {
            let kind = document["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no kind"));
            assert!(
                document["apiVersion"].is_string(),
                "{name}: {kind} without apiVersion"
            );
            assert!(
                document["metadata"]["name"].is_string(),
                "{name}: {kind} without a name"
            );
            match kind {
                "Deployment" | "Job" => {
                    let pod = &document["spec"]["template"]["spec"];
                    let containers = pod["containers"].as_array().expect("containers");
                    assert!(!containers.is_empty(), "{name}: {kind} without containers");
                    let init = pod["initContainers"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    for container in containers.iter().chain(&init) {
                        assert!(container["name"].is_string(), "{name}: {container}");
                        assert!(container["image"].is_string(), "{name}: {container}");
                    }
                    if kind == "Deployment" {
                        let selector = document["spec"]["selector"]["matchLabels"]
                            .as_object()
                            .expect("a Deployment's selector");
                        let labels = &document["spec"]["template"]["metadata"]["labels"];
                        for (key, value) in selector {
                            assert_eq!(&labels[key], value, "{name}: selector misses the pods");
                        }
                    } else {
                        assert!(
                            matches!(pod["restartPolicy"].as_str(), Some("Never" | "OnFailure")),
                            "{name}: a Job's pods restart Never or OnFailure"
                        );
                        if let Some(account) = pod["serviceAccountName"].as_str() {
                            assert!(named("ServiceAccount", account), "{name}: {account}");
                        }
                    }
                }
                "RoleBinding" => {
                    let role = document["roleRef"]["name"].as_str().expect("roleRef.name");
                    assert!(named("Role", role), "{name}: RoleBinding to a missing Role");
                    for subject in document["subjects"].as_array().expect("subjects") {
                        let account = subject["name"].as_str().expect("subject name");
                        assert!(named("ServiceAccount", account), "{name}: {account}");
                    }
                }
                "Role" => assert!(document["rules"].is_array(), "{name}: Role without rules"),
                "ServiceAccount" => {}
                other => panic!("{name}: a kind this test does not know: {other}"),
            }
        }
    }
}

/// The commands the README shows are the manifests' own (joined by spaces; none of their
/// arguments holds a space), so the explanation cannot drift from the file that is run.
#[test]
fn kubernetes_readme_shows_the_manifests_commands() {
    let readme = read_recipe("kubernetes/README.md");
    let shown: Vec<String> = readme
        .split("```sh\n")
        .skip(1)
        .map(|block| {
            let block = block.split("```").next().unwrap();
            block
                .replace("\\\n", " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for name in [
        "kubernetes/wait-for-dependencies.yaml",
        "kubernetes/rollout-watch-job.yaml",
    ] {
        for (at, argv) in commands_in(&yaml_documents(name)) {
            let line = argv.join(" ");
            assert!(
                shown.contains(&line),
                "{name} {at}: README.md does not show {line:?}: {shown:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// docker compose

/// The compose file as compose reads it: `$$` is a literal `$`, and any other `$` would be a
/// variable — which the recipe must not rely on (JSONPath's `$` has to be written `$$`).
fn compose_interpolated(value: &Value) -> Value {
    match value {
        Value::String(text) => {
            let mut out = String::new();
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' {
                    assert_eq!(
                        chars.next(),
                        Some('$'),
                        "compose would read a variable in {text:?}: write $$ for a literal $"
                    );
                }
                out.push(c);
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(compose_interpolated).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), compose_interpolated(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn compose_healthcheck_and_one_shot_wait_run_as_written() {
    let Some(pg) = services::running(services::POSTGRES, "recipes compose") else {
        return;
    };
    let Some(redis) = services::running(services::REDIS, "recipes compose") else {
        return;
    };
    let raw = yaml_documents("compose/compose.yaml");
    assert!(
        read_recipe("compose/compose.yaml").contains("$$.status"),
        "the recipe shows the $$ rule"
    );
    let compose = compose_interpolated(&raw[0]);
    let services_of = &compose["services"];

    // Whatever waits on service_healthy waits on a service that has a healthcheck.
    for (name, service) in services_of.as_object().expect("services") {
        if let Some(depends) = service["depends_on"].as_object() {
            for (on, how) in depends {
                assert!(
                    services_of.get(on).is_some(),
                    "{name} depends on unknown {on}"
                );
                if how["condition"] == "service_healthy" {
                    assert!(services_of[on]["healthcheck"].is_object(), "{name} → {on}");
                }
            }
        }
    }
    let healthcheck = &services_of["api"]["healthcheck"];
    let commands = commands_in(std::slice::from_ref(&compose));
    assert_eq!(
        commands.len(),
        2,
        "the healthcheck and the one-shot: {commands:?}"
    );

    // The healthcheck: exit 0 when healthy and quiet, 1 while the app says it is starting.
    let check = &commands
        .iter()
        .find(|(at, _)| at.ends_with(".test"))
        .unwrap()
        .1;
    assert_eq!(check[1], "check");
    // Docker kills a check that outlives the healthcheck's timeout: the attempt must end first.
    let attempt = check.iter().position(|a| a == "--attempt-timeout").unwrap();
    let attempt = humantime::parse_duration(&check[attempt + 1]).unwrap();
    let limit = humantime::parse_duration(healthcheck["timeout"].as_str().unwrap()).unwrap();
    assert!(
        attempt < limit,
        "--attempt-timeout {attempt:?} ≥ timeout {limit:?}"
    );
    let api = healthy_json_server();
    let rules = connect_to(&[("localhost:8080", api.port())]);
    let run = run_argv(check, &[("STILLUP_CONNECT_TO", &rules)]);
    run.assert_code(0);
    assert_eq!(run.stdout, "", "{run}");
    let starting = serve_json(r#"{"status":"starting"}"#);
    let rules = connect_to(&[("localhost:8080", starting.port())]);
    run_argv(check, &[("STILLUP_CONNECT_TO", &rules)]).assert_code(1);

    // The one-shot service, with its environment: every dependency ready, exit 0.
    let (at, wait) = commands
        .iter()
        .find(|(at, _)| !at.ends_with(".test"))
        .unwrap();
    assert!(at.contains("wait-for-stack"), "{at}");
    let service = &services_of["wait-for-stack"];
    let mut vars: Vec<(String, String)> = service["environment"]
        .as_object()
        .expect("environment as a map")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let rules = connect_to(&[
        ("db:5432", pg.port()),
        ("api:8080", api.port()),
        ("cache:6379", redis.port()),
    ]);
    vars.push(("STILLUP_CONNECT_TO".into(), rules));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = run_argv(wait, &vars);
    run.assert_code(0);
    assert!(run.stderr.contains("redis://cache:6379"), "{run}");
}

// ---------------------------------------------------------------------------------------------
// GitHub Actions

/// The value of a `${{ inputs.NAME }}` expression, the only kind the action's `env` uses.
fn github_expression(text: &str, inputs: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("a closed ${{ … }}") + start;
        let expression = rest[start + 3..end].trim();
        let name = expression
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("an expression this test does not evaluate: {expression}"));
        out.push_str(inputs.get(name).map(String::as_str).unwrap_or(""));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What one run of the composite action left: its exit code and log, its outputs (as the
/// action's `outputs` map them) and the step summary.
struct ActionRun {
    run: Run,
    outputs: BTreeMap<String, String>,
    summary: String,
}

/// Run the action's steps as the runner does (`bash --noprofile --norc -eo pipefail`), with
/// the workflow's `with:` values over the inputs' defaults, then `overrides`.
fn run_action(overrides: &[(&str, &str)], vars: &[(&str, &str)]) -> ActionRun {
    let action = &yaml_documents("github-actions/action.yml")[0];
    let workflow = &yaml_documents("github-actions/workflow.yml")[0];
    let declared = action["inputs"].as_object().expect("inputs");
    let step = workflow["jobs"]["deploy"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["uses"] == "./.github/actions/stillup-wait")
        .expect("the workflow uses the action");
    let mut inputs = BTreeMap::new();
    for (name, input) in declared {
        if let Some(default) = input["default"].as_str() {
            inputs.insert(name.clone(), default.to_string());
        }
    }
    for (name, value) in step["with"].as_object().expect("with") {
        assert!(
            declared.contains_key(name),
            "the workflow gives an unknown input {name}"
        );
        inputs.insert(name.clone(), value.as_str().unwrap().to_string());
    }
    for (name, input) in declared {
        if input["required"] == "true" {
            assert!(
                inputs.contains_key(name),
                "the required input {name} is not given"
            );
        }
    }
    for (name, value) in overrides {
        inputs.insert(name.to_string(), value.to_string());
    }

    let dir = TempDir::new("recipe-action");
    let output_file = dir.file("github_output");
    let summary_file = dir.file("step_summary");
    std::fs::write(&output_file, "").unwrap();
    std::fs::write(&summary_file, "").unwrap();
    let path = path_with(&dir.file("no-stand-ins"));
    let mut outputs_of_steps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut last = None;
    let steps = action["runs"]["steps"].as_array().expect("steps");
    assert_eq!(action["runs"]["using"], "composite");
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["shell"], "bash");
        let script = step["run"].as_str().expect("a run step");
        // Expressions pasted into a script are how a target could inject code.
        assert!(
            !script.contains("${{"),
            "step {i} pastes an expression into its script"
        );
        let file = dir.file(&format!("step{i}.sh"));
        std::fs::write(&file, script).unwrap();
        let env: Vec<(String, String)> = step["env"]
            .as_object()
            .map(|env| {
                env.iter()
                    .map(|(k, v)| (k.clone(), github_expression(v.as_str().unwrap(), &inputs)))
                    .collect()
            })
            .unwrap_or_default();
        let mut all: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (out, sum, tmp) = (
            output_file.to_str().unwrap(),
            summary_file.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        );
        all.extend([
            ("GITHUB_OUTPUT", out),
            ("GITHUB_STEP_SUMMARY", sum),
            ("RUNNER_TEMP", tmp),
            ("PATH", path.as_str()),
        ]);
        all.extend_from_slice(vars);
        std::fs::write(&output_file, "").unwrap();
        let run = run_script(
            &["bash", "--noprofile", "--norc", "-eo", "pipefail"],
            &file,
            dir.path(),
            &all,
        );
        let written = std::fs::read_to_string(&output_file).unwrap();
        let outputs = written
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(id) = step["id"].as_str() {
            outputs_of_steps.insert(id.to_string(), outputs);
        }
        let failed = run.code != Some(0);
        last = Some(run);
        if failed {
            break;
        }
    }
    let mut outputs = BTreeMap::new();
    for (name, output) in action["outputs"].as_object().expect("outputs") {
        let value = output["value"].as_str().unwrap();
        let path = value
            .trim_start_matches("${{")
            .trim_end_matches("}}")
            .trim()
            .strip_prefix("steps.")
            .expect("an output is a step's output");
        let (id, key) = path.split_once(".outputs.").unwrap();
        let got = outputs_of_steps
            .get(id)
            .and_then(|o| o.get(key))
            .cloned()
            .unwrap_or_default();
        outputs.insert(name.clone(), got);
    }
    ActionRun {
        run: last.expect("the action has steps"),
        outputs,
        summary: std::fs::read_to_string(&summary_file).unwrap(),
    }
}

#[test]
fn github_action_sets_its_outputs_and_the_step_summary() {
    let dir = TempDir::new("recipe-action-servers");
    let (healthy, pem) = tls_server(&dir, "staging.example.com", 200, "healthy");
    let rules = connect_to(&[("staging.example.com:443", healthy.port())]);
    let trust = pem.to_str().unwrap();
    let vars = [
        ("STILLUP_CONNECT_TO", rules.as_str()),
        ("SSL_CERT_FILE", trust),
    ];
    let done = run_action(&[], &vars);
    done.run.assert_code(0);
    assert_eq!(done.outputs["outcome"], "healthy", "{}", done.run);
    assert_eq!(done.outputs["failure-class"], "");
    assert!(
        done.outputs["elapsed"].parse::<f64>().is_ok(),
        "{:?}",
        done.outputs
    );
    assert!(
        done.outputs["report"].ends_with("/stillup-wait.json"),
        "{:?}",
        done.outputs
    );
    // stillup's Markdown report is the summary: a heading, then the table of targets.
    assert!(done.summary.starts_with("### "), "{}", done.summary);
    assert!(done.summary.contains("stillup wait"), "{}", done.summary);
    assert!(
        done.summary
            .contains("| https://staging.example.com/health | "),
        "{}",
        done.summary
    );

    // 503 until the (shortened) deadline: the step fails with the class in its outputs.
    let (busy, pem) = tls_server(&dir, "staging.example.com", 503, "migrating");
    let rules = connect_to(&[("staging.example.com:443", busy.port())]);
    let trust = pem.to_str().unwrap();
    let vars = [
        ("STILLUP_CONNECT_TO", rules.as_str()),
        ("SSL_CERT_FILE", trust),
    ];
    let done = run_action(&[("timeout", "2s")], &vars);
    done.run
        .assert_code(1)
        .assert_within(Duration::from_secs(2) + SLACK);
    assert_eq!(done.outputs["outcome"], "gave_up", "{}", done.run);
    assert_eq!(done.outputs["failure-class"], "http_status");
    assert!(done.summary.contains("`http_status`"), "{}", done.summary);

    // An untrusted certificate fails fast (the workflow's --fail-fast), class tls_verify.
    let rules = connect_to(&[("staging.example.com:443", busy.port())]);
    let done = run_action(&[], &[("STILLUP_CONNECT_TO", rules.as_str())]);
    done.run.assert_code(3);
    assert_eq!(done.outputs["outcome"], "failed_fast", "{}", done.run);
    assert_eq!(done.outputs["failure-class"], "tls_verify");

    // A bad input: stillup refuses it, and the outputs still say so.
    let done = run_action(&[("timeout", "90")], &vars);
    done.run.assert_code(2);
    assert_eq!(done.outputs["outcome"], "error", "{}", done.run);
    assert!(
        done.summary.contains("refused its input"),
        "{}",
        done.summary
    );
    assert!(done.run.stderr.contains("STILLUP_TIMEOUT"), "{}", done.run);
}

// ---------------------------------------------------------------------------------------------
// GitLab CI

/// Run the `wait-for-staging` job's script as GitLab's bash shell does, with the file's
/// variables (then `overrides`) in the environment; returns the run and its `stillup.env`.
fn run_gitlab_job(overrides: &[(&str, &str)], vars: &[(&str, &str)]) -> (Run, String) {
    let file = &yaml_documents("gitlab-ci/.gitlab-ci.yml")[0];
    let job = &file["wait-for-staging"];
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    for scope in [&file["variables"], &job["variables"]] {
        for (name, value) in scope.as_object().into_iter().flatten() {
            let (text, expand) = match value {
                Value::String(text) => (text.clone(), true),
                other => (
                    other["value"].as_str().expect("value").to_string(),
                    other["expand"] != "false",
                ),
            };
            assert!(
                !expand || !text.contains('$'),
                "GitLab would expand $ in {name}: set expand: false"
            );
            variables.insert(name.clone(), text);
        }
    }
    for (name, value) in overrides {
        variables.insert(name.to_string(), value.to_string());
    }
    let mut lines = Vec::new();
    for part in ["before_script", "script"] {
        if let Some(commands) = job.get(part) {
            lines.extend(strings(commands, part));
        }
    }
    let dir = TempDir::new("recipe-gitlab");
    let script = dir.file("job.sh");
    std::fs::write(&script, lines.join("\n")).unwrap();
    let path = path_with(&dir.file("no-stand-ins"));
    let mut all: Vec<(&str, &str)> = variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.push(("PATH", &path));
    all.extend_from_slice(vars);
    let run = run_script(
        &["bash", "--noprofile", "--norc", "-eo", "pipefail"],
        &script,
        dir.path(),
        &all,
    );
    let dotenv = std::fs::read_to_string(dir.file("stillup.env")).unwrap_or_default();
    // What the job keeps as artifacts is there, whether it passed or failed.
    if run.code != Some(2) {
        for artifact in strings(&job["artifacts"]["paths"], "artifacts.paths") {
            let path = dir.file(&artifact);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            assert!(size > 0, "the job left no {artifact}\n{run}");
        }
    }
    (run, dotenv)
}

#[test]
fn gitlab_job_hands_the_outcome_to_later_jobs() {
    let file = &yaml_documents("gitlab-ci/.gitlab-ci.yml")[0];
    let job = &file["wait-for-staging"];
    assert_eq!(job["artifacts"]["reports"]["dotenv"], "stillup.env");
    assert_eq!(
        job["artifacts"]["when"], "always",
        "the report of a failed wait is kept"
    );

    let dir = TempDir::new("recipe-gitlab-servers");
    let (healthy, pem) = tls_server(&dir, "staging.example.com", 200, "healthy");
    let rules = connect_to(&[("staging.example.com:443", healthy.port())]);
    let trust = pem.to_str().unwrap();
    let vars = [
        ("STILLUP_CONNECT_TO", rules.as_str()),
        ("SSL_CERT_FILE", trust),
    ];
    let (run, dotenv) = run_gitlab_job(&[], &vars);
    run.assert_code(0);
    assert!(
        dotenv.starts_with("WAIT_OUTCOME=healthy\nWAIT_ELAPSED="),
        "{dotenv}\n{run}"
    );
    assert!(dotenv.ends_with("WAIT_FAILURE_CLASS=\n"), "{dotenv}");

    // The JSON condition is read (expand: false kept its $): "degraded" is not healthy.
    let (degraded, pem) = tls_server(&dir, "staging.example.com", 200, "degraded");
    let rules = connect_to(&[("staging.example.com:443", degraded.port())]);
    let trust = pem.to_str().unwrap();
    let vars = [
        ("STILLUP_CONNECT_TO", rules.as_str()),
        ("SSL_CERT_FILE", trust),
    ];
    let (run, dotenv) = run_gitlab_job(&[("STILLUP_TIMEOUT", "2s")], &vars);
    run.assert_code(1)
        .assert_within(Duration::from_secs(2) + SLACK);
    assert!(dotenv.contains("WAIT_OUTCOME=gave_up\n"), "{dotenv}\n{run}");
    assert!(
        dotenv.contains("WAIT_FAILURE_CLASS=condition_failed\n"),
        "{dotenv}"
    );

    // 401: the variables' --fail-fast gives up at once.
    let (denied, pem) = tls_server(&dir, "staging.example.com", 401, "denied");
    let rules = connect_to(&[("staging.example.com:443", denied.port())]);
    let trust = pem.to_str().unwrap();
    let vars = [
        ("STILLUP_CONNECT_TO", rules.as_str()),
        ("SSL_CERT_FILE", trust),
    ];
    let (run, dotenv) = run_gitlab_job(&[], &vars);
    run.assert_code(3);
    assert!(
        dotenv.contains("WAIT_FAILURE_CLASS=http_status\n"),
        "{dotenv}\n{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// Deploy scripts

#[test]
fn deploy_scripts_roll_back_or_fail_at_once_by_the_failure_class() {
    let Some(pg) = services::running(services::POSTGRES, "recipes deploy scripts") else {
        return;
    };
    let servers = TempDir::new("recipe-deploy-servers");
    let cert = self_signed(&["api.example.com"], None);
    let healthy = tls_status_server(&cert, 200, "healthy");
    let busy = tls_status_server(&cert, 503, "migrating");
    let trusted = cert.write_pem(&servers, "api.pem");
    let trusted = trusted.to_str().unwrap().to_string();
    // The bash script reads the report with jq, the Python one parses stdout itself.
    for (script, interpreter) in [
        ("deploy-scripts/deploy.sh", "bash"),
        ("deploy-scripts/deploy.py", "python3"),
    ] {
        let path = recipes_dir().join(script);
        let scenario = |api_port: u16, trust: Option<&str>, timeout: &str| {
            let dir = TempDir::new("recipe-deploy");
            let bin = kubectl_stand_in(&dir, "0");
            let search = path_with(&bin);
            let rules = connect_to(&[
                ("api.example.com:443", api_port),
                ("db.example.com:5432", pg.port()),
            ]);
            let mut vars = vec![
                ("IMAGE", "registry.example.com/api:1.4.3"),
                ("DB_URL", "postgres://db.example.com:5432/test"),
                ("TIMEOUT", timeout),
                ("STILLUP_CONNECT_TO", rules.as_str()),
                ("PATH", search.as_str()),
            ];
            if let Some(trust) = trust {
                vars.push(("SSL_CERT_FILE", trust));
            }
            let run = run_script(&[interpreter], &path, dir.path(), &vars);
            (run, kubectl_log(&dir))
        };

        let (run, kubectl) = scenario(healthy.port(), Some(&trusted), "10s");
        run.assert_code(0);
        assert!(run.stdout.contains("is healthy"), "{script}\n{run}");
        assert_eq!(
            kubectl, "set image deployment/api api=registry.example.com/api:1.4.3\n",
            "{script}"
        );

        for (port, class) in [(closed_port(), "refused"), (busy.port(), "http_status")] {
            let (run, kubectl) = scenario(port, Some(&trusted), "2s");
            run.assert_code(1)
                .assert_within(Duration::from_secs(2) + SLACK);
            assert!(
                run.stderr.contains(&format!("({class}); rolling back")),
                "{script}\n{run}"
            );
            assert!(
                kubectl.ends_with("rollout undo deployment/api\n"),
                "{script}: {kubectl}"
            );
        }

        // Not trusted: fail at once (long before the 30 s deadline), without a rollback that
        // would not help.
        let (run, kubectl) = scenario(healthy.port(), None, "30s");
        run.assert_code(3).assert_within(Duration::from_secs(10));
        assert!(run.stderr.contains("TLS"), "{script}\n{run}");
        assert!(run.stderr.contains("not rolling back"), "{script}\n{run}");
        assert!(!kubectl.contains("undo"), "{script}: {kubectl}");
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas and coverage

/// `check-jsonschema`, as `scripts/recipe-checkers.sh` installs it; `None` (loudly) when it is
/// absent, a panic instead under `.ci/run`.
fn schema_checker(test: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/recipe-checkers/bin/check-jsonschema");
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os(services::REQUIRE_VARIABLE).is_some() {
        panic!(
            "{test} needs {}: run scripts/recipe-checkers.sh",
            path.display()
        );
    }
    eprintln!(
        "\n!!!!! SKIPPED {test}: check-jsonschema is not installed at {}; `bash scripts/recipe-checkers.sh` installs it !!!!!\n",
        path.display()
    );
    None
}

fn check_schema(checker: &Path, schema: &str, file: &Path) -> Run {
    let mut cmd = wrapper(
        checker.to_str().unwrap(),
        ["--builtin-schema", schema, file.to_str().unwrap()],
    );
    cmd.timeout(Duration::from_secs(60));
    run_to_end(cmd)
}

#[test]
fn yaml_recipes_match_their_published_schemas() {
    let Some(checker) = schema_checker("recipes schemas") else {
        return;
    };
    let cases = [
        ("compose/compose.yaml", "vendor.compose-spec"),
        ("github-actions/action.yml", "vendor.github-actions"),
        ("github-actions/workflow.yml", "vendor.github-workflows"),
        ("gitlab-ci/.gitlab-ci.yml", "vendor.gitlab-ci"),
    ];
    let dir = TempDir::new("recipe-schemas");
    for (name, schema) in cases {
        let file = recipes_dir().join(name);
        let run = check_schema(&checker, schema, &file);
        run.assert_code(0);
        assert!(run.stdout.contains("ok"), "{name}\n{run}");
        // The checker does check: the same file with a key the schema does not allow fails.
        let broken = dir.file(&format!("broken-{}", name.replace('/', "-")));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &broken,
            format!("{text}\nnot_a_key_{schema}: [1, 2]\nnot-a-key: {{}}\n"),
        )
        .unwrap();
        let run = check_schema(&checker, schema, &broken);
        assert_eq!(run.code, Some(1), "{name}: a broken copy passed\n{run}");
    }
}

#[test]
fn every_recipe_file_is_run_by_a_test() {
    fn walk(dir: &Path, base: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, found);
            } else {
                let relative = path.strip_prefix(base).unwrap();
                found.push(relative.to_str().unwrap().to_string());
            }
        }
    }
    let base = recipes_dir();
    let mut found = Vec::new();
    walk(&base, &base, &mut found);
    found.sort();
    assert_eq!(
        found, RECIPE_FILES,
        "docs/recipes/ and the files these tests run"
    );
    // Every file a README links to exists.
    for name in RECIPE_FILES.iter().filter(|n| n.ends_with("README.md")) {
        let text = read_recipe(name);
        let dir = Path::new(name).parent().unwrap();
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap();
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let target = target.split('#').next().unwrap();
            assert!(
                recipes_dir().join(dir).join(target).exists(),
                "{name} links to {target}, which does not exist"
            );
        }
    }
}
