//! The architecture's layering, checked on the source (ARCHITECTURE.md,
//! "Architecture invariants"): which room of `src/` may name which, and no
//! cycle among them. A `use crate::…` (or a path through `crate::`) that
//! breaks a rule fails here with the file and the room it reached.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rooms each room may name, besides itself. Rooms not listed (the
/// composition root: `server`, `lib`; the development tools: `dev`) may
/// name any room.
const ALLOWED: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("store", &["core"]),
    ("metrics", &["core"]),
    ("connections", &["core"]),
    ("config", &["core"]),
    ("engine", &["core", "store", "metrics"]),
    ("cluster", &["core", "store", "engine", "config", "connections"]),
    ("api", &["core", "store", "engine", "cluster", "metrics"]),
    ("client", &["core", "api"]),
];

const ROOMS: &[&str] =
    &["core", "store", "metrics", "connections", "config", "engine", "cluster", "api", "client", "server", "dev"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The room a file of `src/` belongs to (`src/core/ledger.rs` -> `core`,
/// `src/server.rs` -> `server`), if any.
fn room_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let room = first.trim_end_matches(".rs");
    ROOMS.contains(&room).then(|| room.to_owned())
}

/// The rooms a source text names through `crate::`, test modules excluded.
fn named_rooms(text: &str) -> BTreeSet<String> {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut named = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if ROOMS.contains(&name.as_str()) {
            named.insert(name);
        }
    }
    named
}

fn edges() -> BTreeMap<String, BTreeMap<String, Vec<PathBuf>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, Vec<PathBuf>>> = BTreeMap::new();
    for file in files {
        let Some(room) = room_of(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).expect("readable source file");
        for named in named_rooms(&text).into_iter().filter(|named| *named != room) {
            edges.entry(room.clone()).or_default().entry(named).or_default().push(file.clone());
        }
    }
    edges
}

#[test]
fn each_room_names_only_the_rooms_below_it() {
    let edges = edges();
    assert!(edges.contains_key("engine") && edges.contains_key("api"), "the scan found the rooms: {edges:?}");
    let mut broken = Vec::new();
    for (room, allowed) in ALLOWED {
        for (named, files) in edges.get(*room).into_iter().flatten() {
            if !allowed.contains(&named.as_str()) {
                broken.push(format!("{room} names {named} in {files:?}"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn no_two_rooms_name_each_other_through_any_path() {
    let edges = edges();
    // Reachability by repeated relaxation: a room that reaches itself is on
    // a cycle.
    let mut reach: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (room, named) in &edges {
        reach.entry(room).or_default().extend(named.keys().map(String::as_str));
    }
    loop {
        let mut grown = false;
        let snapshot = reach.clone();
        for (room, reached) in &mut reach {
            for via in snapshot.get(room).into_iter().flatten() {
                for next in snapshot.get(via).into_iter().flatten() {
                    grown |= reached.insert(next);
                }
            }
        }
        if !grown {
            break;
        }
    }
    let cyclic: Vec<&str> = reach.iter().filter(|(room, reached)| reached.contains(*room)).map(|(r, _)| *r).collect();
    let on_cycle: Vec<String> = cyclic
        .iter()
        .flat_map(|room| {
            let named = edges.get(*room).into_iter().flatten();
            named
                .filter(|(to, _)| cyclic.contains(&to.as_str()))
                .map(move |(to, files)| format!("{room} -> {to}: {files:?}"))
        })
        .collect();
    assert!(cyclic.is_empty(), "rooms on an import cycle: {cyclic:?}\n{}", on_cycle.join("\n"));
}

#[test]
fn the_scan_sees_a_forbidden_name() {
    // The check itself: a core file naming the store would be caught.
    let named = named_rooms("use crate::store::Store;\nfn f() { crate::core::limits::X; }\n");
    assert_eq!(named, BTreeSet::from(["store".to_owned(), "core".to_owned()]));
    assert!(named_rooms("use settled_crate::store;").is_empty(), "only crate:: paths");
}
