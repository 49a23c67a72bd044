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

/// The README's cluster block, with free ports in place of its 7001-7003
/// and 50061-50063: three replicas started by the block itself, a payment
/// through them, the status; every process the block started is stopped
/// with its process group whatever happens.
#[test]
fn the_readme_cluster_walkthrough_runs_as_written() {
    use std::os::unix::process::CommandExt;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let marker = readme.find("<!-- cluster walkthrough -->").expect("the cluster block's marker");
    let block = &readme[marker..];
    let start = block.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = block[start..].find("\n```").expect("the block ends") + start;
    let mut script = block[start..end].to_owned();
    for port in ["7001", "7002", "7003", "50061", "50062", "50063"] {
        let free = settled::dev::free_port().port().to_string();
        script = script.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{free}"));
    }
    assert!(!script.contains(":7001") && !script.contains(":50061"), "{script}");
    let dir = tempfile::tempdir().expect("temp dir");
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("SETTLED_TOKEN")
        .env_remove("SETTLED_SERVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let group = child.id();
    let run = child.wait_with_output().expect("bash ends");
    // Whatever the block left running (a failed run leaves its replicas).
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    let logs: String = (1..=3)
        .map(|n| std::fs::read_to_string(dir.path().join(format!("cluster/node-{n}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(run.status.success(), "the cluster walkthrough failed:\n{stdout}\n{stderr}\n{logs}");
    for said in ["registered in block", "rows: 1, paid: 1 (40.00)", "paid 12.50 to", " leader ", " follower "] {
        assert!(stdout.contains(said), "no '{said}' in:\n{stdout}\n{stderr}");
    }
}
