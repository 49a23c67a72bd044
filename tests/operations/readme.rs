//! The README's walkthrough runs as written: every ```sh block after a
//! `<!-- walkthrough -->` marker, in order, in one bash (`set -euo
//! pipefail`), with the `settled` this build made on the PATH, in a fresh
//! folder holding `examples/` and the `./data` of a development server the
//! test starts as the README says (`settled serve --dev --data-dir ./data`).
//! What the walkthrough did is then checked through the API, so that a
//! block that stops doing what it says fails here.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_settled");

/// The walkthrough's shell blocks, in the README's order.
fn walkthrough(readme: &str) -> String {
    let mut script = String::new();
    let mut rest = readme;
    while let Some(marker) = rest.find("<!-- walkthrough -->") {
        let after = &rest[marker..];
        let start = after.find("```sh\n").expect("a marker is followed by a sh block") + "```sh\n".len();
        let end = after[start..].find("\n```").expect("the block ends") + start;
        script.push_str(&after[start..end]);
        script.push('\n');
        rest = &after[end..];
    }
    script
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let script = walkthrough(&readme);
    assert!(script.contains("settled programme clawback") && script.contains("settled bank follow"), "{script}");
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(root.join("examples"), dir.path().join("examples")).expect("examples/");
    let mut serve = Command::new(BIN);
    serve
        .args(["serve", "--dev", "--data-dir", "./data", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("SETTLED_CONFIG")
        .env_remove("SETTLED_TOKEN")
        .stderr(Stdio::null());
    let (mut server, address) = common::spawn_serving(&mut serve);
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SETTLED_SERVER", format!("http://{address}"))
        .env_remove("SETTLED_TOKEN")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    let _ = server.kill();
    let _ = server.wait();
    assert!(run.status.success(), "the walkthrough failed:\n{stdout}\n{stderr}");
    // What each part says it does.
    for said in [
        "programme 1 created",
        "rows: 4, paid: 4 (1170.00)",
        "paid 35.20 to",
        "refused (REASON_MCC_NOT_ALLOWED), as the programme says",
        "1 beneficiaries paid, 800.00",
        "refused, as it should be",
        "frozen (block",
        "clawed back 4 outputs (",
        "checkpoint",
    ] {
        assert!(stdout.contains(said), "no '{said}' in:\n{stdout}\n{stderr}");
    }
    for file in ["rows.csv.results.csv", "north-today.xml", "north-intraday.xml", "north.csv", "north.cursor"] {
        assert!(dir.path().join(file).exists(), "{file} was not written:\n{stdout}");
    }
    let statement = std::fs::read_to_string(dir.path().join("north-today.xml")).expect("statement");
    assert!(statement.contains("camt.053.001.08") && statement.contains("<Ntry>"), "{statement}");
}
