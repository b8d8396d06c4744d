//! Configuration for containers and compose files: every option also comes from its
//! `STILLUP_*` variable and from a TOML file (`--config`, `STILLUP_CONFIG`) with
//! `[defaults]` and named `[targets.NAME]`. Precedence is flag > variable > file > default;
//! a target's own options reach that target's probe only; a bad file exits 2 naming file,
//! line and key before anything is sent.

use super::support::*;

/// A config file holding `text`, in a fresh directory removed when the guard drops.
fn config_file(text: &str) -> (TempDir, String) {
    let dir = TempDir::new("config");
    let path = dir.file("stillup.toml");
    std::fs::write(&path, text).expect("the config file can be written");
    (dir, path.display().to_string())
}

/// `stillup ARGS… --output json` with `vars` set; `args` start with the subcommand.
fn json_run(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    stillup_with_env(all, vars)
}

fn target_urls(report: &serde_json::Value) -> Vec<String> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn timeout_comes_from_the_flag_then_the_variable_then_the_file_then_the_default() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let (_dir, path) = config_file("[defaults]\ntimeout = \"7s\"\n");
    let timeout_ms = |args: &[&str], vars: &[(&str, &str)]| {
        let mut all = vec!["wait", url.as_str()];
        all.extend_from_slice(args);
        let run = json_run(&all, vars);
        run.assert_code(0);
        run.json()["timeout_ms"].as_f64().unwrap()
    };
    let with_file = ["--config", path.as_str()];
    assert_eq!(timeout_ms(&[], &[]), 120_000.0, "the default");
    assert_eq!(timeout_ms(&with_file, &[]), 7_000.0, "the file");
    assert_eq!(
        timeout_ms(&[], &[("STILLUP_CONFIG", &path)]),
        7_000.0,
        "the file, named by STILLUP_CONFIG"
    );
    assert_eq!(
        timeout_ms(&with_file, &[("STILLUP_TIMEOUT", "8s")]),
        8_000.0,
        "the variable over the file"
    );
    assert_eq!(
        timeout_ms(
            &["--config", &path, "--timeout", "9s"],
            &[("STILLUP_TIMEOUT", "8s")]
        ),
        9_000.0,
        "the flag over the variable"
    );
}

#[test]
fn expect_status_comes_from_the_flag_then_the_variable_then_the_file_then_the_default() {
    // 203 is in the default 2xx, and is not 200.
    let server = serve(Behavior::Respond(Reply::text(203, "ok")));
    let url = server.url("/health");
    let (_dir, path) = config_file(&format!(
        "[defaults]\nexpect-status = \"203\"\n\n[targets.api]\nurl = \"{url}\"\nexpect-status = \"200\"\n"
    ));
    let (_dir2, defaults_only) = config_file("[defaults]\nexpect-status = \"200\"\n");
    let check = |args: &[&str], vars: &[(&str, &str)]| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        json_run(&all, vars)
    };
    let healthy = |run: Run| {
        run.assert_code(0);
    };
    let wrong_status = |run: Run| {
        run.assert_code(1);
        assert_eq!(last_class(&run.json()), "http_status", "{run}");
    };
    healthy(check(&[&url], &[]));
    wrong_status(check(&[&url, "--config", &defaults_only], &[]));
    // The target's own table over [defaults].
    wrong_status(check(&["--config", &path], &[]));
    healthy(check(
        &["--config", &path],
        &[("STILLUP_EXPECT_STATUS", "203")],
    ));
    healthy(check(
        &[&url, "--config", &defaults_only],
        &[("STILLUP_EXPECT_STATUS", "2xx")],
    ));
    wrong_status(check(
        &["--config", &path, "--expect-status", "200"],
        &[("STILLUP_EXPECT_STATUS", "203")],
    ));
    // A URL on the command line takes [defaults] only.
    healthy(check(&[&url, "--config", &path], &[]));
}

#[test]
fn each_file_target_is_judged_by_its_own_conditions_and_sends_its_own_request() {
    let api = serve_json(r#"{"status":"healthy"}"#);
    let worker = serve_json(r#"{"state":"ready"}"#);
    let table = |api_condition: &str, worker_condition: &str| {
        format!(
            r#"
[defaults]
header = ["X-Team: ops"]

[targets.api]
url = "{}"
expect-json = ['{api_condition}']
method = "POST"
headers = ["X-Who: api"]

[targets.worker]
url = "{}"
expect-json = ['{worker_condition}']
"#,
            api.url("/health"),
            worker.url("/health"),
        )
    };
    let (_dir, path) = config_file(&table(r#"$.status == "healthy""#, r#"$.state == "ready""#));
    let run = json_run(&["check", "--config", &path], &[]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(
        target_urls(&report),
        [api.url("/health"), worker.url("/health")],
        "all file targets, in the file's order"
    );

    let seen = api.request_log();
    assert_eq!(seen[0].method, "POST", "{seen:?}");
    assert_eq!(seen[0].header("X-Who"), Some("api"), "{seen:?}");
    assert_eq!(
        seen[0].header("X-Team"),
        None,
        "a target's list replaces [defaults]' list: {seen:?}"
    );
    let seen = worker.request_log();
    assert_eq!(seen[0].method, "GET", "{seen:?}");
    assert_eq!(seen[0].header("X-Team"), Some("ops"), "{seen:?}");
    assert_eq!(seen[0].header("X-Who"), None, "{seen:?}");

    // Swapped, each condition fails on the other's body: they never leaked across.
    let (_dir, swapped) = config_file(&table(r#"$.state == "ready""#, r#"$.status == "healthy""#));
    let run = json_run(&["check", "--config", &swapped], &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(
        classes_of(target(&report, 0)),
        ["condition_failed"],
        "{run}"
    );
    assert_eq!(
        classes_of(target(&report, 1)),
        ["condition_failed"],
        "{run}"
    );
}

#[test]
fn named_targets_select_from_the_file_and_the_others_are_never_contacted() {
    let api = serve(Behavior::Respond(Reply::text(200, "ok")));
    let broken = serve(Behavior::Respond(Reply::status(503)));
    let extra = serve(Behavior::Respond(Reply::text(200, "ok")));
    let (_dir, path) = config_file(&format!(
        "[targets.broken]\nurl = \"{}\"\n\n[targets.api]\nurl = \"{}\"\n",
        broken.url("/health"),
        api.url("/health"),
    ));
    let run = json_run(&["check", "--config", &path, "@api"], &[]);
    run.assert_code(0);
    assert_eq!(target_urls(&run.json()), [api.url("/health")]);
    assert_eq!(
        broken.connections(),
        0,
        "an unnamed file target was contacted"
    );

    // Through STILLUP_TARGETS too, mixed with a plain URL, separated by spaces and newlines.
    let targets = format!("@api\n  {}", extra.url("/health"));
    let run = json_run(
        &["check", "--config", &path],
        &[("STILLUP_TARGETS", &targets)],
    );
    run.assert_code(0);
    assert_eq!(
        target_urls(&run.json()),
        [api.url("/health"), extra.url("/health")]
    );
    assert_eq!(broken.connections(), 0);

    // With no target named, every file target runs.
    let run = json_run(&["check", "--config", &path], &[]);
    run.assert_code(1);
    assert_eq!(
        target_urls(&run.json()),
        [broken.url("/health"), api.url("/health")]
    );
}

#[test]
fn file_targets_are_called_by_their_names_in_every_output() {
    let api = serve(Behavior::Respond(Reply::text(200, "ok")));
    let broken = serve(Behavior::Respond(Reply::status(503)));
    let plain = serve(Behavior::Respond(Reply::text(200, "ok")));
    let (_dir, path) = config_file(&format!(
        "[targets.api]\nurl = \"{}\"\n\n[targets.payments]\nurl = \"{}\"\n",
        api.url("/health"),
        broken.url("/health"),
    ));
    let args = [
        "check",
        "--config",
        &path,
        "@api",
        "@payments",
        &plain.url("/"),
    ];
    let run = json_run(&args, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    let names: Vec<Option<&str>> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, [Some("api"), Some("payments"), None]);
    assert!(target(&report, 2)["name"].is_null());
    assert_eq!(target(&report, 1)["target"], broken.url("/health").as_str());

    // The summary table: names where there are names, the URL otherwise.
    let run = stillup_with_env(args, &[]);
    run.assert_code(1);
    let row = |start: &str| {
        run.stderr
            .lines()
            .find(|line| line.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no row for {start}:\n{run}"))
            .to_string()
    };
    assert!(row("payments ").contains("[http_status]"), "{run}");
    assert!(row("api ").contains("healthy"), "{run}");
    assert!(row(&plain.url("/")).contains("healthy"), "{run}");
    assert!(!run.stderr.contains(&api.url("/health")), "{run}");
}

/// A config-error case: the file's text (`{url}` stands for a live server's URL, `None` for
/// no file written), the arguments after the subcommand, variables, and words stderr must
/// hold; run under `wait` and `check` (whose one attempt still judges wait-only keys).
struct Case {
    name: &'static str,
    commands: &'static [&'static str],
    file: Option<&'static str>,
    args: Vec<&'static str>,
    vars: Vec<(&'static str, &'static str)>,
    mentions: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let case = |name, file, args: &[&'static str], mentions: &[&'static str]| Case {
        name,
        commands: &["wait", "check"],
        file,
        args: args.to_vec(),
        vars: Vec::new(),
        mentions: mentions.to_vec(),
    };
    vec![
        case(
            "unknown key at the top",
            Some("timeout = \"2m\"\n"),
            &["{url}"],
            &["stillup.toml:1", "timeout", "unknown key", "[defaults]"],
        ),
        case(
            "unknown key in [defaults]",
            Some("[defaults]\ntimout = \"2m\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.timout", "did you mean timeout"],
        ),
        case(
            "unknown key in a target",
            Some("[targets.api]\nurl = \"{url}\"\n\ncolour = \"never\"\n"),
            &[],
            &["stillup.toml:4", "targets.api.colour", "unknown key"],
        ),
        case(
            "wrong type",
            Some("[defaults]\ninsecure = \"yes\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.insecure", "boolean"],
        ),
        case(
            "wrong type inside a list",
            Some("[targets.api]\nurl = \"{url}\"\nexpect-json = [\n  '$.ok == true',\n  3,\n]\n"),
            &[],
            &["stillup.toml:5", "targets.api.expect-json", "a string"],
        ),
        case(
            "bad duration",
            Some("# deadlines\n[defaults]\ntimeout = \"90\"\n"),
            &["{url}"],
            &[
                "stillup.toml:3: defaults.timeout: invalid duration \"90\": add a unit, e.g. 90s or 90ms",
            ],
        ),
        case(
            "bare number for a duration",
            Some("[targets.api]\nurl = \"{url}\"\nmax-latency = 90\n"),
            &[],
            &["stillup.toml:3", "targets.api.max-latency", "invalid duration \"90\"", "add a unit"],
        ),
        case(
            "bad condition",
            Some("[targets.api]\nurl = \"{url}\"\nexpect-json = [\n  '$.ok == true',\n  '$.status',\n]\n"),
            &[],
            &["stillup.toml:5", "targets.api.expect-json", "invalid condition", "$.status"],
        ),
        case(
            "bad status set",
            Some("[defaults]\nexpect-status = \"7xx\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.expect-status", "7xx"],
        ),
        case(
            "bad size",
            Some("[defaults]\nmax-body = \"lots\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.max-body", "invalid size \"lots\""],
        ),
        case(
            "bad choice",
            Some("[defaults]\nbackoff = \"linear\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.backoff", "fixed, exponential"],
        ),
        case(
            "missing url",
            Some("[defaults]\ntimeout = \"2m\"\n\n[targets.api]\nexpect-status = \"200\"\n"),
            &[],
            &["stillup.toml:4", "targets.api", "no url"],
        ),
        case(
            "bad url",
            Some("[targets.api]\nurl = \"ftp://127.0.0.1/\"\n"),
            &[],
            &["stillup.toml:2", "targets.api.url", "ftp"],
        ),
        case(
            "run-wide key in a target",
            Some("[targets.api]\nurl = \"{url}\"\ntimeout = \"5s\"\n"),
            &[],
            &["stillup.toml:3", "targets.api.timeout", "[defaults]"],
        ),
        case(
            "an interval under the floor",
            Some("[defaults]\ninterval = \"1ns\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.interval", "at least 10ms"],
        ),
        case(
            "a refused-interval under the floor",
            Some("[defaults]\nrefused-interval = \"2ms\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.refused-interval", "at least 10ms"],
        ),
        case(
            "url in [defaults]",
            Some("[defaults]\nurl = \"{url}\"\n"),
            &["{url}"],
            &["stillup.toml:2", "defaults.url", "[targets.NAME]"],
        ),
        case(
            "HTTP option on a tcp target",
            Some("[targets.db]\nurl = \"tcp://{addr}\"\nexpect-status = \"200\"\n"),
            &[],
            &["stillup.toml:3", "targets.db.expect-status", "tcp://", "does not apply"],
        ),
        case(
            "HTTP option in [defaults] with a tcp target",
            Some("[defaults]\nheader = [\"x-a: b\"]\n"),
            &["tcp://{addr}"],
            &["stillup.toml:2", "defaults.header", "tcp://{addr}", "a TCP target"],
        ),
        case(
            "HTTP-only option in a grpc target's table",
            Some("[targets.api]\nurl = \"grpc://{addr}\"\nexpect-json = \"$.x == 1\"\n"),
            &[],
            &["stillup.toml:3", "targets.api.expect-json", "a gRPC target", "http://, https://"],
        ),
        case(
            "HTTP option on the command line with an http and a tcp target",
            None,
            &["{url}", "tcp://{addr}", "--expect-status", "200"],
            &["--expect-status", "tcp://{addr}", "[targets.NAME]"],
        ),
        case(
            "client certificate without its key",
            Some("[targets.api]\nurl = \"{url}\"\ncert = \"client.pem\"\n"),
            &[],
            &["stillup.toml:3", "targets.api.cert", "key"],
        ),
        case(
            "unknown @name",
            Some("[targets.api]\nurl = \"{url}\"\n"),
            &["@apx"],
            &["@apx", "stillup.toml", "[targets.apx]", "@api"],
        ),
        case(
            "@name without a config file",
            None,
            &["@api"],
            &["@api", "--config"],
        ),
        case(
            "unreadable file",
            None,
            &["{url}", "--config", "{dir}/missing.toml"],
            &["--config", "missing.toml", "cannot read"],
        ),
        case(
            "invalid TOML",
            Some("[defaults]\ntimeout = \"2m\"\n[targets.api\nurl = \"{url}\"\n"),
            &[],
            &["stillup.toml:3", "invalid TOML"],
        ),
        Case {
            // `check` judges wait's variables as it judges the file's wait-only keys.
            vars: vec![("STILLUP_TIMEOUT", "90")],
            ..case(
                "bad value in a variable",
                None,
                &["{url}"],
                &["STILLUP_TIMEOUT", "\"90\"", "add a unit"],
            )
        },
    ]
}

#[test]
fn every_config_error_exits_2_with_one_line_naming_file_line_and_key_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let addr = server.addr().to_string();
    for case in cases() {
        let dir = TempDir::new("config-error");
        let dir_path = dir.file("").display().to_string();
        let fill = |text: &str| {
            text.replace("{url}", &url)
                .replace("{addr}", &addr)
                .replace("{dir}/", &dir_path)
        };
        let mut args: Vec<String> = vec!["wait".into()];
        args.extend(case.args.iter().map(|a| fill(a)));
        if let Some(text) = case.file {
            let path = dir.file("stillup.toml");
            std::fs::write(&path, fill(text)).unwrap();
            args.extend(["--config".to_string(), path.display().to_string()]);
        }
        for subcommand in case.commands {
            args[0] = subcommand.to_string();
            let run = stillup_with_env(&args, &case.vars);
            let what = format!("{} ({subcommand})", case.name);
            let line = run.usage_error_line(&what);
            assert!(line.starts_with("stillup: "), "{what}\n{run}");
            for word in &case.mentions {
                assert!(
                    line.contains(&fill(word)),
                    "{what}: {word:?} missing from {:?}",
                    line
                );
            }
        }
        assert_eq!(
            server.connections(),
            0,
            "{}: connected before rejecting the configuration",
            case.name
        );
    }
}

#[test]
fn a_repeatable_option_takes_one_value_per_line_of_its_variable() {
    let half = serve_json(r#"{"a":1,"b":3}"#);
    let both = serve_json(r#"{"a":1,"b":2}"#);
    // As a compose file's `STILLUP_EXPECT_JSON: |` block gives it: trailing newline included.
    let conditions = "$.a == 1\n  $.b == 2\n";
    let run = json_run(
        &["check", &half.url("/health")],
        &[("STILLUP_EXPECT_JSON", conditions)],
    );
    run.assert_code(1);
    assert_eq!(last_class(&run.json()), "condition_failed", "{run}");
    assert!(last_message(&run.json()).contains("$.b"), "{run}");
    json_run(
        &["check", &both.url("/health")],
        &[("STILLUP_EXPECT_JSON", conditions)],
    )
    .assert_code(0);

    let run = json_run(
        &["check", &both.url("/health")],
        &[("STILLUP_HEADER", "X-One: 1, 2\nX-Two: two words\n")],
    );
    run.assert_code(0);
    let seen = both.request_log().pop().unwrap();
    assert_eq!(seen.header("X-One"), Some("1, 2"), "{seen:?}");
    assert_eq!(seen.header("X-Two"), Some("two words"), "{seen:?}");

    // Flags replace the variable's values; they do not add to them.
    json_run(
        &["check", &half.url("/health"), "--expect-json", "$.a == 1"],
        &[("STILLUP_EXPECT_JSON", conditions)],
    )
    .assert_code(0);
}

#[test]
fn paths_in_the_file_are_relative_to_it_and_a_flag_replaces_the_files_body() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("config-paths");
    std::fs::write(dir.file("body.json"), r#"{"deep":true}"#).unwrap();
    let path = dir.file("stillup.toml");
    std::fs::write(
        &path,
        format!(
            "[targets.api]\nurl = \"{}\"\nmethod = \"POST\"\ndata-file = \"body.json\"\n",
            server.url("/health")
        ),
    )
    .unwrap();
    let path = path.display().to_string();
    json_run(&["check", "--config", &path], &[]).assert_code(0);
    let seen = server.request_log().pop().unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("Content-Length"), Some("13"), "{seen:?}");

    json_run(&["check", "--config", &path, "--data", "{}"], &[]).assert_code(0);
    let seen = server.request_log().pop().unwrap();
    assert_eq!(seen.header("Content-Length"), Some("2"), "{seen:?}");
}

#[test]
fn help_never_prints_the_values_of_secret_variables() {
    let vars = [
        ("STILLUP_BEARER", "s3cret-bearer"),
        ("STILLUP_USER", "alice:s3cret-user"),
        ("STILLUP_HEADER", "Authorization: Bearer s3cret-header"),
        ("STILLUP_DATA", "{\"password\":\"s3cret-data\"}"),
        ("STILLUP_TARGETS", "http://alice:s3cret-url@127.0.0.1:1/"),
    ];
    for args in [
        &["wait", "--help"][..],
        &["check", "--help"],
        &["wait", "-h"],
        &["man"],
    ] {
        let run = stillup_with_env(args, &vars);
        run.assert_code(0);
        assert!(!run.stdout.is_empty(), "{args:?}\n{run}");
        assert!(
            !run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"),
            "{args:?} printed a secret\n{run}"
        );
    }
}

#[test]
fn a_body_from_stdin_is_read_once_and_sent_to_every_file_target() {
    let plain = serve(Behavior::Respond(Reply::text(200, "ok")));
    let own = serve(Behavior::Respond(Reply::text(200, "ok")));
    let (_dir, path) = config_file(&format!(
        "[targets.plain]\nurl = \"{}\"\n\n[targets.own]\nurl = \"{}\"\nmethod = \"PUT\"\n",
        plain.url("/health"),
        own.url("/health"),
    ));
    let run = stillup_with_stdin(
        ["check", "--config", &path, "--data-file", "-", "-X", "POST"],
        "hello",
    );
    run.assert_code(0);
    let plain = plain.request_log().pop().unwrap();
    let own = own.request_log().pop().unwrap();
    assert_eq!(
        (plain.method.as_str(), plain.header("Content-Length")),
        ("POST", Some("5"))
    );
    assert_eq!(
        (own.method.as_str(), own.header("Content-Length")),
        ("POST", Some("5")),
        "the flag's method wins over the target's, and the body is the same"
    );
}

/// A config file's per-target tables are the exact way to give an HTTP option to the HTTP
/// targets of a mixed run; a tcp target's table takes the options that apply to TCP
/// (`resolve`, `max-latency`), which it used to refuse as HTTP options.
#[test]
fn per_target_tables_give_each_kind_the_options_that_apply_to_it() {
    let api = serve(Behavior::Respond(Reply::text(404, "gone")));
    let db = serve(Behavior::Respond(Reply::text(200, "ok")));
    let text = format!(
        "[targets.api]\nurl = \"{}\"\nexpect-status = \"404\"\nheader = [\"x-a: b\"]\n\n\
         [targets.db]\nurl = \"tcp://db.test:{}\"\nresolve = [\"db.test:{}:127.0.0.1\"]\n\
         max-latency = \"10s\"\n",
        api.url("/health"),
        db.addr().port(),
        db.addr().port(),
    );
    let (_dir, path) = config_file(&text);
    let run = json_run(&["check", "--config", &path], &[]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(classes_of(target(&report, 0)), [HEALTHY], "{run}");
    assert_eq!(classes_of(target(&report, 1)), [HEALTHY], "{run}");
    assert_eq!(api.requests(), 1);
    assert_eq!(db.requests(), 0, "tcp:// sends nothing");
}
