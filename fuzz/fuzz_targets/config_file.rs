//! Any text given as a config file (`--config stillup.toml`) is checked, layered under the
//! defaults and judged without panicking: bad TOML, unknown keys, wrong types and bad values
//! are usage errors of one line that name the file, as docs/robustness.md promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stillup::cli::config::wait_config_from_text;

fuzz_target!(|data: &[u8]| {
    // The binary refuses a file that is not UTF-8 before parsing it ("cannot read it").
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = wait_config_from_text("fuzz.toml", text) {
        let message = error.to_string();
        assert!(!message.contains('\n'), "not one line: {message:?}");
        assert!(message.contains("fuzz.toml"), "names no file: {message:?}");
    }
});
