//! Dependencies inside quiver-core point one way.
//!
//! The engine's top-level modules form layers; a module may name items of
//! the layers below it and never of its own layer or above, so no two
//! modules depend on each other. This test parses every source file of the
//! crate and fails naming the file and the path that crosses a layer the
//! wrong way, and when a top-level module is missing from [`LAYERS`].
//!
//! A path counts as a dependency when it starts with `crate::` (or a chain
//! of `super::` that leaves its top-level module), in a `use` or anywhere in
//! the code; names the crate root re-exports (`crate::Error`) are charged
//! to the module that defines them. Test code (`#[cfg(test)]` modules,
//! inline or in files of their own) is exempt: a unit test may build a
//! whole `Database` to exercise the part it tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Each top-level module of `src/`, with the modules it may use. A module
/// may only list modules that appear before it, which keeps the graph
/// acyclic by construction.
const LAYERS: &[(&str, &[&str])] = &[
    ("point", &[]),
    ("error", &["point"]),
    ("file", &[]),
    ("distance", &[]),
    ("text", &["error", "point"]),
    ("quantization", &["distance", "error", "point"]),
    ("storage", &["file", "distance", "error", "point"]),
    (
        "index",
        &["file", "distance", "quantization", "error", "point"],
    ),
    ("filter", &["file", "error", "point"]),
    (
        "collection",
        &[
            "storage", "index", "filter", "file", "distance", "error", "point",
        ],
    ),
    (
        "database",
        &[
            "collection",
            "storage",
            "file",
            "distance",
            "error",
            "point",
        ],
    ),
    (
        "fuzzing",
        &[
            "database",
            "collection",
            "storage",
            "index",
            "filter",
            "file",
            "distance",
            "error",
            "point",
        ],
    ),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `storage/mmap.rs` -> `[storage, mmap]`,
/// `storage/mod.rs` -> `[storage]`, `lib.rs` -> `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// Every path a `use` tree names, as segment lists.
fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for item in &g.items {
                flatten_use(item, prefix, out);
            }
        }
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|arg| arg == "test")
    })
}

/// Collects the paths of one file, with the inline module each sits in,
/// and the modules it declares as test-only (`#[cfg(test)] mod tests;`).
struct Paths {
    inline: Vec<String>,
    found: Vec<(Vec<String>, Vec<String>)>,
    test_modules: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.inline.push(m.ident.to_string());
        if is_cfg_test(&m.attrs) {
            self.test_modules.push(self.inline.clone());
        } else {
            syn::visit::visit_item_mod(self, m);
        }
        self.inline.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        flatten_use(&u.tree, &mut Vec::new(), &mut paths);
        for p in paths {
            self.found.push((self.inline.clone(), p));
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.found.push((self.inline.clone(), segs));
        syn::visit::visit_path(self, p);
    }
}

/// The crate-absolute form of `path` written in module `here`, or `None`
/// for a path that does not start at the crate (a local or external name).
fn absolute(here: &[String], path: &[String]) -> Option<Vec<String>> {
    match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("super") => {
            let mut base = here.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

/// Root-level names `lib.rs` re-exports, mapped to their defining module.
fn root_exports(src: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let file = syn::parse_file(&text).expect("parse lib.rs");
    let mut map = BTreeMap::new();
    for item in &file.items {
        if let syn::Item::Use(u) = item {
            let mut paths = Vec::new();
            flatten_use(&u.tree, &mut Vec::new(), &mut paths);
            for p in paths {
                if let (Some(module), Some(name)) = (p.first(), p.last()) {
                    map.insert(name.clone(), module.clone());
                }
            }
        }
    }
    map
}

/// Every (from module, to module, file, path) dependency of the crate.
fn dependencies() -> Vec<(String, String, PathBuf, String)> {
    let src = src_dir();
    let exports = root_exports(&src);
    let modules: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut scanned = Vec::new();
    let mut test_modules = Vec::new();
    for file in files {
        let here = module_path(&src, &file);
        let text = fs::read_to_string(&file).expect("read source");
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut visitor = Paths {
            inline: Vec::new(),
            found: Vec::new(),
            test_modules: Vec::new(),
        };
        visitor.visit_file(&ast);
        for m in &visitor.test_modules {
            let mut path = here.clone();
            path.extend(m.iter().cloned());
            test_modules.push(path);
        }
        scanned.push((file, here, visitor.found));
    }
    let mut deps = Vec::new();
    for (file, here, found) in scanned {
        let Some(top) = here.first().cloned() else {
            continue;
        };
        if test_modules.iter().any(|t| here.starts_with(t)) {
            continue;
        }
        for (inline, path) in found {
            let mut scope = here.clone();
            scope.extend(inline);
            let Some(abs) = absolute(&scope, &path) else {
                continue;
            };
            let Some(first) = abs.first() else {
                continue;
            };
            let target = if modules.contains(first.as_str()) {
                first.clone()
            } else if let Some(module) = exports.get(first) {
                module.clone()
            } else {
                panic!(
                    "{}: `{}` names `{first}`, which is neither a top-level module in LAYERS nor a root re-export",
                    file.display(),
                    path.join("::")
                );
            };
            if target != top {
                deps.push((top.clone(), target, file.clone(), path.join("::")));
            }
        }
    }
    deps
}

#[test]
fn layers_list_only_modules_below_them() {
    for (i, (module, uses)) in LAYERS.iter().enumerate() {
        for used in *uses {
            let below = LAYERS[..i].iter().any(|(m, _)| m == used);
            assert!(
                below,
                "`{module}` may use `{used}`, which is not listed before it"
            );
        }
    }
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = src_dir();
    let listed: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    for entry in fs::read_dir(&src).expect("read src") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if name == "lib" {
            continue;
        }
        assert!(
            listed.contains(name.as_str()),
            "src/{name} is not placed in a layer: add it to LAYERS in tests/it/layers.rs"
        );
    }
}

#[test]
fn dependencies_point_down_the_layers() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let wrong: Vec<String> = dependencies()
        .into_iter()
        .filter(|(from, to, _, _)| !allowed[from.as_str()].contains(&to.as_str()))
        .map(|(from, to, file, path)| format!("{from} -> {to}: {} uses `{path}`", file.display()))
        .collect();
    assert!(
        wrong.is_empty(),
        "dependencies against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_parser_sees_crate_and_super_paths() {
    let here = ["collection".to_owned(), "search".to_owned()];
    let path = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        absolute(&here, &path("super::super::storage::MmapStorage")),
        Some(path("storage::MmapStorage"))
    );
    assert_eq!(absolute(&here, &path("crate::Error")), Some(path("Error")));
    assert_eq!(absolute(&here, &path("std::fs")), None);
    let deps = dependencies();
    assert!(
        deps.iter()
            .any(|(from, to, _, _)| from == "collection" && to == "storage"),
        "the scan found no collection -> storage use, so it is not reading the sources"
    );
}
