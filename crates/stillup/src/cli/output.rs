//! Output stillup promises: the JSON document on stdout, `--output-file` and `--report` files, and the help, man
//! page and completions it prints on request. A write that fails is a failure of the run
//! (exit 5 with one line), never a silent exit 0; a reader that closed its end of a pipe
//! (`| head`) chose to stop reading, so a broken pipe ends output quietly. Every write gets a
//! bounded grace: a stdout nobody reads cannot hold the run. Progress on stderr is not
//! output in this sense and stays best effort.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::UsageError;
use super::exit;
use super::input::Origin;

/// How long a write may take once the run is over before it counts as failed.
pub const GRACE: Duration = Duration::from_secs(1);

/// Run `job` (a blocking write) on its own thread and wait for it while it makes progress:
/// it counts the bytes it has written in the counter it is given, and once that stands still
/// for `grace` the write has failed. A writer still blocked then is left behind: the process
/// exits without it.
fn bounded(
    grace: Duration,
    job: impl FnOnce(&AtomicU64) -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let (done, result) = mpsc::sync_channel(1);
    let written = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&written);
    let slot = Arc::new(Mutex::new(Some(job)));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("stillup-output".into())
        .spawn(move || {
            if let Some(job) = theirs.lock().ok().and_then(|mut job| job.take()) {
                let _ = done.send(job(&progress));
            }
        });
    if spawned.is_err() {
        // No thread to spare (stillup's own limits): write unbounded rather than not at all.
        return match slot.lock().ok().and_then(|mut job| job.take()) {
            Some(job) => job(&written),
            None => Err(io::Error::other("no thread left to write with")),
        };
    }
    finish(&result, &written, grace)
}

/// `write_all`, counting progress in `written` as it goes.
fn write_counted(out: &mut impl Write, bytes: &[u8], written: &AtomicU64) -> io::Result<()> {
    for chunk in bytes.chunks(CHUNK) {
        out.write_all(chunk)?;
        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    out.flush()
}

/// Write `bytes` to stdout, whole and flushed. A closed pipe is not an error; a reader that
/// takes nothing for [`GRACE`] is.
pub fn write_stdout(bytes: Vec<u8>) -> io::Result<()> {
    stream_to_stdout(GRACE, |out| out.write_all(&bytes))
}

/// Serialize `document` and write it to stdout as one JSON document followed by a newline,
/// streamed: a document of many thousand targets is never held twice in memory.
pub fn print_json(document: &impl serde::Serialize) -> io::Result<()> {
    stream_to_stdout(GRACE, |out| {
        // Exact text, with what a terminal would act on (C1, bidi) escaped as well.
        stillup_core::sanitize::write_json(&mut *out, document).map_err(io::Error::from)?;
        out.write_all(b"\n")
    })
}

/// Bytes handed to the stdout thread at a time.
const CHUNK: usize = 64 * 1024;

/// Whatever `produce` writes goes to stdout through a thread of its own, so that a reader
/// that stops reading shows as a stall instead of a blocked run: waiting for it ends, with
/// an error, once it has taken nothing for `grace`. A slow reader that keeps reading is
/// waited for.
fn stream_to_stdout(
    grace: Duration,
    produce: impl FnOnce(&mut Chunks) -> io::Result<()>,
) -> io::Result<()> {
    let (chunks, received) = mpsc::sync_channel::<Vec<u8>>(4);
    let (done, finished) = mpsc::sync_channel::<io::Result<()>>(1);
    let written = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&written);
    let spawned = std::thread::Builder::new()
        .name("stillup-stdout".into())
        .spawn(move || {
            let result = (|| {
                let mut out = io::stdout().lock();
                for chunk in received {
                    let mut rest = chunk.as_slice();
                    while !rest.is_empty() {
                        match out.write(rest) {
                            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                            Ok(n) => {
                                rest = &rest[n..];
                                progress.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                out.flush()
            })();
            let _ = done.send(result);
        });
    let mut out = Chunks {
        buffer: Vec::with_capacity(CHUNK),
        sender: None,
        written: Arc::clone(&written),
        grace,
    };
    let outcome = match spawned {
        // No thread to spare (stillup's own limits): write unbounded rather than not at all.
        Err(_) => produce(&mut out).and_then(|()| {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&out.buffer)?;
            stdout.flush()
        }),
        Ok(_) => {
            out.sender = Some(chunks);
            let produced = produce(&mut out).and_then(|()| out.flush());
            // The end of the stream: the thread finishes what it holds and says how it went.
            out.sender = None;
            match produced {
                Ok(()) => finish(&finished, &written, grace),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(e),
                // The thread's own error (a full disk, a closed pipe) says best what happened.
                Err(e) => finish(&finished, &written, grace).and(Err(e)),
            }
        }
    };
    match outcome {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Wait for the stdout thread's verdict while it keeps making progress.
fn finish(
    finished: &mpsc::Receiver<io::Result<()>>,
    written: &AtomicU64,
    grace: Duration,
) -> io::Result<()> {
    let mut seen = written.load(Ordering::Relaxed);
    loop {
        match finished.recv_timeout(grace) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other("the writer stopped before finishing"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = written.load(Ordering::Relaxed);
                if now == seen {
                    return Err(stalled(grace));
                }
                seen = now;
            }
        }
    }
}

fn stalled(grace: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "it took nothing for {}s: is anything reading it?",
            grace.as_secs_f64()
        ),
    )
}

/// The producing side of [`stream_to_stdout`]: collects bytes into chunks for the thread.
#[derive(Debug)]
struct Chunks {
    buffer: Vec<u8>,
    /// `None` once the stream is closed (or when nothing is sent: the fallback).
    sender: Option<mpsc::SyncSender<Vec<u8>>>,
    written: Arc<AtomicU64>,
    grace: Duration,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        let Some(sender) = &self.sender else {
            return Ok(());
        };
        let mut chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        let mut seen = self.written.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            match sender.try_send(chunk) {
                Ok(()) => return Ok(()),
                // The thread stopped: its own error says why (see `finish`).
                Err(mpsc::TrySendError::Disconnected(_)) => {
                    return Err(io::Error::from(io::ErrorKind::BrokenPipe))
                }
                Err(mpsc::TrySendError::Full(back)) => {
                    chunk = back;
                    let now = self.written.load(Ordering::Relaxed);
                    if now != seen {
                        seen = now;
                        since = Instant::now();
                    } else if since.elapsed() >= self.grace {
                        return Err(stalled(self.grace));
                    }
                    // The reader is behind: poll its progress gently.
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.sender.is_some() && self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// Say that `what` could not be written, once, and return the exit code for it.
pub fn failed(what: &str, error: &io::Error) -> u8 {
    // A path is the user's text, an error the system's: both through the gate.
    let line = stillup_core::sanitize::Safe::line(&format!("cannot write {what}: {error}"));
    let line = format!("stillup: {line}\n");
    // stderr may be the very pipe that is blocked (`2>&1`): this line is bounded too.
    let _ = bounded(GRACE, move |written| {
        write_counted(&mut io::stderr().lock(), line.as_bytes(), written)
    });
    exit::OUTPUT_FAILED
}

/// Paths that name a descriptor or a device rather than a place to keep a file
/// (`/dev/stdout`, `/dev/fd/3`, `/proc/self/fd/1`, `/dev/full`): written in place, never
/// replaced, so `--report /dev/stdout >> log` appends and a device keeps being a device.
fn names_a_descriptor(path: &Path) -> bool {
    path.starts_with("/dev") || path.starts_with("/proc")
}

/// How a file output will be written.
#[derive(Debug, PartialEq)]
enum Destination {
    /// A device, a pipe, a descriptor: opened and written where it is.
    InPlace(PathBuf),
    /// A regular file, new or replaced: written next to it under a temporary name, then
    /// renamed over it, so a reader never sees half a report and a failure leaves the old one.
    Replace { file: PathBuf, dir: PathBuf },
}

fn destination(path: &Path) -> io::Result<Destination> {
    if names_a_descriptor(path) {
        // Nothing is created there: it has to exist.
        fs::metadata(path)?;
        return Ok(Destination::InPlace(path.to_path_buf()));
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        )),
        Ok(meta) if !meta.is_file() => Ok(Destination::InPlace(path.to_path_buf())),
        Ok(_) => {
            // Replace the file a symlink points to, not the symlink.
            let file = fs::canonicalize(path)?;
            let dir = file
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            Ok(Destination::Replace { file, dir })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            match fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => Ok(Destination::Replace {
                    file: path.to_path_buf(),
                    dir,
                }),
                Ok(_) => Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", dir.display()),
                )),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the directory {} does not exist", dir.display()),
                )),
            }
        }
        Err(e) => Err(e),
    }
}

/// A file in `dir` that nothing else uses, created empty; the caller writes or removes it.
fn temporary_in(dir: &Path, file: &Path) -> io::Result<(PathBuf, File)> {
    let name = file
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let mut last = None;
    // A few tries: a leftover of a killed run may hold a name.
    for attempt in 0..8u32 {
        let candidate = dir.join(format!(
            ".{name}.stillup-{}-{attempt}.tmp",
            std::process::id()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(handle) => return Ok((candidate, handle)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary name was free")))
}

/// Before the run: can `raw`, the value of the option at `at`, be written at its end? One
/// line naming the option (flag, variable or config key) and the path when not (an existing
/// device or pipe is taken at its word).
pub fn check_writable(at: impl Into<Origin>, raw: &str) -> Result<(), UsageError> {
    let at = at.into();
    let refuse = |problem: String| UsageError::invalid(&at, "output file", raw, problem);
    if raw.trim().is_empty() {
        return Err(refuse("expected a file path".into()));
    }
    match destination(Path::new(raw)).map_err(|e| refuse(format!("cannot be written: {e}")))? {
        Destination::InPlace(_) => Ok(()),
        Destination::Replace { file, dir } => {
            let (temporary, handle) = temporary_in(&dir, &file)
                .map_err(|e| refuse(format!("cannot create a file in {}: {e}", dir.display())))?;
            drop(handle);
            let _ = fs::remove_file(temporary);
            Ok(())
        }
    }
}

/// Write `bytes` to the file at `path` within [`GRACE`]: in place for a device or pipe, else
/// through a temporary file in the same directory and a rename.
pub fn write_file(path: &str, bytes: Vec<u8>) -> io::Result<()> {
    write_file_within(GRACE, PathBuf::from(path), bytes)
}

fn write_file_within(grace: Duration, path: PathBuf, bytes: Vec<u8>) -> io::Result<()> {
    bounded(grace, move |written| match destination(&path)? {
        Destination::InPlace(path) => {
            let mut handle = OpenOptions::new().append(true).open(path)?;
            write_counted(&mut handle, &bytes, written)
        }
        Destination::Replace { file, dir } => {
            let (temporary, mut handle) = temporary_in(&dir, &file)?;
            // No fsync: the rename already keeps readers from half a report, and a sync on a
            // busy disk could outlast the grace; a full disk fails the write itself.
            let done = write_counted(&mut handle, &bytes, written)
                .and_then(|()| fs::rename(&temporary, &file));
            if done.is_err() {
                let _ = fs::remove_file(&temporary);
            }
            done
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stillup-output-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_directory_is_refused_naming_the_flag_and_the_path() {
        let error = check_writable("--report", "/nonexistent-stillup/r.html").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("--report"), "{text}");
        assert!(text.contains("/nonexistent-stillup/r.html"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("dir");
        let text = check_writable("--report", dir.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(text.contains("directory"), "{text}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn the_check_leaves_nothing_behind() {
        let dir = scratch("check");
        let file = dir.join("r.html");
        check_writable("--report", file.to_str().unwrap()).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = scratch("replace");
        let file = dir.join("r.html");
        fs::write(&file, "old").unwrap();
        write_file(file.to_str().unwrap(), b"new".to_vec()).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_symlink_keeps_pointing_at_the_replaced_file() {
        let dir = scratch("symlink");
        let real = dir.join("real.html");
        let link = dir.join("link.html");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_file(link.to_str().unwrap(), b"new".to_vec()).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_device_that_does_not_exist_is_refused() {
        let text = check_writable("--report", "/dev/no-such-device-stillup")
            .unwrap_err()
            .to_string();
        assert!(text.contains("/dev/no-such-device-stillup"), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_is_a_failed_write() {
        check_writable("--report", "/dev/full").unwrap();
        let error = write_file("/dev/full", vec![b'x'; 4096]).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(28), "{error}");
    }

    #[test]
    fn a_stream_nobody_takes_from_stalls_after_the_grace() {
        let (sender, _held_but_never_read) = mpsc::sync_channel(1);
        let mut out = Chunks {
            buffer: Vec::new(),
            sender: Some(sender),
            written: Arc::new(AtomicU64::new(0)),
            grace: Duration::from_millis(100),
        };
        let started = Instant::now();
        // The channel holds one chunk; the second has nowhere to go.
        let error = (0..3)
            .try_for_each(|_| out.write_all(&vec![b'x'; CHUNK]))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_stream_whose_reader_is_gone_is_a_closed_pipe() {
        let (sender, reader) = mpsc::sync_channel(1);
        drop(reader);
        let mut out = Chunks {
            buffer: Vec::new(),
            sender: Some(sender),
            written: Arc::new(AtomicU64::new(0)),
            grace: Duration::from_secs(30),
        };
        let error = out.write_all(&vec![b'x'; CHUNK]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_slow_write_that_keeps_going_outlasts_the_grace() {
        let outcome = bounded(Duration::from_secs(1), |written| {
            for _ in 0..25 {
                std::thread::sleep(Duration::from_millis(100));
                written.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    #[test]
    fn a_write_that_blocks_fails_after_the_grace() {
        let started = std::time::Instant::now();
        let error = bounded(Duration::from_millis(100), |_| {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
