//! The `stillup` command line: arguments, config files, presentation in every format, exit
//! codes and `stillup demo`, over the engine in `stillup-core`.
//!
//! The front end is a library as well as the binary only so that the fuzz targets and the
//! integration tests can reach its config parser and option table; it is the binary's code,
//! not an API. Programs that embed the engine depend on `stillup-core`.

// Its doc comments are `--help` text, not rustdoc: `[defaults]` there is no link.
#[allow(rustdoc::broken_intra_doc_links)]
pub mod cli;

#[cfg(test)]
mod tests {
    /// The structure, pinned: the human renderers never format a failure (or redact text)
    /// themselves; they print `display_safe(failure)` and `Safe` values.
    #[test]
    fn the_human_renderers_print_failures_only_through_the_gate() {
        let renderers = [
            ("src/cli/render.rs", include_str!("cli/render.rs")),
            ("src/cli/watch.rs", include_str!("cli/watch.rs")),
            ("src/cli/exec.rs", include_str!("cli/exec.rs")),
            ("src/main.rs", include_str!("main.rs")),
        ];
        for (file, source) in renderers {
            for bypass in [
                "redact_url(",
                "failure.to_string()",
                "f.to_string()",
                "{failure}",
                "{f}",
                "command.join(",
                "exec.join(",
            ] {
                assert!(
                    !source.contains(bypass),
                    "{file} prints `{bypass}` around the gate: use display_safe / Safe"
                );
            }
        }
    }
}
