//! Field paths of parse errors, as [`parse`] reports them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::parse;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only ever deserialized
struct Doc {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<Header>>,
    #[serde(default)]
    limit: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only ever deserialized
struct Item {
    name: String,
    #[serde(default)]
    inner: Option<Inner>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only ever deserialized
struct Inner {
    #[serde(default)]
    port: u16,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only ever deserialized
struct Header {
    #[serde(default)]
    values: Vec<String>,
}

/// `line:column: path: message` of the one error.
fn err(yaml: &str) -> String {
    let e = parse::<Doc>(yaml, Path::new("t.yml")).expect_err("an error");
    assert_eq!(e.len(), 1, "{e:?}");
    let e = &e.0[0];
    format!("{}:{}: {}: {}", e.line, e.column, e.path, e.message)
}

#[test]
fn a_path_names_list_indexes_and_nested_fields() {
    let e = err("items:\n  - name: a\n  - name: b\n    inner:\n      port: x\n");
    assert!(e.starts_with("5:7: items[1].inner.port: "), "{e}");
    let e = err("items:\n  - name: a\n    inner:\n      tags: [a, {b: 1}]\n");
    assert!(e.starts_with("4:17: items[0].inner.tags[1]: "), "{e}");
}

#[test]
fn an_unknown_field_is_named_in_the_path() {
    let e = err("items:\n  - name: a\n    inner:\n      bogus: 1\n");
    assert!(
        e.starts_with("4:7: items[0].inner.bogus: unknown field `bogus`"),
        "{e}"
    );
}

#[test]
fn a_free_form_key_is_kept_and_spanned_value_fields_are_dropped() {
    // `headers` keys are user data: a header named `value` stays in the path, while the
    // `value` field of `Spanned` (not in the file) does not appear.
    let e = err("headers:\n  value:\n    values: 3\n");
    assert!(e.starts_with("3:13: headers.value.values: "), "{e}");
    let e = err("limit: many\n");
    assert!(e.starts_with("1:1: limit: "), "{e}");
}

#[test]
fn a_duplicate_key_is_named_in_the_path() {
    assert_eq!(
        err("items:\n  - name: a\n    name: b\n"),
        "3:5: items[0].name: duplicate key `name`: each key may appear only once in a mapping"
    );
    assert_eq!(
        err("headers:\n  X-A: {}\n  X-A: {}\n"),
        "3:3: headers.X-A: duplicate key `X-A`: each key may appear only once in a mapping"
    );
}

#[test]
fn a_syntax_error_names_the_mapping_it_is_in() {
    let e = err("items:\n  - name: a\n    inner: {port: 1\n");
    assert!(e.contains(": items[0].inner: "), "{e}");
}

#[test]
fn each_parse_records_its_own_path() {
    let _ = err("items:\n  - name: a\n    inner:\n      port: x\n");
    let e = err("limit: x\n");
    assert!(e.starts_with("1:1: limit: "), "{e}");
    // `from_str` records no path and decodes as before.
    let doc: Doc = super::from_str("items:\n  - name: a\n").expect("valid");
    assert_eq!(doc.items[0].name, "a");
    assert!(super::from_str::<Doc>("items: [{name: a, bogus: 1}]\n").is_err());
}
