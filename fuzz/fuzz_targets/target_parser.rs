//! Any string given as a target is parsed without panicking, and a parsed target prints
//! without the credentials it carried: what is printed, parsed again, has none.
//!
//! (The password's text may still occur in what is printed, as part of the path or the
//! host: `http://u:pass@h/pass` prints `http://h/pass`. Only the userinfo is a secret.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use stillup_core::Target;

fuzz_target!(|input: &str| {
    if let Ok(target) = Target::parse(input) {
        let shown = target.to_string();
        if let Ok(again) = Target::parse(&shown) {
            let credentials = again.as_http().and_then(|http| http.basic_auth());
            assert!(credentials.is_none(), "{shown:?} carries credentials");
        }
    }
    let _ = stillup_core::FailFast::parse(input);
});
