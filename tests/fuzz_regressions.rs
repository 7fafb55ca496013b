//! Every committed fuzz seed and every past finding (`fuzz/seeds/TARGET/`, `fuzz/regressions/TARGET/`)
//! through the fuzz targets' own code (`fuzz/src/lib.rs`), on stable, in every `scripts/test`.
//! The fuzzer itself runs from `fuzz/run.sh` (nightly, bounded time).

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_seed_and_past_finding_runs_clean_through_its_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, run) in targets::TARGETS {
        let mut inputs = 0;
        for folder in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("readable folder").path();
                let bytes = std::fs::read(&path).expect("readable input");
                let outcome = std::panic::catch_unwind(|| run(&bytes));
                assert!(
                    outcome.is_ok(),
                    "{name}: {} broke an invariant",
                    path.display()
                );
                inputs += 1;
            }
        }
        assert!(inputs > 0, "{name} has no seeds in fuzz/seeds/{name}");
    }
}
