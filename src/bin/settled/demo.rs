//! `settled demo`: in a build with the `dev` feature (`cargo run --release
//! --features dev -- demo`), a real server (or, with --cluster, three
//! replica processes) under payments, a restart and the checks. A
//! production build carries no demo and says how to get one.

use crate::cli::DemoArgs;

#[cfg(feature = "dev")]
pub(crate) async fn demo(args: DemoArgs) -> Result<(), String> {
    use settled::dev::{demo, demo_cluster};
    use std::time::Duration;
    if args.cluster {
        let options = demo_cluster::ClusterDemoOptions {
            bin: std::env::current_exe().map_err(|e| format!("locating this program: {e}"))?,
            replicas: args.replicas,
            terminals: args.terminals,
            phase: Duration::from_secs(args.seconds),
            data_dir: args.data_dir,
        };
        return demo_cluster::run(&options, |step| println!("{step}")).await.map(|_| ());
    }
    let options = demo::DemoOptions {
        wallets: args.wallets,
        terminals: args.terminals,
        phase: Duration::from_secs(args.seconds),
        data_dir: args.data_dir,
        stream_window: args.stream_window,
    };
    demo::run(options).await.map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(not(feature = "dev"))]
#[allow(clippy::unused_async)]
pub(crate) async fn demo(_: DemoArgs) -> Result<(), String> {
    Err("this build of settled has no demo (a production build): run `cargo run --release --features dev -- demo`"
        .to_owned())
}
