//! Condition parsing and evaluation on arbitrary expressions and bodies never panic: a
//! hostile body or a strange expression is a failed condition or a parse error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stillup_core::condition::{BodyPattern, HeaderCondition, JsonCondition, StatusSet};

fuzz_target!(|data: &[u8]| {
    // The first line is the expression, the rest the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (expression, body) = data.split_at(split);
    let Ok(expression) = std::str::from_utf8(expression) else {
        return;
    };
    if let Ok(condition) = JsonCondition::parse(expression) {
        let _ = condition.check_body(body);
        let _ = condition.to_string();
    }
    if let Ok(set) = StatusSet::parse(expression) {
        for code in [100u16, 200, 301, 404, 503, 599] {
            let _ = set.contains(code);
        }
    }
    if expression.len() < 256 {
        if let Ok(pattern) = BodyPattern::parse(expression) {
            let _ = pattern.check(body);
        }
        let _ = HeaderCondition::parse(expression);
    }
});
