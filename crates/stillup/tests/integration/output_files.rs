//! One output scheme for `wait`, `check` and `watch`: `--output human|json|openmetrics` for
//! stdout and a repeatable `--output-file` (format by extension or `FORMAT=FILE`; `watch
//! --report` its HTML alias), from the flag, `STILLUP_OUTPUT_FILE` or the config file. Files
//! are checked before any request and replaced whole at the end; a failed write exits 5; the
//! metrics pages pass `promtool check metrics`; no file holds a secret.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use stillup_testkit::prometheus::{installed, promtool_check_metrics, PROMTOOL};

use super::support::*;

const PASSWORD: &str = "hunter2";
const QUERY_SECRET: &str = "QuerySecret1";
/// base64("admin:hunter2").
const ENCODED: &str = "YWRtaW46aHVudGVyMg==";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()))
}

fn json_file(path: &Path) -> Value {
    let text = read(path);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not one JSON document ({e}):\n{text}", path.display()))
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

/// The value of the sample `name{…labels…}` whose labels include every one of `labels`.
#[track_caller]
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = page
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no value in {line:?}"))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one sample {name} with {labels:?} in:\n{page}"
    );
    found[0]
}

#[track_caller]
fn assert_promtool_accepts(page: &str, what: &str) {
    if !installed(&[PROMTOOL], what) {
        return;
    }
    match promtool_check_metrics(page) {
        Ok(said) => assert!(said.trim().is_empty(), "promtool on {what}: {said}\n{page}"),
        Err(e) => panic!("promtool on {what}: {e}\n{page}"),
    }
}

/// The rules of OpenMetrics 1.0 a page of ours must keep (promtool here reads only
/// Prometheus' format): every sample belongs to the family declared last, by its name or
/// the name with its type's suffix; no family twice; `# EOF` ends the page.
#[track_caller]
fn assert_openmetrics(page: &str) {
    assert!(page.ends_with("# EOF\n"), "{page}");
    let mut declared: Vec<(String, String)> = Vec::new();
    for line in page.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE NAME KIND");
            assert!(
                !declared.iter().any(|(n, _)| n == name),
                "{name} declared twice\n{page}"
            );
            assert!(
                ["gauge", "counter", "info", "histogram"].contains(&kind),
                "{line}"
            );
            declared.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (family, kind) = declared.last().expect("a sample after a TYPE line");
        let name = line.split(['{', ' ']).next().unwrap();
        let expected = match kind.as_str() {
            "info" => format!("{family}_info"),
            "counter" => format!("{family}_total"),
            _ => family.clone(),
        };
        assert_eq!(name, expected, "{line}\n{page}");
    }
}

#[test]
fn json_to_a_file_keeps_stdout_for_the_command() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("json-command");
    let file = dir.file("result.json");
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "5s",
        "--output-file",
        &s(&file),
        "--",
        "echo",
        "from-the-command",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout, "from-the-command\n", "{run}");
    let report = json_file(&file);
    assert_eq!(report["outcome"], "healthy");
    assert_eq!(report["command"], "wait");
    assert_matches_schema(&report);
}

#[test]
fn the_extension_or_a_format_name_chooses_each_files_format() {
    let server = serve(Behavior::Respond(Reply::text(503, "starting")));
    let dir = TempDir::new("formats");
    let (json, prom, om, json_txt, om_data) = (
        dir.file("a.json"),
        dir.file("b.prom"),
        dir.file("c.om"),
        dir.file("d.txt"),
        dir.file("e.data"),
    );
    let url = server.url("/health");
    let run = stillup([
        "check",
        &url,
        "--output-file",
        &s(&json),
        "--output-file",
        &s(&prom),
        "--output-file",
        &s(&om),
        "--output-file",
        &format!("json={}", s(&json_txt)),
        "--output-file",
        &format!("openmetrics={}", s(&om_data)),
    ]);
    run.assert_code(1);
    assert!(
        run.stdout.is_empty(),
        "human output keeps stdout empty\n{run}"
    );
    for file in [&json, &json_txt] {
        let report = json_file(file);
        assert_eq!(report["outcome"], "gave_up");
        assert_eq!(target(&report, 0)["last_failure"]["class"], "http_status");
    }
    let prom = read(&prom);
    assert!(!prom.contains("# EOF"), "{prom}");
    assert!(
        prom.contains("# TYPE stillup_target_failure_info gauge\n"),
        "{prom}"
    );
    let labels = [("target", url.as_str()), ("kind", "http")];
    assert_eq!(sample(&prom, "stillup_run_success", &[]), 0.0);
    assert_eq!(sample(&prom, "stillup_run_exit_code", &[]), 1.0);
    assert_eq!(sample(&prom, "stillup_target_healthy", &labels), 0.0);
    assert_eq!(sample(&prom, "stillup_target_attempts", &labels), 1.0);
    assert_eq!(
        sample(&prom, "stillup_target_http_status_code", &labels),
        503.0
    );
    let mut failed = labels.to_vec();
    failed.push(("class", "http_status"));
    assert_eq!(sample(&prom, "stillup_target_failure_info", &failed), 1.0);
    for file in [&om, &om_data] {
        let page = read(file);
        assert_openmetrics(&page);
        assert!(
            page.contains("# TYPE stillup_target_failure info\n"),
            "{page}"
        );
        assert_eq!(sample(&page, "stillup_target_failure_info", &failed), 1.0);
    }
}

#[test]
fn openmetrics_goes_to_stdout() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for command in ["wait", "check"] {
        let run = stillup([command, url.as_str(), "--output", "openmetrics"]);
        run.assert_code(0);
        assert_openmetrics(&run.stdout);
        let info = [("command", command), ("outcome", "healthy")];
        assert_eq!(sample(&run.stdout, "stillup_run_info", &info), 1.0);
        assert_eq!(sample(&run.stdout, "stillup_run_success", &[]), 1.0);
        assert_eq!(
            sample(&run.stdout, "stillup_target_healthy", &[("target", &url)]),
            1.0
        );
        assert!(!run.stdout.contains("stillup_target_failure"), "{run}");
    }
    let run = stillup([
        "watch",
        url.as_str(),
        "--duration",
        "1s",
        "--rate",
        "10/s",
        "-o",
        "openmetrics",
    ]);
    run.assert_code(0);
    assert_openmetrics(&run.stdout);
    assert_eq!(
        sample(
            &run.stdout,
            "stillup_watch_availability_ratio",
            &[("target", &url)]
        ),
        1.0
    );
}

#[test]
fn promtool_accepts_every_prometheus_page() {
    let healthy = serve(Behavior::Respond(Reply::text(200, "ok")));
    let failing = serve(Behavior::Respond(Reply::text(503, "no")));
    let refused = format!("tcp://127.0.0.1:{}", closed_port());
    let dir = TempDir::new("promtool");
    let ok = healthy.url("/health");
    let bad = failing.url("/health?q=a\"quote\\and");
    let runs: [(&str, Vec<&str>); 3] = [
        ("wait", vec!["wait", &ok, &bad, &refused, "--timeout", "1s"]),
        ("check", vec!["check", &ok, &bad, &refused]),
        (
            "watch",
            vec![
                "watch",
                &ok,
                &bad,
                "--duration",
                "1s",
                "--rate",
                "10/s",
                "--max-downtime",
                "0s",
            ],
        ),
    ];
    for (what, args) in runs {
        let file = dir.file(&format!("{what}.prom"));
        let path = s(&file);
        let mut args = args.clone();
        args.extend(["--output-file", &path]);
        let run = stillup(&args);
        assert!(matches!(run.code, Some(1 | 4)), "{what}\n{run}");
        let page = read(&file);
        assert_promtool_accepts(&page, what);
        assert_eq!(sample(&page, "stillup_run_success", &[]), 0.0, "{what}");
    }
}

#[test]
fn an_output_file_that_cannot_be_written_is_refused_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let dir = TempDir::new("refused");
    let plain = dir.file("plain-file");
    std::fs::write(&plain, "x").unwrap();
    let cases = [
        "/nonexistent-stillup-dir/out.json".to_string(),
        format!("json={}", s(dir.path())),
        s(&plain.join("out.prom")),
        s(&plain.join("summary.md")),
        s(&dir.file("out.txt")),
    ];
    for path in &cases {
        for command in [
            vec!["wait", url.as_str()],
            vec!["check", url.as_str()],
            vec!["watch", url.as_str(), "--duration", "5s"],
        ] {
            let mut args = command.clone();
            args.extend(["--output-file", path.as_str()]);
            let run = stillup(&args);
            let line = run.usage_error_line(path);
            assert!(line.contains("--output-file"), "{run}");
            let shown = path.split_once('=').map_or(path.as_str(), |(_, p)| p);
            assert!(line.contains(shown), "{run}");
            run.assert_within(Duration::from_secs(5));
        }
    }
    // From the variable, the variable is named.
    let run = stillup_with_env(
        ["check", url.as_str()],
        &[("STILLUP_OUTPUT_FILE", "/nonexistent-stillup-dir/out.json")],
    );
    let line = run.usage_error_line("STILLUP_OUTPUT_FILE");
    assert!(line.contains("STILLUP_OUTPUT_FILE"), "{run}");
    // From the config file, its line and key.
    let config = dir.file("stillup.toml");
    std::fs::write(
        &config,
        format!("[defaults]\noutput-file = [\"/nonexistent-stillup-dir/out.json\"]\n\n[targets.api]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let run = stillup(["check", "--config", &s(&config)]);
    let line = run.usage_error_line("config");
    assert!(
        line.contains("stillup.toml:2: defaults.output-file"),
        "{run}"
    );
    assert!(line.contains("/nonexistent-stillup-dir/out.json"), "{run}");
    std::fs::remove_file(&config).unwrap();
    // HTML is watch's report alone.
    let run = stillup([
        "check",
        url.as_str(),
        "--output-file",
        &s(&dir.file("r.html")),
    ]);
    assert!(run.usage_error_line("html").contains("watch"), "{run}");
    assert_eq!(server.requests(), 0, "nothing is sent before the check");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "the checks leave nothing behind"
    );
}

#[test]
fn a_file_that_cannot_be_written_exits_5_and_the_command_does_not_run() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("full");
    let marker = dir.file("ran");
    let run = stillup([
        "wait",
        &server.url("/"),
        "--output-file",
        "json=/dev/full",
        "--",
        "touch",
        &s(&marker),
    ]);
    run.assert_code(5);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("stillup:"))
        .collect();
    assert_eq!(lines.len(), 1, "{run}");
    assert!(lines[0].contains("the JSON file /dev/full"), "{run}");
    assert!(!marker.exists(), "the command ran after a lost output file");
    let run = stillup([
        "check",
        &server.url("/"),
        "--output-file",
        "prometheus=/dev/full",
    ]);
    run.assert_code(5);
    assert!(run.stderr.contains("the metrics file /dev/full"), "{run}");
}

#[test]
fn watch_writes_its_report_through_the_alias_and_output_files_alike() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("watch-files");
    let (report, html, json, prom) = (
        dir.file("r.html"),
        dir.file("s.html"),
        dir.file("w.json"),
        dir.file("w.prom"),
    );
    let url = server.url("/health");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--rate",
        "10/s",
        "--report",
        &s(&report),
        "--output-file",
        &s(&html),
        "--output-file",
        &s(&json),
        "--output-file",
        &s(&prom),
    ]);
    run.assert_code(0);
    assert!(run.stdout.is_empty(), "{run}");
    for page in [read(&report), read(&html)] {
        assert!(page.contains("<svg"), "{page}");
    }
    let document = json_file(&json);
    assert_eq!(document["command"], "watch");
    let prom = read(&prom);
    let labels = [("target", url.as_str()), ("kind", "http")];
    assert_eq!(
        sample(&prom, "stillup_watch_availability_ratio", &labels),
        1.0
    );
    assert_eq!(sample(&prom, "stillup_watch_outages", &labels), 0.0);
    assert_eq!(sample(&prom, "stillup_watch_budget_exceeded", &[]), 0.0);
    let mut healthy = labels.to_vec();
    healthy.push(("class", "healthy"));
    assert!(sample(&prom, "stillup_watch_samples", &healthy) >= 1.0);
    assert!(sample(&prom, "stillup_watch_latency_p50_seconds", &labels) > 0.0);
    // The same file twice is refused, the alias included.
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--report",
        &s(&report),
        "--output-file",
        &s(&report),
    ]);
    run.usage_error_line("twice");
}

#[test]
fn no_file_holds_a_secret_and_config_targets_keep_their_name() {
    let server = serve(Behavior::Respond(Reply::text(503, "no")));
    let url = format!(
        "http://admin:{PASSWORD}@{}/health?token={QUERY_SECRET}&page=2",
        server.addr()
    );
    let dir = TempDir::new("secrets");
    let config = dir.file("stillup.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\ntimeout = \"1s\"\noutput-file = [\"from-config.prom\", \"json=from-config.txt\"]\n\n[targets.api]\nurl = \"{url}\"\n"
        ),
    )
    .unwrap();
    // wait and check from the config file, which names the files relative to itself.
    for command in ["wait", "check"] {
        let run = stillup([command, "--config", &s(&config)]);
        run.assert_code(1);
        let prom = read(&dir.file("from-config.prom"));
        let labels = [("name", "api"), ("kind", "http")];
        assert_eq!(sample(&prom, "stillup_target_healthy", &labels), 0.0);
        let shown = format!("http://{}/health?token=", server.addr());
        assert!(
            prom.contains(&shown),
            "the target is labelled as the JSON shows it\n{prom}"
        );
        let report = json_file(&dir.file("from-config.txt"));
        assert_eq!(target(&report, 0)["name"], "api");
        for file in ["from-config.prom", "from-config.txt"] {
            let text = read(&dir.file(file));
            for secret in [PASSWORD, QUERY_SECRET, ENCODED] {
                assert!(
                    !text.contains(secret),
                    "{command}: {file} holds {secret}\n{text}"
                );
            }
        }
    }
    // From the command line and the variable (one file per line), every format.
    let files: Vec<String> = ["a.json", "b.prom", "c.om"]
        .iter()
        .map(|f| s(&dir.file(f)))
        .collect();
    let run = stillup_with_env(
        ["check", url.as_str(), "--output", "openmetrics"],
        &[("STILLUP_OUTPUT_FILE", &files.join("\n"))],
    );
    run.assert_code(1);
    let watch_file = s(&dir.file("w.prom"));
    let html = s(&dir.file("w.html"));
    let watch = stillup([
        "watch",
        url.as_str(),
        "--duration",
        "1s",
        "--rate",
        "10/s",
        "--output-file",
        &watch_file,
        "--report",
        &html,
        "--output",
        "openmetrics",
    ]);
    watch.assert_code(0);
    let mut texts = vec![run.stdout.clone(), run.stderr.clone(), watch.stdout.clone()];
    texts.extend(
        files
            .iter()
            .chain([&watch_file, &html])
            .map(|f| read(Path::new(f))),
    );
    for text in &texts {
        for secret in [PASSWORD, QUERY_SECRET, ENCODED] {
            assert!(!text.contains(secret), "{secret} in:\n{text}");
        }
    }
    assert!(read(Path::new(&files[1])).contains("stillup_target_failure_info"));
}

/// `.md` files and `--output markdown`: the verdict, a table of targets with the failure
/// class, the timeline; server text escaped for Markdown.
#[test]
fn markdown_reports_say_the_verdict_and_why_with_server_text_escaped() {
    let hostile = ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::text(
        200,
        r#"{"status":"[click](http://evil) | <b>x</b>"}"#,
    ))))
    .unwrap();
    let healthy = ScriptedServer::spawn(
        Script::new().forever(Behavior::Respond(Reply::json(200, r#"{"status":"ok"}"#))),
    )
    .unwrap();
    let dir = TempDir::new("markdown");
    let file = dir.file("summary.md");
    let run = stillup([
        "check",
        &hostile.url("/"),
        &healthy.url("/"),
        "--expect-json",
        "$.status == \"ok\"",
        "--output-file",
        &s(&file),
    ]);
    run.assert_code(1);
    let md = read(&file);
    assert!(
        md.starts_with("### ❌ stillup check: 1 of 2 targets healthy"),
        "{md}"
    );
    assert!(
        md.contains("| target | result | attempts | elapsed | last failure |"),
        "{md}"
    );
    assert!(md.contains("`condition_failed`"), "{md}");
    // The server's words arrive escaped: no link, no HTML, no broken table.
    assert!(md.contains("\\[click\\]\\(http://evil\\) \\|"), "{md}");
    assert!(!md.contains("<b>") && md.contains("&lt;b&gt;"), "{md}");
    for row in md.lines().filter(|l| l.starts_with("| http")) {
        assert_eq!(row.matches(" | ").count(), 4, "five cells: {row}");
    }
    // A wall-clock end, RFC 3339.
    let finished = md.lines().find(|l| l.starts_with("Finished ")).unwrap();
    assert!(
        finished.contains('T') && finished.contains('Z'),
        "{finished}"
    );

    // The same report on stdout.
    let stdout = stillup(["check", &healthy.url("/"), "--output", "markdown"]);
    stdout.assert_code(0);
    assert!(
        stdout
            .stdout
            .starts_with("### ✅ stillup check: 1 of 1 target healthy"),
        "{stdout}"
    );

    // watch: availability and the outage windows.
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    let watch = stillup([
        "watch",
        &closed,
        "--duration",
        "500ms",
        "--max-downtime",
        "0s",
        "--output",
        "markdown",
    ]);
    watch.assert_code(4);
    assert!(
        watch
            .stdout
            .starts_with("### ❌ stillup watch: over budget"),
        "{watch}"
    );
    assert!(watch.stdout.contains("**Outages**"), "{watch}");
    assert!(watch.stdout.contains("`refused`"), "{watch}");
}
