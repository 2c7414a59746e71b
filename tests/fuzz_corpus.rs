//! Replays the fuzzing seeds (fuzz/seeds/<target>/) and every crash input ever found
//! (fuzz/crashes/<target>/) through the fuzz entry points, so `cargo test` keeps them passing
//! without cargo-fuzz or a nightly toolchain. Crash inputs of bugs not fixed yet are listed in
//! fuzz/crashes/KNOWN: those must still panic, until the fix removes them from the list.

use std::path::Path;

/// A fuzz target's name and entry point.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("request", odradek::fuzz::request),
    ("record_batch", odradek::fuzz::record_batch),
    ("segment_recovery", odradek::fuzz::segment_recovery),
    ("internal_records", odradek::fuzz::internal_records),
    ("properties", odradek::fuzz::properties),
    ("sasl", odradek::fuzz::sasl),
];

/// The files of `dir` (none if it does not exist), dotfiles such as `.keep` left out, by name.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    files.sort();
    files
}

/// `fuzz/crashes/KNOWN`: crash inputs of bugs not fixed yet, as `<target>/<file>`.
fn known_crashes(fuzz: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(fuzz.join("crashes").join("KNOWN")).unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with('#')).filter_map(|l| l.split_whitespace().next()).map(String::from).collect()
}

#[test]
fn seeds_and_crashes_replay_cleanly() {
    // The request target's broker and the segment target's partitions live under the temp dir:
    // keep them in one that goes away with the test. Set before any other thread exists.
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("TMPDIR", tmp.path());
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let known = known_crashes(&fuzz);
    let mut failures = Vec::new();
    let mut fixed = Vec::new();
    for (target, run) in TARGETS {
        let seeds = inputs(&fuzz.join("seeds").join(target));
        assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{target}");
        let crashes = inputs(&fuzz.join("crashes").join(target));
        let started = std::time::Instant::now();
        for path in seeds.iter().chain(&crashes) {
            let data = std::fs::read(path).unwrap();
            let name = format!("{target}/{}", path.file_name().unwrap().to_string_lossy());
            let panicked = std::panic::catch_unwind(|| run(&data)).is_err();
            match (panicked, known.contains(&name)) {
                (true, false) => failures.push(path.display().to_string()),
                (false, true) => fixed.push(name),
                _ => {}
            }
        }
        println!("{target}: {} seeds, {} crash inputs, {:?}", seeds.len(), crashes.len(), started.elapsed());
    }
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
    assert!(fixed.is_empty(), "fixed: remove these from fuzz/crashes/KNOWN: {fixed:#?}");
}
