//! Generates the gRPC code from `proto/` with protox (a pure-Rust protobuf
//! compiler), so the build needs no system `protoc`.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/settled/v1/ledger.proto",
        "proto/settled/v1/payment.proto",
        "proto/settled/v1/wallet.proto",
        "proto/settled/v1/admin.proto",
        "proto/settled/v1/reconciliation.proto",
        "proto/settled/v1/alerts.proto",
        "proto/settled/v1/raft.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("settled_descriptor.bin"), fds.encode_to_vec())?;
    embed_console(&out_dir)?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}

/// Writes `console_assets.rs`: every file of `clients/console/dist/` (the
/// web console, built by its npm project and committed) as
/// `(name, bytes)`, so that the binary serves the console with nothing
/// beside it.
fn embed_console(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let dist = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("clients/console/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut names = Vec::new();
    if dist.is_dir() {
        for entry in std::fs::read_dir(&dist)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().into_string().map_err(|name| format!("{name:?} is not UTF-8"))?);
            }
        }
    }
    names.sort();
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for name in names {
        let path = dist.join(&name);
        code.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("console_assets.rs"), code)?;
    Ok(())
}
