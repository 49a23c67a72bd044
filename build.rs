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
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
