//! Writes docs/test-vectors.json from what the engine computes, after an
//! intended change of an encoding (update docs/PROTOCOL.md first):
//!
//! ```text
//! cargo run --example write_test_vectors
//! ```
//!
//! A separate command, never a test: the test suite only compares the file
//! with what the engine computes (`cargo test --test protocol
//! protocol_vectors`), so no setting can turn a run of it into a writer
//! that passes.

use settled::dev::vectors::{PUBLISHED_PATH, file_text};

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PUBLISHED_PATH);
    std::fs::write(&path, file_text()).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    println!("wrote {}", path.display());
}
