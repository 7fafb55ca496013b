//! A structure check of OpenMetrics text, shared by the collector's and the aggregator's unit tests
//! (`#[path]`-included) and the end-to-end tests.

use std::collections::HashSet;

/// The families of an OpenMetrics text, checked on the way: no blank line or other comment, one
/// `# TYPE` per family before its samples and `# HELP` right after it, families not interleaved
/// (so two renderers of one page never both declare one), every sample named by its family and a
/// suffix its type allows. With `eof`, the text must end with `# EOF` (once, last); without, it
/// must have none (a fragment of a page).
pub fn openmetrics_families(text: &str, eof: bool) -> Vec<(String, String)> {
    let body = if eof {
        text.strip_suffix("# EOF\n")
            .unwrap_or_else(|| panic!("no final # EOF:\n{text}"))
    } else {
        text
    };
    let mut families: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    for line in body.lines() {
        assert!(!line.is_empty(), "a blank line in the OpenMetrics text");
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(seen.insert(name.to_owned()), "{name} declared twice");
            families.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            let current = families.last().map(|(family, _)| family.as_str());
            assert_eq!(current, Some(name), "HELP away from its TYPE: {line}");
            continue;
        }
        assert!(!line.starts_with('#'), "a comment: {line}");
        let name = line.split(['{', ' ']).next().expect("sample name");
        let (family, kind) = families.last().expect("a sample before any TYPE");
        let suffixes: &[&str] = match kind.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            "summary" => &["", "_sum", "_count", "_created"],
            _ => &[""],
        };
        assert!(
            suffixes
                .iter()
                .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str())),
            "{name} is not a sample of the {kind} {family}"
        );
    }
    families
}
