//! How a command prints its result: text for people, or with `--json` one
//! JSON document on stdout for programs (errors stay on stderr either way).

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Whether results are printed as JSON (`--json`).
pub(crate) fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

#[must_use]
pub(crate) fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Prints a command's result: `value` with `--json`, `text` otherwise.
pub(crate) fn emit(value: &serde_json::Value, text: &str) {
    if json() {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
    } else {
        println!("{text}");
    }
}
