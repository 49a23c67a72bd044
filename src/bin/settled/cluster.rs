//! `settled cluster`: a new cluster's files, a joining member's
//! configuration, membership changes, and each replica's status.

use settled::{Config, proto};

use crate::cli::*;
use crate::{connect, replicas, status_text};

/// Prints the voters a membership change left, or says why it failed.
pub(crate) fn print_voters(
    reply: Result<tonic::Response<proto::MembershipResponse>, tonic::Status>,
) -> Result<(), String> {
    let voters = reply.map_err(|s| status_text(&s))?.into_inner().voters;
    println!("voters:");
    for voter in voters {
        println!("  {} raft {} api {}", voter.id, voter.raft_addr, voter.api_addr);
    }
    Ok(())
}

pub(crate) async fn cluster(command: ClusterCommand, token: &str) -> Result<(), String> {
    match command {
        ClusterCommand::Init { out, members, issuer_keys, issuer_threshold, dev, ca_dir } => {
            let members =
                members.iter().map(|text| settled::cluster::init::parse_member(text)).collect::<Result<Vec<_>, _>>()?;
            let options =
                settled::cluster::init::InitOptions { issuer_keys, issuer_threshold, development: dev, ca_dir };
            let written = settled::cluster::init::init_with(&out, &members, &options).map_err(|e| e.to_string())?;
            for config in &written.configs {
                println!("settled serve --config {}", config.display());
            }
            println!("engine key: {}", written.engine_key.display());
            println!("operator token: {}", written.operator_token.display());
            println!("issuer token: {}", written.issuer_token.display());
            for key in &written.issuer_keys {
                println!("development issuer key: {}", key.display());
            }
            if let Some(token) = &written.dev_token {
                println!("development token (every role, every replica): {}", token.display());
            }
            println!(
                "cluster CA: {} (each member's certificate and key are in peer-<id>/ beside its configuration; the \
                 CA key is needed only to issue a joining member's: move it offline, on no node)",
                written.ca_dir.display()
            );
            Ok(())
        }
        ClusterCommand::JoinConfig { from, id, raft_addr, api_addr, data_dir, ca_dir, out } => {
            let mut config = Config::from_file(&from).map_err(|e| e.to_string())?;
            let cluster =
                config.cluster.as_mut().ok_or_else(|| format!("{} has no [cluster] table", from.display()))?;
            if cluster.members.iter().any(|m| m.id == id) {
                return Err(format!("{} already names a member {id}", from.display()));
            }
            cluster.node_id = id;
            cluster.raft_listen = raft_addr;
            cluster.members.push(settled::config::ClusterMember {
                id,
                raft_addr: raft_addr.to_string(),
                api_addr: api_addr.to_string(),
            });
            config.listen = api_addr;
            if out.exists() {
                return Err(format!("{} exists", out.display()));
            }
            let existing_data_dir = config.data_dir.clone();
            config.data_dir = data_dir.unwrap_or_else(|| config.data_dir.with_file_name(format!("node-{id}")));
            // The new member's certificate, issued by the cluster's CA: the
            // others accept it once it is added to the membership.
            let ca_dir = ca_dir.unwrap_or_else(|| from.with_file_name(settled::cluster::init::CA_DIR));
            let ca = settled::cluster::ClusterCa::load(&ca_dir)?;
            let peer_dir = out.with_file_name(settled::cluster::init::peer_dir(id));
            let tls = ca.issue_into(id, &peer_dir)?;
            config.cluster.as_mut().expect("checked above").tls = Some(tls);
            if config.development {
                // The new replica takes the cluster's development token.
                let token = existing_data_dir.join(settled::config::DEV_TOKEN_FILE);
                let copy = config.data_dir.join(settled::config::DEV_TOKEN_FILE);
                std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
                std::fs::copy(&token, &copy).map_err(|e| format!("copying {}: {e}", token.display()))?;
            }
            let text = toml::to_string(&config).map_err(|e| e.to_string())?;
            if out.exists() {
                return Err(format!("{} exists", out.display()));
            }
            std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
            println!("settled serve --config {}", out.display());
            Ok(())
        }
        ClusterCommand::Add { id, raft_addr, api_addr, server } => {
            let request = proto::AddReplicaRequest { id, raft_addr, api_addr };
            print_voters(
                replicas(&server, token)?
                    .on_leader(|mut c| {
                        let request = request.clone();
                        async move { c.admin.add_replica(request).await }
                    })
                    .await,
            )
        }
        ClusterCommand::Remove { id, server } => print_voters(
            replicas(&server, token)?
                .on_leader(|mut c| async move { c.admin.remove_replica(proto::RemoveReplicaRequest { id }).await })
                .await,
        ),
        ClusterCommand::Status { server } => {
            if !crate::output::json() {
                println!(
                    "{:<28} {:>4} {:<9} {:>6} {:>7} {:>10} {:>10} {:>5}",
                    "replica", "id", "role", "term", "leader", "tip", "committed", "lag"
                );
            }
            let mut answered = 0;
            for url in server.split(',').map(str::trim).filter(|url| !url.is_empty()) {
                let info = match connect(url, token).await {
                    Ok(mut client) => client.info(false).await.map_err(|s| status_text(&s)),
                    Err(error) => Err(error),
                };
                match info {
                    Ok(info) => {
                        answered += 1;
                        let tip = info.tip.map_or(0, |tip| tip.height);
                        match info.cluster {
                            Some(c) => {
                                let role = if c.leading { "leader" } else { "follower" };
                                let value = serde_json::json!({
                                    "replica": url, "id": c.node_id, "role": role, "term": c.term,
                                    "leader": c.leader_id, "tip": tip, "committed": c.committed_height,
                                    "lag": c.lag_blocks,
                                });
                                let text = format!(
                                    "{url:<28} {:>4} {role:<9} {:>6} {:>7} {tip:>10} {:>10} {:>5}",
                                    c.node_id, c.term, c.leader_id, c.committed_height, c.lag_blocks
                                );
                                crate::output::item(&value, &text);
                            }
                            None => crate::output::item(
                                &serde_json::json!({"replica": url, "role": "single", "tip": tip}),
                                &format!("{url:<28} {:>4} {:<9} {:>6} {:>7} {tip:>10}", "-", "single", "-", "-"),
                            ),
                        }
                    }
                    Err(error) => crate::output::item(
                        &serde_json::json!({"replica": url, "unreachable": error}),
                        &format!("{url:<28} unreachable: {error}"),
                    ),
                }
            }
            if answered == 0 { Err("no replica answered".to_owned()) } else { Ok(()) }
        }
    }
}
