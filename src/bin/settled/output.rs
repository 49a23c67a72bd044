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

/// Prints a registry change's or an action's outcome: the height of the
/// durable block that carries it, and what it did.
pub(crate) fn done(height: u64, text: &str) {
    emit(&serde_json::json!({"height": height, "message": text}), text);
}

/// Prints one item of a list: with `--json` one JSON object a line (so that
/// long and live lists stream), otherwise `text`.
pub(crate) fn item(value: &serde_json::Value, text: &str) {
    if json() {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// Prints progress or a note people read: on stdout as text, on stderr with
/// `--json` (stdout then holds only the result).
pub(crate) fn note(text: &str) {
    if json() {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}
