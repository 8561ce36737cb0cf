//! Golden traces: what `sim run` writes for every shipped scenario (pcapng, pcaps, tables,
//! report) is committed under `traces/<scenario>/`. This test regenerates each into a temporary
//! directory and requires the same files with the same bytes, and no directory under `traces/`
//! without a shipped scenario. `SIM_UPDATE_GOLDEN=1` rewrites the golden files instead.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

/// The files of a directory, by name, with their bytes (`.gitkeep` is not a trace).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .filter(|(n, _)| n != ".gitkeep")
        .collect()
}

/// The directories under `traces/`.
fn golden_dirs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(golden_root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_scenarios_write_their_golden_traces_byte_for_byte() {
    let update = std::env::var("SIM_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let tmp = std::env::temp_dir().join(format!("sim-golden-{}", std::process::id()));
    let mut problems = Vec::new();
    let mut written = Vec::new();
    for name in shipped() {
        let r = run(&name);
        written.push(r.built.name.clone());
        // The directory `sim run` writes by default: traces/<scenario name>.
        let golden = golden_root().join(&r.built.name);
        let out = tmp.join(&name);
        sim::run::write_outputs(&r, &out).unwrap();
        let (want, got) = (files(&golden), files(&out));
        if update {
            if golden.exists() {
                std::fs::remove_dir_all(&golden).unwrap();
            }
            sim::run::write_outputs(&r, &golden).unwrap();
            continue;
        }
        if want.is_empty() {
            problems.push(format!("traces/{}: missing", r.built.name));
            continue;
        }
        for (f, bytes) in &got {
            match want.get(f) {
                None => problems.push(format!("traces/{}/{f}: missing", r.built.name)),
                Some(w) if w != bytes => problems.push(format!(
                    "traces/{}/{f}: differs ({} bytes written, {} committed)",
                    r.built.name,
                    bytes.len(),
                    w.len()
                )),
                Some(_) => {}
            }
        }
        for f in want.keys().filter(|f| !got.contains_key(*f)) {
            problems.push(format!(
                "traces/{}/{f}: extra (sim run no longer writes it)",
                r.built.name
            ));
        }
    }
    // A renamed or removed scenario leaves its old traces behind.
    for d in golden_dirs() {
        if !written.contains(&d) {
            if update {
                std::fs::remove_dir_all(golden_root().join(&d)).unwrap();
            } else {
                problems.push(format!(
                    "traces/{d}: extra (no shipped scenario has that name)"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        problems.is_empty(),
        "golden traces differ from what sim run writes now:\n  {}\nIf the change is intended, \
         regenerate them with `SIM_UPDATE_GOLDEN=1 cargo test --release --test golden` and \
         review `git diff --stat traces/`.",
        problems.join("\n  ")
    );
}
