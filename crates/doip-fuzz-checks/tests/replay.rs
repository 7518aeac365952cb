//! Replays the fuzz seeds and every minimised crash input kept under
//! `fuzz/regressions/<target>/` through the fuzz targets' checks, on the stable toolchain,
//! as part of `cargo test --workspace`.

use std::path::{Path, PathBuf};

use doip_fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files directly in `dir` (none when it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_a_check() {
    // `files` sorts, so the stems come out sorted too.
    let targets: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    let mut checks: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    checks.sort();
    assert!(!targets.is_empty(), "no fuzz targets found under {}", fuzz_dir().display());
    assert_eq!(targets, checks, "fuzz/fuzz_targets/*.rs and doip_fuzz_checks::TARGETS differ");
}

#[test]
fn seeds_and_regressions_pass_every_check() {
    let seeds = files(&fuzz_dir().join("seeds"));
    assert!(seeds.len() >= 10, "the fuzz seeds are missing");
    for (name, check) in TARGETS {
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        for input in seeds.iter().chain(&regressions) {
            let data = std::fs::read(input).expect("readable input");
            println!("{name}: {}", input.display());
            check(&data);
        }
        println!("{name}: {} seeds, {} regression inputs", seeds.len(), regressions.len());
    }
}
