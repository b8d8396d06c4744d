//! `watch --report FILE.html` on a real watch: a legend, wall-clock and latency axes, one row
//! per cause (503 and 502 apart), the server's text escaped — and the page rendered by headless
//! Chromium (Debian's `chromium`, which `scripts/chromium.sh` installs) to a PNG that shows the
//! chart's colours.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

use super::support::{stillup, TempDir};

/// What the server says in its JSON while the condition fails: markup, an escape sequence and
/// a bidi override, all of which the page must show as text or drop.
const HOSTILE: &str = r#"{"status":"<script>alert(1)</script>\u001b[31m\u202eevil"}"#;

/// A watch of healthy, then 503, then 502, then a hostile JSON answer, then healthy again:
/// its JSON document and its HTML page.
fn watch_report(dir: &TempDir) -> (Value, String) {
    let file = dir.file("report.html");
    let ok = || Behavior::Respond(Reply::json(200, r#"{"status":"ok"}"#));
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(400), ok())
            .then_for(
                Duration::from_millis(500),
                Behavior::Respond(Reply::status(503)),
            )
            .then_for(
                Duration::from_millis(500),
                Behavior::Respond(Reply::status(502)),
            )
            .then_for(
                Duration::from_millis(300),
                Behavior::Respond(Reply::json(200, HOSTILE)),
            )
            .forever(ok()),
    )
    .unwrap();
    let url = server.url("/health");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "2500ms",
        "--rate",
        "40/s",
        "--expect-json",
        "$.status == \"ok\"",
        "--report",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let html = std::fs::read_to_string(&file).unwrap();
    (run.json(), html)
}

/// The rows of the page's cause table, as text between `<tr>` and `</tr>`.
fn cause_rows(html: &str) -> Vec<&str> {
    let table = &html[html.find("<table class=\"causes\"").expect("a cause table")..];
    let table = &table[..table.find("</table>").unwrap()];
    table.split("<tr>").skip(2).collect()
}

#[test]
fn a_watch_report_shows_a_row_per_cause_axes_and_a_legend_with_server_text_escaped() {
    let dir = TempDir::new("html-report");
    let (json, html) = watch_report(&dir);
    let target = &json["targets"][0];

    // 503 and 502 are both http_status, and each has its row; the hostile answer has its own.
    let rows = cause_rows(&html);
    let row = |cause: &str| {
        rows.iter()
            .find(|row| row.contains(&format!("<td>{cause}</td>")))
            .unwrap_or_else(|| panic!("no row for {cause}: {rows:#?}"))
    };
    assert!(row("HTTP 503").contains(">http_status</td>"));
    assert!(row("HTTP 502").contains(">http_status</td>"));
    let hostile = rows
        .iter()
        .find(|row| row.contains(">condition_failed</td>"))
        .unwrap_or_else(|| panic!("no condition_failed row: {rows:#?}"));
    assert!(
        hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{hostile}"
    );
    // The rows add up to the failed samples the JSON counts.
    let counted: u64 = rows
        .iter()
        .map(|row| {
            let cells: Vec<&str> = row.split("<td class=\"n\">").collect();
            cells[1][..cells[1].find('<').unwrap()]
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    let failed = target["samples"].as_u64().unwrap() - target["healthy_samples"].as_u64().unwrap();
    assert_eq!(counted, failed, "{rows:#?}");

    // Nothing the server said reaches the page as markup or control characters.
    assert!(!html.contains("<script"));
    assert!(!html.contains('\u{1b}') && !html.contains('\u{202e}'));

    // A legend naming what the colours mean.
    let legend = &html[html.find("class=\"legend\"").expect("a legend")..];
    let legend = &legend[..legend.find("</p>").unwrap()];
    for key in [
        "healthy",
        "http_status",
        "condition_failed",
        "outage window",
    ] {
        assert!(legend.contains(key), "the legend lacks {key}: {legend}");
    }

    // Wall-clock ticks under the chart, and latency ticks beside it.
    let clock = regex::Regex::new(r">\d\d:\d\d:\d\d(\.\d)?</text>").unwrap();
    assert!(clock.find_iter(&html).count() >= 3, "too few time ticks");
    assert!(html.contains("wall-clock time (UTC)"));
    let latency = regex::Regex::new(r">\d+(\.\d+)? m?s</text>").unwrap();
    assert!(
        latency.find_iter(&html).count() >= 2,
        "too few latency ticks"
    );
    assert!(html.contains(">latency</text>"));
    let started = regex::Regex::new(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").unwrap();
    assert!(started.is_match(&html));

    // A bar per column at most, and each outage window marked once.
    let bars = html.matches("class=\"sample\"").count();
    assert!(bars >= 1 && bars as u64 <= target["samples"].as_u64().unwrap());
    let windows = target["windows"].as_array().unwrap().len();
    assert!(windows >= 1);
    assert_eq!(html.matches("class=\"outage\"").count(), windows);
}

/// Debian's `chromium` on the PATH; without it, a loud skip, or with
/// `STILLUP_REQUIRE_SERVICES` set (CI installs it), a failure.
fn chromium(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        if std::env::var_os("STILLUP_REQUIRE_SERVICES").is_some() {
            panic!("{test} needs `chromium` on the PATH: `bash scripts/chromium.sh` installs it");
        }
        // Straight to stderr, past the test harness's capture: a skip must be seen.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! SKIPPED {test}: `chromium` is not installed; `bash scripts/chromium.sh` (run by .ci/run) installs it !!!!!\n"
        );
    }
    found
}

/// Screenshot `page` with headless Chromium into `png`, within 30 s (its whole process group
/// is killed past that).
fn screenshot(chromium: &Path, page: &Path, png: &Path, profile: &Path) {
    use std::os::unix::process::CommandExt;

    let log = std::fs::File::create(profile.with_extension("log")).unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group, so that an overrun kills the renderers too.
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!(
                "chromium took over 30 s to screenshot {}; its log: {}",
                page.display(),
                std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default()
    );
}

/// Pixels of `image` (8-bit RGB or RGBA rows) within a small distance of `colour`.
fn pixels_near(image: &[u8], channels: usize, colour: [u8; 3]) -> usize {
    image
        .chunks_exact(channels)
        .filter(|px| (0..3).all(|i| px[i].abs_diff(colour[i]) <= 8))
        .count()
}

fn rgb(hex: &str) -> [u8; 3] {
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    [byte(1), byte(3), byte(5)]
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let test = "html_report::the_report_renders_in_headless_chromium";
    let Some(chromium) = chromium(test) else {
        return;
    };
    let dir = TempDir::new("html-chromium");
    let (_, html) = watch_report(&dir);
    // Kept where cargo keeps test files, for a person to look at after the run.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let page = keep.join("watch-report.html");
    let png = keep.join("watch-report.png");
    std::fs::write(&page, &html).unwrap();
    let _ = std::fs::remove_file(&png);
    screenshot(&chromium, &page, &png, &dir.file("profile"));

    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.len() > 20_000,
        "a {}-byte screenshot is blank",
        bytes.len()
    );
    // The IHDR chunk right after the signature: width and height, big-endian.
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 900));

    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut image = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut image).unwrap();
    let image = &image[..info.buffer_size()];
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("an unexpected colour type {other:?}"),
    };
    let first = &image[..channels];
    assert!(
        image.chunks_exact(channels).any(|px| px != first),
        "every pixel is one colour"
    );
    // The chart's bars were drawn: healthy green and http_status orange, a few hundred
    // pixels each at least.
    for (name, colour) in [("healthy", "#2e9d4f"), ("http_status", "#e67e22")] {
        let n = pixels_near(image, channels, rgb(colour));
        assert!(n > 300, "{n} {name} pixels in {}", png.display());
    }
    eprintln!("the watch report's screenshot: {}", png.display());
}
