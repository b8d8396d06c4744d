//! How stillup ships, kept true: the workspace's `rust-version` against every locked
//! dependency's, what `cargo package` puts in each crate, and the names that must agree across
//! scripts/dist.sh (which makes them), the `cargo binstall` template, the Dockerfile, its
//! HEALTHCHECK example and the README's Install section. The static build itself and its run in
//! an empty chroot are scripts/dist.sh's and scripts/dist-verify.sh's (CI runs them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::support::*;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command`, panicking with its stderr unless it succeeds; returns its stdout.
#[track_caller]
fn output_of(mut command: Command) -> String {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// "1.88" or "1.88.0" as (major, minor, patch).
fn rust_version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("rust-version {text:?}"))
    });
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

#[test]
fn the_rust_version_covers_every_locked_dependency() {
    // Offline: every platform's packages when this machine has them all, else the host's (a
    // build only downloads what the host needs; the rest cannot change what builds here).
    let full = cargo()
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .output()
        .expect("cargo metadata starts");
    let metadata = if full.status.success() {
        full.stdout
    } else {
        let host = output_of({
            let mut c = cargo();
            c.arg("-vV");
            c
        });
        let host = host
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .expect("cargo -vV names the host")
            .to_string();
        let mut filtered = cargo();
        filtered.args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ]);
        output_of(filtered).into_bytes()
    };
    let metadata: Value = serde_json::from_slice(&metadata).expect("cargo metadata is JSON");
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let packages = metadata["packages"].as_array().unwrap();
    assert!(packages.len() > 100, "the lock file's packages are listed");

    let mut needs: BTreeMap<(u64, u64, u64), Vec<String>> = BTreeMap::new();
    let mut ours = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        let declared = package["rust_version"].as_str();
        if members.contains(&package["id"].as_str().unwrap()) {
            let declared = declared.unwrap_or_else(|| panic!("{name} declares no rust-version"));
            ours.push((name.to_string(), rust_version(declared)));
        } else if let Some(declared) = declared {
            needs
                .entry(rust_version(declared))
                .or_default()
                .push(format!("{name} {}", package["version"].as_str().unwrap()));
        }
    }
    assert_eq!(ours.len(), 3, "{ours:?}");
    let (newest, which) = needs
        .last_key_value()
        .expect("dependencies declare rust-version");
    for (name, declared) in ours {
        assert!(
            declared >= *newest,
            "{name}'s rust-version {declared:?} is older than {newest:?}, which {which:?} need: \
             raise rust-version in the workspace Cargo.toml"
        );
    }
}

#[test]
fn cargo_package_ships_sources_and_licences_without_the_repository_tooling() {
    for (crate_name, must) in [
        (
            "stillup-core",
            &["src/lib.rs", "examples/wait_blocking.rs", "README.md"][..],
        ),
        ("stillup", &["src/main.rs", "src/lib.rs", "README.md"][..]),
        ("stillup-testkit", &["src/lib.rs"][..]),
    ] {
        let mut list = cargo();
        list.args([
            "package",
            "--list",
            "--allow-dirty",
            "--offline",
            "-p",
            crate_name,
        ]);
        let files = output_of(list);
        let files: Vec<&str> = files.lines().collect();
        for file in must
            .iter()
            .chain(&["Cargo.toml", "LICENSE-MIT", "LICENSE-APACHE"])
        {
            assert!(files.contains(file), "{crate_name} lacks {file}: {files:?}");
        }
        for file in &files {
            let tooling = [
                "bench/", "fuzz/", ".ci/", "scripts/", "docs/", "schema/", "dist/",
            ]
            .iter()
            .any(|dir| file.starts_with(dir))
                || file.starts_with("tests/")
                || file.starts_with("examples/bench_")
                || file.ends_with(".py")
                || file.ends_with(".sh");
            assert!(!tooling, "{crate_name} would ship {file}");
        }
    }
}

/// `scripts/dist.sh --print-names`: the artefacts' names as the script makes them.
fn dist_names() -> BTreeMap<String, String> {
    let mut names = Command::new("bash");
    names
        .current_dir(workspace_root())
        .args(["scripts/dist.sh", "--print-names"]);
    output_of(names)
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('=').expect("key=value lines");
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// Fills a cargo-binstall template: `{ key }` (spaces optional) from `values`, every key known.
fn render(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closing brace") + open;
        let key = rest[open + 1..close].trim();
        out.push_str(
            values
                .get(key)
                .unwrap_or_else(|| panic!("unknown template key {key:?} in {template:?}")),
        );
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The `stillup` package as cargo resolves it (workspace-inherited fields filled in).
fn stillup_package() -> Value {
    let mut metadata = cargo();
    metadata.args([
        "metadata",
        "--no-deps",
        "--locked",
        "--offline",
        "--format-version",
        "1",
    ]);
    let metadata: Value = serde_json::from_str(&output_of(metadata)).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "stillup")
        .expect("the stillup package")
        .clone()
}

/// The release asset's URL as `cargo binstall stillup` asks for it on `target`.
fn binstall_url_and_dir(package: &Value, target: &str) -> (String, String) {
    let binstall = &package["metadata"]["binstall"];
    assert_eq!(binstall["pkg-fmt"], "tgz", "dist.sh makes .tar.gz");
    let values = BTreeMap::from([
        ("name", package["name"].as_str().unwrap().to_string()),
        ("version", package["version"].as_str().unwrap().to_string()),
        ("target", target.to_string()),
        ("repo", package["repository"].as_str().unwrap().to_string()),
        ("archive-suffix", ".tar.gz".to_string()),
        ("archive-format", "tgz".to_string()),
        ("binary-ext", String::new()),
        ("bin", "stillup".to_string()),
    ]);
    (
        render(binstall["pkg-url"].as_str().unwrap(), &values),
        render(binstall["bin-dir"].as_str().unwrap(), &values),
    )
}

#[test]
fn the_binstall_template_names_the_tarball_dist_sh_builds() {
    let names = dist_names();
    let package = stillup_package();
    assert_eq!(names["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(names["name"], "stillup");
    let (url, bin_dir) = binstall_url_and_dir(&package, &names["target"]);
    let repository = package["repository"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "{repository}/releases/download/v{}/{}",
            names["version"], names["archive"]
        ),
        "cargo binstall would ask for a file dist.sh does not make"
    );
    // The tarball holds one directory, archive_dir, with the binary at its top.
    assert_eq!(bin_dir, format!("{}/stillup", names["archive_dir"]));
    assert_eq!(names["archive"], format!("{}.tar.gz", names["archive_dir"]));
}

#[test]
fn the_readmes_download_url_is_the_binstall_url() {
    let names = dist_names();
    let (url, _) = binstall_url_and_dir(&stillup_package(), &names["target"]);
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let install = readme
        .split("\n## Install by hand and in images\n")
        .nth(1)
        .expect("the README has an Install by hand section");
    let install = install.split("\n## ").next().unwrap();
    let line = install
        .lines()
        .find(|l| l.contains(".tar.gz") && l.contains("curl"))
        .expect("Install downloads the tarball with curl");
    let readme_url = line
        .split_whitespace()
        .find(|word| word.starts_with("https://"))
        .expect("a URL on the curl line")
        .replace("$v", &names["version"])
        .replace("$t", &names["target"]);
    assert_eq!(readme_url, url);
    assert!(
        install.contains("COPY --from="),
        "Install by hand lacks `COPY --from=`"
    );
    // The one-line installs are on the first screen.
    let first = readme
        .split("\n## Install\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has an Install section");
    for command in ["cargo binstall stillup", "cargo install --locked stillup"] {
        assert!(first.contains(command), "Install lacks `{command}`");
    }
}

/// The Dockerfile's instructions, comments and continuation lines left out.
fn dockerfile() -> Vec<String> {
    std::fs::read_to_string(workspace_root().join("Dockerfile"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dockerfile_copies_the_static_binary_dist_sh_builds_and_runs_it_unprivileged() {
    let names = dist_names();
    let lines = dockerfile();
    assert_eq!(lines[0], "FROM scratch");
    let copies: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| l.starts_with("COPY "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(copies, [vec!["COPY", names["binary"].as_str(), "/stillup"]]);
    assert!(lines.contains(&"USER 65532:65532".to_string()), "{lines:?}");
    assert!(
        lines.contains(&r#"ENTRYPOINT ["/stillup"]"#.to_string()),
        "{lines:?}"
    );
    // Docker sends only what .dockerignore lets through: that must include the binary.
    let ignore = std::fs::read_to_string(workspace_root().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == format!("!{}", names["binary"])),
        ".dockerignore keeps {} out of the build context",
        names["binary"]
    );
}

#[test]
fn the_dockerfiles_healthcheck_example_passes_on_a_healthy_server_and_fails_on_a_closed_port() {
    let text = std::fs::read_to_string(workspace_root().join("Dockerfile")).unwrap();
    let exec_form = text
        .lines()
        .find_map(|l| l.split_once(r#"CMD ["/stillup", "check""#).map(|_| l))
        .and_then(|l| l.split_once("CMD "))
        .map(|(_, array)| array)
        .expect("the Dockerfile documents a HEALTHCHECK CMD [\"/stillup\", \"check\", …]");
    let argv: Vec<String> = serde_json::from_str(exec_form).expect("an exec-form JSON array");
    assert_eq!(argv[0], "/stillup");
    let documented = "127.0.0.1:8080";
    assert!(argv.iter().any(|a| a.contains(documented)), "{argv:?}");

    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let live: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.replace(documented, &server.addr().to_string()))
        .collect();
    stillup(&live).assert_code(0);
    assert!(server.requests() >= 1);

    let closed: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.replace(documented, &format!("127.0.0.1:{}", closed_port())))
        .collect();
    // Non-zero marks the container unhealthy.
    stillup(&closed).assert_code(1);
}
