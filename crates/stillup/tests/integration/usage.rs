//! Bad input exits 2 before anything is sent, with one line on stderr that names the flag and
//! the value (and, where there is one, the fix).

use super::support::*;

/// A usage error case: the arguments after `stillup`, then words stderr must contain.
struct Case {
    args: Vec<String>,
    mentions: Vec<String>,
}

fn case(args: &[&str], mentions: &[&str]) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        mentions: mentions.iter().map(|m| m.to_string()).collect(),
    }
}

/// Every case refers to `url` (a live server) where it has a URL at all.
fn cases(url: &str, addr: &str) -> Vec<Case> {
    let no_scheme = format!("{addr}/health");
    let ftp = format!("ftp://{addr}/health");
    vec![
        case(&["wait", &no_scheme], &["TARGET", &no_scheme, "http://"]),
        case(&["wait", &ftp], &["TARGET", &ftp, "ftp"]),
        case(&["check", &ftp], &["TARGET", &ftp, "ftp"]),
        case(
            &["wait", "http://127.0.0.1:0/health"],
            &["TARGET", "http://127.0.0.1:0/health", "port 0"],
        ),
        case(
            &["wait", url, "--timeout", "90"],
            &["--timeout", "90", "add a unit"],
        ),
        case(
            &["wait", url, "--interval", "soon"],
            &["--interval", "soon"],
        ),
        case(
            &["check", url, "--attempt-timeout", "0s"],
            &["--attempt-timeout", "0s"],
        ),
        case(
            &["wait", url, "--expect-status", "7xx"],
            &["--expect-status", "7xx"],
        ),
        case(
            &["wait", url, "--expect-json", "$.status"],
            &["--expect-json", "$.status"],
        ),
        case(
            &["wait", url, "--expect-json", "status == 1"],
            &["--expect-json", "status == 1", "$.status"],
        ),
        case(
            &["wait", url, "--expect-body", "("],
            &["--expect-body", "("],
        ),
        case(
            &["check", url, "--expect-header", "Bad Name: x"],
            &["--expect-header", "Bad Name: x"],
        ),
        case(
            &["wait", url, "--max-body", "lots"],
            &["--max-body", "lots"],
        ),
        case(&["wait", url, "--jitter", "2"], &["--jitter", "2"]),
        // An empty host is no host, however many slashes follow (not host `x`, resolved).
        case(&["check", "http:///x"], &["TARGET", "http:///x", "no host"]),
        case(&["wait", "https:///x/y"], &["TARGET", "no host"]),
        // Negative values are judged like any other bad value, in one line.
        case(&["wait", url, "--timeout", "-5s"], &["--timeout", "-5s"]),
        case(&["wait", url, "--successes", "-1"], &["--successes", "-1"]),
        case(&["wait", url, "--jitter", "-0.3"], &["--jitter", "-0.3"]),
        case(&["check", url, "--max-body", "-1"], &["--max-body", "-1"]),
        case(
            &["wait", url, "--until", "never"],
            &["--until", "never", "healthy, down"],
        ),
        // An option of wait given to check: no advice to write `-- --timeout`.
        case(
            &["check", url, "--timeout", "5s"],
            &["--timeout", "check", "--attempt-timeout"],
        ),
        case(&["check", "--interval=1s", url], &["--interval", "check"]),
        case(
            &["watch", url, "--timeout", "5s"],
            &["--timeout", "watch", "--duration"],
        ),
        // A floor under the time between attempts: `1ns` sent thousands of requests a second.
        case(
            &["wait", url, "--interval", "1ns"],
            &["--interval", "1ns", "at least 10ms"],
        ),
        case(
            &["wait", url, "--max-interval", "9ms"],
            &["--max-interval", "9ms", "at least 10ms"],
        ),
        case(
            &["wait", url, "--refused-interval", "1ms"],
            &["--refused-interval", "1ms", "at least 10ms", "0s"],
        ),
        case(
            &["check", url, "--refused-interval", "1us"],
            &["--refused-interval", "1us"],
        ),
        case(
            &["watch", url, "--refused-interval", "1s", "--duration", "1s"],
            &["--refused-interval", "--rate"],
        ),
    ]
}

#[test]
fn every_usage_error_exits_2_with_one_line_naming_flag_and_value_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let addr = server.addr().to_string();
    for Case { args, mentions } in cases(&url, &addr) {
        let run = stillup(&args);
        let line = run.usage_error_line(&format!("stillup {args:?}"));
        for word in &mentions {
            assert!(
                line.contains(word.as_str()),
                "stillup {args:?}: {word:?} missing from {:?}",
                line
            );
        }
        assert_eq!(
            server.connections(),
            0,
            "stillup {args:?} connected before rejecting its input"
        );
    }
}

#[test]
fn an_unknown_flag_exits_2_naming_it_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for args in [
        ["wait", url.as_str(), "--nope"],
        ["check", url.as_str(), "--nope"],
    ] {
        let run = stillup(args);
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("--nope"), "{run}");
    }
    assert_eq!(server.connections(), 0);
}

/// Bare `stillup` is a usage error (it was exit 0): the short help, on stderr.
#[test]
fn bare_stillup_is_a_usage_error_with_the_short_help() {
    let run = stillup(Vec::<String>::new());
    run.assert_code(2);
    assert!(run.stdout.is_empty(), "{run}");
    assert!(run.stderr.contains("Usage: stillup"), "{run}");
    assert!(run.stderr.contains("wait"), "{run}");
}

/// A bad variable is named as the variable — switches and choices included, which clap
/// blamed on the flag — and `check` judges wait's variables as it judges the config file's
/// wait-only keys.
#[test]
fn a_bad_variable_is_named_in_one_line_by_every_command() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for (var, value, commands) in [
        ("STILLUP_INSECURE", "maybe", &["check", "wait"][..]),
        ("STILLUP_QUIET", "2", &["check", "wait"]),
        ("STILLUP_UNTIL", "never", &["check", "wait"]),
        ("STILLUP_SUCCESSES", "0", &["check", "wait"]),
        ("STILLUP_KEEP_ALIVE", "maybe", &["check", "wait"]),
        ("STILLUP_TIMEOUT", "90", &["check", "wait"]),
        ("STILLUP_INTERVAL", "1ms", &["check", "wait"]),
        ("STILLUP_REFUSED_INTERVAL", "5ms", &["check", "wait"]),
    ] {
        for command in commands {
            let run = stillup_with_env([*command, url.as_str()], &[(var, value)]);
            let what = format!("{var}={value} stillup {command}");
            let line = run.usage_error_line(&what);
            assert!(line.contains(var), "{what}: {line:?}");
            assert!(line.contains(&format!("{value:?}")), "{what}: {line:?}");
        }
    }
    assert_eq!(server.connections(), 0);
}

/// An option whose value may be left out takes the next word only when it is a value of
/// its own: the target after it stays a target, and the natural orders all work.
#[test]
fn an_optional_value_never_swallows_the_target() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for args in [
        vec!["wait", "--jitter", &url],
        vec!["wait", &url, "--jitter"],
        vec!["wait", "--jitter", "0.3", &url],
        vec!["wait", &url, "--jitter", "0.3"],
        vec!["wait", "--jitter=0.3", &url],
        vec!["wait", "--jitter", "--timeout", "5s", &url],
        vec!["watch", "--keep-alive", &url, "--duration", "300ms"],
        vec!["watch", &url, "--keep-alive", "--duration", "300ms"],
        vec!["watch", "--keep-alive", "both", &url, "--duration", "300ms"],
        vec!["watch", &url, "--duration", "300ms", "--keep-alive"],
    ] {
        let run = stillup(&args);
        run.assert_code(0);
        assert!(run.stderr.contains(&url), "{args:?}\n{run}");
    }
    let run = stillup(["wait", "--jitter", &url, "--", "echo", "ran"]);
    run.assert_code(0);
    assert!(run.stdout.contains("ran"), "{run}");
}

#[test]
fn a_missing_target_is_a_usage_error() {
    let run = stillup(["wait"]);
    run.assert_code(2);
    assert!(run.stderr.contains("TARGET"), "{run}");
}

/// A valid value for every option of the applicability table, as (flag, value) pairs (an
/// empty value for a switch): what the table-driven test below gives each option.
fn sample(key: &str, dir: &TempDir) -> Vec<(String, String)> {
    let file = |name: &str, text: &str| {
        let path = dir.file(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let cert = self_signed(&["127.0.0.1"], None);
    let pem = file("cert.pem", &cert.pem);
    let key_pem = file("key.pem", &cert.key_pem);
    let pair = |flag: &str, value: &str| (flag.to_string(), value.to_string());
    let value = match key {
        "config" => file("stillup.toml", "[defaults]\n"),
        "targets-file" => file("targets.txt", "# none\n"),
        "any" | "keep-alive" | "insecure" | "http2" | "no-follow" | "quiet" => String::new(),
        "require" | "successes" | "max-outages" => "1".into(),
        "until" => "down".into(),
        "fail-fast" => "refused".into(),
        "fail-when" | "expect-json" => "$.x == 1".into(),
        "timeout" | "max-interval" | "attempt-timeout" | "max-latency" | "max-downtime" => {
            "5s".into()
        }
        "interval" | "refused-interval" => "100ms".into(),
        "backoff" => "fixed".into(),
        "jitter" => "0.3".into(),
        "expect-status" => "200".into(),
        "expect-body" | "reject-body" => "ok".into(),
        "expect-header" => "x-ready".into(),
        "max-body" => "1KiB".into(),
        "method" => "POST".into(),
        "header" => "x-a: b".into(),
        "data" => "x".into(),
        "data-file" => file("body.txt", "x"),
        "user" => "u:p".into(),
        "bearer" => "t".into(),
        "cacert" => pem.clone(),
        "cert" | "key" => return vec![pair("--cert", &pem), pair("--key", &key_pem)],
        "resolve" => "db.test:1:127.0.0.1".into(),
        "connect-to" => "db.test:1:127.0.0.1:1".into(),
        "output" => "json".into(),
        "color" => "never".into(),
        "duration" => "300ms".into(),
        "rate" => "10/s".into(),
        "max-in-flight" => "4".into(),
        "min-availability" => "50".into(),
        "report" => dir.file("report.html").display().to_string(),
        "output-file" => dir.file("result.json").display().to_string(),
        other => panic!("no sample value for --{other}: add one"),
    };
    vec![pair(&format!("--{key}"), &value)]
}

/// Principle 2: every option either applies to a target or is refused before any request —
/// as a flag and as its variable, for a tcp:// and a grpc:// target, in every command that
/// has it. An option that applies is never refused.
#[test]
fn every_option_applies_to_a_tcp_or_grpc_target_or_is_refused_naming_it() {
    use clap::CommandFactory;
    use stillup::cli::options::{applies, Command as OptionsCommand, Kind, Value, OPTIONS};
    let cli = stillup::cli::args::Cli::command();
    let dir = TempDir::new("applies");
    let port = closed_port();
    let kinds = [
        (Kind::Tcp, format!("tcp://127.0.0.1:{port}")),
        (Kind::Grpc, format!("grpc://127.0.0.1:{port}")),
    ];
    let mut tried = 0;
    // Each name once: `watch`'s form of an option is tried below with the same name.
    let mut keys: Vec<&str> = Vec::new();
    // The exporter's own options are of the server, not of any target (tested in exporter.rs).
    for option in OPTIONS {
        let of_targets = option
            .commands
            .iter()
            .any(|c| !matches!(c, OptionsCommand::Exporter));
        if of_targets
            && !matches!(option.value, Value::Positional(_))
            && !keys.contains(&option.name)
        {
            keys.push(option.name);
        }
    }
    for key in &keys {
        let pairs = sample(key, &dir);
        for command in ["check", "wait", "watch"] {
            let has = |long: &str| {
                cli.find_subcommand(command)
                    .unwrap()
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long))
            };
            if !pairs.iter().all(|(flag, _)| has(&flag[2..])) {
                continue;
            }
            // Ends at once with a closed port: `wait` is down at the first refusal.
            let base: &[(&str, &str)] = match command {
                "wait" => &[("--until", "down"), ("--timeout", "5s")],
                "watch" => &[("--duration", "300ms")],
                _ => &[],
            };
            for (kind, target) in &kinds {
                let mut args = vec![command.to_string(), target.clone()];
                let mut vars = Vec::new();
                for (flag, value) in base {
                    if &flag[2..] != *key {
                        args.extend([flag.to_string(), value.to_string()]);
                    }
                }
                let mut with_flags = args.clone();
                for (flag, value) in &pairs {
                    with_flags.push(flag.clone());
                    if !value.is_empty() {
                        with_flags.push(value.clone());
                    }
                    let var = format!("STILLUP_{}", flag[2..].replace('-', "_").to_uppercase());
                    let value = if value.is_empty() { "true" } else { value };
                    vars.push((var, value.to_string()));
                }
                let mut runs = vec![(with_flags.join(" "), stillup(&with_flags))];
                if command != "watch" {
                    let vars: Vec<(&str, &str)> =
                        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    runs.push((
                        format!("{vars:?} {}", args.join(" ")),
                        stillup_with_env(&args, &vars),
                    ));
                }
                for (what, run) in runs {
                    tried += 1;
                    // watch has wait's probe options but samples at --rate: refused there.
                    let for_command = !(command == "watch" && *key == "refused-interval");
                    if applies(key, *kind) && for_command {
                        assert_ne!(run.code, Some(2), "{what} was refused\n{run}");
                        continue;
                    }
                    let line = run.usage_error_line(&what);
                    let named = pairs.iter().any(|(flag, _)| {
                        let var = format!("STILLUP_{}", flag[2..].replace('-', "_").to_uppercase());
                        line.contains(flag.as_str()) || line.contains(&var)
                    });
                    assert!(named, "{what}: the option is not named in {line:?}");
                    if for_command {
                        assert!(line.contains(target.as_str()), "{what}: {line:?}");
                        assert!(line.contains("does not apply"), "{what}: {line:?}");
                    }
                }
            }
        }
    }
    assert!(tried > 100, "only {tried} runs");
}

#[test]
fn help_and_the_man_page_list_every_exit_code() {
    for args in [&["man"][..], &["--help"][..]] {
        let run = stillup(args);
        run.assert_code(0);
        for code in stillup::cli::exit::ALL_CODES {
            // `--help`'s table, or the man page's EXIT STATUS (`.TP` then the code in bold).
            let listed = run.stdout.lines().any(|line| {
                line.trim_start().starts_with(&format!("{code} "))
                    || line == format!("\\fB{code}\\fR")
            });
            assert!(listed, "exit code {code} missing from {args:?}\n{run}");
        }
    }
}

/// `stillup man wait` has ENVIRONMENT, EXIT STATUS, FILES and FAILURE CLASSES, not EXTRA;
/// `stillup classes` prints every class; a man page of no command is a usage error.
#[test]
fn the_man_page_has_its_sections_and_classes_lists_every_class() {
    let run = stillup(["man", "wait"]);
    run.assert_code(0);
    let sections: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .collect();
    for wanted in [
        "ENVIRONMENT",
        "\"EXIT STATUS\"",
        "FILES",
        "\"FAILURE CLASSES\"",
    ] {
        assert!(sections.contains(&wanted), "{sections:?}");
    }
    assert!(!sections.contains(&"EXTRA"), "{sections:?}");
    assert!(run.stdout.contains("\\fBSTILLUP_TIMEOUT\\fR"), "{run}");
    let run = stillup(["classes"]);
    run.assert_code(0);
    for class in stillup_core::FailureClass::ALL {
        let listed = run
            .stdout
            .lines()
            .any(|line| line.starts_with(&format!("{class} ")));
        assert!(listed, "{class} missing\n{run}");
    }
    let run = stillup(["man", "no\u{1b}[2Jpe"]);
    run.assert_code(2);
    assert!(run.stderr.contains("expected wait"), "{run}");
    assert!(!run.stderr.contains('\u{1b}'), "{run}");
}

/// Every file stillup reads has a size limit: `/dev/zero` as a body, targets file, config
/// file or secret is refused at once in one line naming the option and the limit (it grew
/// to gigabytes and never ended).
#[cfg(target_os = "linux")]
#[test]
fn an_endless_input_file_is_refused_at_its_size_limit() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for (args, mentions) in [
        (
            vec!["check", &url, "--data-file", "/dev/zero"],
            ["--data-file", "1 MiB"],
        ),
        (
            vec!["wait", "--targets-file", "/dev/zero"],
            ["--targets-file", "64 MiB"],
        ),
        (
            vec!["check", &url, "--config", "/dev/zero"],
            ["--config", "1 MiB"],
        ),
        (
            vec!["check", &url, "--bearer", "file:/dev/zero"],
            ["--bearer", "64 KiB"],
        ),
        (
            vec!["check", &url, "--cacert", "/dev/zero"],
            ["--cacert", "1 MiB"],
        ),
    ] {
        let run = stillup(&args);
        run.assert_within(SLACK);
        let line = run.usage_error_line(&format!("{args:?}"));
        for word in mentions {
            assert!(
                line.contains(word),
                "{args:?}: {word:?} missing from {line:?}"
            );
        }
    }
    assert_eq!(server.connections(), 0);
}

/// Reading standard input is bounded by the deadline: a pipe that is never closed ends the
/// run at `--timeout` with an error naming the input (it ended when the writer did).
#[test]
fn standard_input_that_never_ends_is_refused_at_the_deadline() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("stillup"));
    for (name, _) in std::env::vars_os() {
        if name
            .to_string_lossy()
            .to_ascii_lowercase()
            .starts_with("stillup_")
        {
            cmd.env_remove(name);
        }
    }
    let started = std::time::Instant::now();
    let mut child = cmd
        .args(["wait", "--targets-file", "-", "--timeout", "1s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One target, and the pipe stays open: the writer never finishes.
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{url}").unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("stillup still runs after {RUN_LIMIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    drop(stdin);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        elapsed < std::time::Duration::from_secs(1) + SLACK,
        "{elapsed:?}"
    );
    assert!(stderr.contains("--targets-file"), "{stderr}");
    assert!(stderr.contains("standard input"), "{stderr}");
    assert!(stderr.contains("1s"), "{stderr}");
}

/// With targets of several kinds, an option of one target's probe (`-H`) must apply to every
/// target it reaches — the config file's tables give it to some exactly — while an option of
/// the whole run (`--keep-alive`) applies to the targets that can use it, and is refused only
/// when none can.
#[test]
fn mixed_kinds_refuse_per_target_options_that_some_targets_cannot_take() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let tcp = format!("tcp://{}", server.addr());
    let run = stillup(["check", &url, &tcp, "-H", "x-a: b"]);
    let line = run.usage_error_line("-H with http and tcp");
    assert!(line.contains("--header") && line.contains(&tcp), "{line}");
    assert!(line.contains("[targets.NAME]"), "{line}");

    let run = stillup(["wait", &url, &tcp, "--keep-alive", "--timeout", "5s"]);
    run.assert_code(0);
    let run = stillup(["watch", &tcp, &url, "--keep-alive", "--duration", "300ms"]);
    run.assert_code(0);
    let run = stillup(["wait", &tcp, "--keep-alive", "--timeout", "5s"]);
    let line = run.usage_error_line("--keep-alive with tcp alone");
    assert!(
        line.contains("--keep-alive") && line.contains(&tcp),
        "{line}"
    );
}
