//! Any string given as a target is parsed without panicking, and a parsed target prints
//! without the credentials it carried.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(target) = stillup::Target::parse(input) {
        let shown = target.to_string();
        if let Some(http) = target.as_http() {
            if let Some(secret) = http.basic_auth() {
                let password = secret
                    .expose()
                    .split_once(':')
                    .map(|(_, p)| p)
                    .unwrap_or("");
                assert!(password.len() < 4 || !shown.contains(password));
            }
        }
    }
    let _ = stillup::FailFast::parse(input);
});
