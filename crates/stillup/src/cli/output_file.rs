//! `--output-file FILE` (repeatable; `watch --report FILE` is its HTML alias): which format
//! each file gets — from its extension, or spelled `FORMAT=FILE` — checked before the run,
//! and written at its end. How a file is replaced (temporary file and rename) and what a
//! failed write means (exit 5) are `output.rs`'s; what goes into each format is the
//! renderers'.

use std::path::Path;
use std::time::SystemTime;

use stillup_core::report::Report;
use stillup_core::watch::report::WatchReport;
use stillup_core::watch::WatchOutcome;
use stillup_core::{GroupOutcome, Until};

use super::config::UsageError;
use super::input::{Origin, Origins};
use super::markdown;
use super::metrics;
use super::openmetrics::Flavor;
use super::options::Command;
use super::output;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// The JSON document `--output json` prints.
    Json,
    /// Metrics in Prometheus' text format (0.0.4): what node_exporter's textfile collector
    /// and Pushgateway read.
    Prometheus,
    /// Metrics in OpenMetrics 1.0.
    OpenMetrics,
    /// `watch`'s self-contained HTML report.
    Html,
    /// A compact Markdown report (CI summaries, pull-request comments).
    Markdown,
}

impl FileFormat {
    /// The name `FORMAT=FILE` takes.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Json => "json",
            FileFormat::Prometheus => "prometheus",
            FileFormat::OpenMetrics => "openmetrics",
            FileFormat::Html => "html",
            FileFormat::Markdown => "markdown",
        }
    }

    /// The metrics format, for the two that are metrics.
    pub fn flavor(self) -> Option<Flavor> {
        match self {
            FileFormat::Prometheus => Some(Flavor::Prometheus),
            FileFormat::OpenMetrics => Some(Flavor::OpenMetrics),
            FileFormat::Json | FileFormat::Html | FileFormat::Markdown => None,
        }
    }

    fn by_name(name: &str) -> Option<FileFormat> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(FileFormat::Json),
            "prometheus" | "prom" => Some(FileFormat::Prometheus),
            "openmetrics" | "om" => Some(FileFormat::OpenMetrics),
            "html" => Some(FileFormat::Html),
            "markdown" | "md" => Some(FileFormat::Markdown),
            _ => None,
        }
    }

    fn by_extension(extension: &str) -> Option<FileFormat> {
        match extension.to_ascii_lowercase().as_str() {
            "json" => Some(FileFormat::Json),
            "prom" => Some(FileFormat::Prometheus),
            "om" | "openmetrics" => Some(FileFormat::OpenMetrics),
            "html" | "htm" => Some(FileFormat::Html),
            "md" | "markdown" => Some(FileFormat::Markdown),
            _ => None,
        }
    }
}

/// One file to write at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub format: FileFormat,
    /// The path as given (made relative to a config file's directory by `file.rs`).
    pub path: String,
}

/// `json=out.txt` as (`Some("json")`, `out.txt`); a path whose text before `=` is no format
/// name is all path.
pub fn split(raw: &str) -> (Option<&str>, &str) {
    match raw.split_once('=') {
        Some((format, path)) if FileFormat::by_name(format).is_some() => (Some(format), path),
        _ => (None, raw),
    }
}

const CHOICES: &str = "name it .json, .prom (Prometheus' text format), .om (OpenMetrics), .md (Markdown) or .html (watch only), or write FORMAT=FILE with json, prometheus, openmetrics, markdown or html";

/// The file `raw` names, from `at`, for `command`.
pub fn parse(at: &Origin, raw: &str, command: Command) -> Result<OutputFile, UsageError> {
    let bad = |problem: String| UsageError::invalid(at, "output file", raw, problem);
    let (named, path) = split(raw);
    if path.trim().is_empty() {
        return Err(bad("expected a file path, e.g. result.json".into()));
    }
    let format = match named {
        Some(name) => FileFormat::by_name(name),
        None => {
            let extension = Path::new(path).extension().and_then(|e| e.to_str());
            match extension {
                Some(extension) => Some(FileFormat::by_extension(extension).ok_or_else(|| {
                    bad(format!(
                        "stillup does not know which format .{extension} is: {CHOICES}"
                    ))
                })?),
                None => {
                    return Err(bad(format!(
                        "the file has no extension to tell its format: {CHOICES}"
                    )))
                }
            }
        }
    };
    let Some(format) = format else {
        return Err(bad(format!("not a format: {CHOICES}")));
    };
    if format == FileFormat::Html && command != Command::Watch {
        return Err(bad(format!(
            "the HTML report is watch's; {} writes json, prometheus, openmetrics or markdown",
            command.name()
        )));
    }
    Ok(OutputFile {
        format,
        path: path.to_string(),
    })
}

/// The files of `values` (the option `output-file`, each value's origin in `origins`), and
/// `report` (`watch --report FILE`: HTML whatever its extension): parsed, no path twice, and
/// each one writable — all before the run.
pub fn files(
    values: &[String],
    origins: &Origins,
    report: Option<&str>,
    command: Command,
) -> Result<Vec<OutputFile>, UsageError> {
    let mut files: Vec<(Origin, String, OutputFile)> = Vec::new();
    for (i, raw) in values.iter().enumerate() {
        let at = origins.item("output-file", i);
        let file = parse(&at, raw, command)?;
        files.push((at, raw.clone(), file));
    }
    if let Some(path) = report {
        let at = Origin::from("--report");
        let file = OutputFile {
            format: FileFormat::Html,
            path: path.to_string(),
        };
        files.push((at, path.to_string(), file));
    }
    for (i, (at, raw, file)) in files.iter().enumerate() {
        if files[..i]
            .iter()
            .any(|(_, _, earlier)| same_path(&earlier.path, &file.path))
        {
            return Err(UsageError::invalid(
                at,
                "output file",
                raw,
                "names a file that another output file names already; each file holds one format",
            ));
        }
        output::check_writable(at, &file.path)?;
    }
    Ok(files.into_iter().map(|(_, _, file)| file).collect())
}

/// Whether two paths name one file: the same text, or (when both exist) the same file.
fn same_path(a: &str, b: &str) -> bool {
    if Path::new(a) == Path::new(b) {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Write each of `files` with what `render` makes of its format. On the first that fails,
/// one line on stderr and the exit code for it; the others are still written.
pub fn write_all(files: &[OutputFile], render: impl Fn(FileFormat) -> String) -> Option<u8> {
    let mut failed = None;
    for file in files {
        let bytes = render(file.format).into_bytes();
        if let Err(e) = output::write_file(&file.path, bytes) {
            let what = match file.format {
                FileFormat::Html => format!("the report {}", file.path),
                FileFormat::Json => format!("the JSON file {}", file.path),
                FileFormat::Markdown => format!("the Markdown file {}", file.path),
                FileFormat::Prometheus | FileFormat::OpenMetrics => {
                    format!("the metrics file {}", file.path)
                }
            };
            failed = failed.or(Some(output::failed(&what, &e)));
        }
    }
    failed
}

/// Write the files of a `wait` or `check` run that ended as `group` with `exit_code`; the
/// exit code for a failed write, if one failed.
pub fn write_run(
    files: &[OutputFile],
    command: &str,
    until: Until,
    group: &GroupOutcome,
    exit_code: u8,
) -> Option<u8> {
    if files.is_empty() {
        return None;
    }
    let ended_at = SystemTime::now();
    write_all(files, |format| match (format, format.flavor()) {
        (_, Some(flavor)) => metrics::run_page(flavor, command, until, group, exit_code, ended_at),
        (FileFormat::Markdown, _) => {
            markdown::run_report(&Report::new(command, until, group), exit_code, ended_at)
        }
        _ => json(&Report::new(command, until, group)),
    })
}

/// Write the files of a watch: `outcome` and its `report`.
pub fn write_watch(
    files: &[OutputFile],
    outcome: &WatchOutcome,
    report: &WatchReport,
) -> Option<u8> {
    if files.is_empty() {
        return None;
    }
    let ended_at = SystemTime::now();
    write_all(files, |format| match (format, format.flavor()) {
        (_, Some(flavor)) => metrics::watch_page(flavor, report, ended_at),
        (FileFormat::Html, _) => super::html::render(outcome, report),
        (FileFormat::Markdown, _) => markdown::watch_report(report, ended_at),
        _ => json(report),
    })
}

/// The JSON document as `--output json` prints it, newline and all.
fn json(document: &impl serde::Serialize) -> String {
    let mut bytes = Vec::new();
    // Writing to memory fails only on a document serde cannot write, which ours never are.
    let _ = stillup_core::sanitize::write_json(&mut bytes, document);
    bytes.push(b'\n');
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str, command: Command) -> Result<OutputFile, String> {
        parse(&Origin::from("--output-file"), raw, command).map_err(|e| e.to_string())
    }

    #[test]
    fn the_extension_chooses_the_format() {
        for (raw, format) in [
            ("out.json", FileFormat::Json),
            (
                "/var/lib/node_exporter/textfile/deploy.prom",
                FileFormat::Prometheus,
            ),
            ("out.om", FileFormat::OpenMetrics),
            ("out.openmetrics", FileFormat::OpenMetrics),
            ("OUT.JSON", FileFormat::Json),
        ] {
            assert_eq!(parsed(raw, Command::Wait).unwrap().format, format, "{raw}");
        }
        assert_eq!(
            parsed("r.html", Command::Watch).unwrap().format,
            FileFormat::Html
        );
    }

    #[test]
    fn a_format_may_be_spelled_before_the_path() {
        let file = parsed("json=out.txt", Command::Check).unwrap();
        assert_eq!(
            (file.format, file.path.as_str()),
            (FileFormat::Json, "out.txt")
        );
        let file = parsed("prometheus=/dev/stdout", Command::Wait).unwrap();
        assert_eq!(file.format, FileFormat::Prometheus);
        // Not a format name: the whole value is the path.
        let file = parsed("a=b.json", Command::Wait).unwrap();
        assert_eq!(
            (file.format, file.path.as_str()),
            (FileFormat::Json, "a=b.json")
        );
    }

    #[test]
    fn markdown_is_named_by_md_or_markdown() {
        for raw in ["summary.md", "markdown=out.txt", "md=x", "SUMMARY.MARKDOWN"] {
            let file = parsed(raw, Command::Wait).unwrap();
            assert_eq!(file.format, FileFormat::Markdown, "{raw}");
        }
    }

    #[test]
    fn unknown_or_missing_extensions_say_how_to_name_the_format() {
        let text = parsed("out.txt", Command::Wait).unwrap_err();
        assert!(
            text.contains(".txt") && text.contains("FORMAT=FILE"),
            "{text}"
        );
        let text = parsed("out", Command::Wait).unwrap_err();
        assert!(text.contains("no extension"), "{text}");
        let text = parsed("json=", Command::Wait).unwrap_err();
        assert!(text.contains("expected a file path"), "{text}");
    }

    #[test]
    fn html_is_watchs_alone() {
        let text = parsed("r.html", Command::Wait).unwrap_err();
        assert!(text.contains("watch"), "{text}");
        assert!(parsed("html=r.txt", Command::Check).is_err());
    }

    #[test]
    fn one_path_twice_is_refused() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("stillup-twice-{}.json", std::process::id()));
        let path = path.to_str().unwrap();
        let values = vec![path.to_string(), format!("json={path}")];
        let text = files(&values, &Origins::default(), None, Command::Wait)
            .unwrap_err()
            .to_string();
        assert!(text.contains("another output file"), "{text}");
        let html = dir.join(format!("stillup-twice-{}.html", std::process::id()));
        let html = html.to_str().unwrap();
        let values = vec![html.to_string()];
        assert!(files(&values, &Origins::default(), Some(html), Command::Watch).is_err());
    }
}
