use std::path::Path;
#[test]
fn dump() {
    for name in ["quickstart", "masterclass", "money_transfer", "classic"] {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rasa").join(name);
        if !source.exists() { continue; }
        let project = tern_import::rasa::import(&source).unwrap();
        let out = Path::new("/tmp/rasa_out").join(name);
        tern_import::write_project(&project, &out, true).unwrap();
        for d in tern_import::validate_project(&project) { println!("{name}: {d}"); }
        let tests = out.join("tests");
        if tests.exists() {
            for entry in std::fs::read_dir(&tests).unwrap() {
                let path = entry.unwrap().path();
                let report = tern_convtest::run_file(&path, tern_convtest::Mode::Direct);
                if let Some(e) = &report.error { println!("ERROR {}: {e}", path.display()); }
                for t in &report.tests { println!("{} {} {}", if t.passed() {"ok"} else {"FAIL"}, path.display(), t.name); for f in &t.failures { println!("   {:?}", f); } }
            }
        }
    }
}
