//! `cargo xtask imports`, also a step of `cargo xtask test`: the import
//! graph of `executor-api`'s files, read from their `use` lines and the
//! `crate::` paths in their code, checked for the rules that keep the crate
//! a house of floors (see the README's architecture section):
//!
//! - no circle of files;
//! - a file imports a name from the file that defines it, not through a
//!   re-export (`crate::Name`, `crate::backend::Name`).
//!
//! Tests are left out: a file's `#[cfg(test)]` module (at its end, by the
//! workspace's test layout) and the loom models may reach anywhere.
//!
//! A small reader, not a Rust parser: it strips comments, expands the
//! braces of `use` trees and resolves each path to the deepest module file
//! it names. That is enough for this crate's plain `use` style, and a path
//! it cannot resolve makes the check fail loudly rather than pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A module's code, without comments and without its tests.
struct Module {
    code: String,
}

/// Runs the check on `executor-api` and prints the graph's floors.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!(
            "`cargo xtask imports` takes no arguments, got {args:?}"
        ));
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../executor-api/src");
    let graph = Graph::read(&src)?;
    let floors = graph.check()?;
    println!(
        "executor-api: {} files, {} imports between them, no circle, no import through a re-export",
        graph.modules.len(),
        graph.edges.values().map(BTreeSet::len).sum::<usize>()
    );
    for (floor, modules) in floors.iter().enumerate().rev() {
        println!("  floor {floor}: {}", modules.join(", "));
    }
    Ok(())
}

struct Graph {
    modules: BTreeMap<String, Module>,
    /// Which modules each module imports from.
    edges: BTreeMap<String, BTreeSet<String>>,
    /// Imports through a re-export: (importer, path).
    through_reexports: Vec<(String, String)>,
}

impl Graph {
    fn read(src: &Path) -> Result<Graph, String> {
        let mut modules = BTreeMap::new();
        read_dir(src, src, &mut modules)?;
        let mut graph = Graph {
            modules,
            edges: BTreeMap::new(),
            through_reexports: Vec::new(),
        };
        let names: Vec<String> = graph.modules.keys().cloned().collect();
        for name in names {
            let mut targets = BTreeSet::new();
            for path in paths_in(&graph.modules[&name].code) {
                let Some(path) = graph.this_crates_path(&name, path) else {
                    continue;
                };
                let absolute = absolute(&name, &path)?;
                let (target, rest) = graph.resolve(&absolute);
                if let Some(item) = rest.first()
                    && (target.is_empty() || target == "backend")
                    && !defines(&graph.modules[&target].code, item)
                {
                    graph
                        .through_reexports
                        .push((name.clone(), path.join("::")));
                }
                if target != name && !target.is_empty() {
                    targets.insert(target);
                }
            }
            graph.edges.insert(name, targets);
        }
        Ok(graph)
    }

    /// `path` as written in `module`, if it names this crate: from
    /// `crate`, `super` or `self`, or from one of `module`'s child modules
    /// (then read as `self::`); `None` for another crate's path.
    fn this_crates_path(&self, module: &str, path: Vec<String>) -> Option<Vec<String>> {
        let first = path.first()?;
        if ["crate", "super", "self"].contains(&first.as_str()) {
            return Some(path);
        }
        let child = if module.is_empty() {
            first.clone()
        } else {
            format!("{module}::{first}")
        };
        self.modules.contains_key(&child).then(|| {
            let mut from_self = vec!["self".to_owned()];
            from_self.extend(path);
            from_self
        })
    }

    /// The deepest module `path` names, and the segments after it.
    fn resolve<'p>(&self, path: &'p [String]) -> (String, &'p [String]) {
        for len in (0..=path.len()).rev() {
            let candidate = path[..len].join("::");
            if self.modules.contains_key(&candidate) {
                return (candidate, &path[len..]);
            }
        }
        (String::new(), path)
    }

    /// The floors, lowest first (a module's floor is one above the highest
    /// it imports from), or the first rule broken.
    fn check(&self) -> Result<Vec<Vec<String>>, String> {
        if let Some((importer, path)) = self.through_reexports.first() {
            return Err(format!(
                "executor-api: `{importer}` imports `{path}` through a re-export: import it from the module that defines it ({} such imports)",
                self.through_reexports.len()
            ));
        }
        let mut floor: BTreeMap<&str, usize> = BTreeMap::new();
        for name in self.modules.keys() {
            self.floor_of(name, &mut floor, &mut Vec::new())?;
        }
        let mut floors: Vec<Vec<String>> = Vec::new();
        for (name, &level) in &floor {
            if floors.len() <= level {
                floors.resize(level + 1, Vec::new());
            }
            let shown = if name.is_empty() { "lib" } else { name };
            floors[level].push(shown.to_owned());
        }
        Ok(floors)
    }

    fn floor_of<'a>(
        &'a self,
        name: &'a str,
        floor: &mut BTreeMap<&'a str, usize>,
        path: &mut Vec<&'a str>,
    ) -> Result<usize, String> {
        if let Some(&level) = floor.get(name) {
            return Ok(level);
        }
        if let Some(start) = path.iter().position(|&on_path| on_path == name) {
            let mut circle = path[start..].to_vec();
            circle.push(name);
            return Err(format!(
                "executor-api: a circle of files: {}",
                circle.join(" → ")
            ));
        }
        path.push(name);
        let mut level = 0;
        for target in self.edges.get(name).into_iter().flatten() {
            level = level.max(self.floor_of(target, floor, path)? + 1);
        }
        path.pop();
        floor.insert(name, level);
        Ok(level)
    }
}

/// Reads every `.rs` file under `dir` into `modules`, but the test-only
/// ones.
fn read_dir(src: &Path, dir: &Path, modules: &mut BTreeMap<String, Module>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|err| format!("reading {}: {err}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|err| err.to_string())?.path();
        if path.is_dir() {
            read_dir(src, &path, modules)?;
            continue;
        }
        let Some(relative) = path.strip_prefix(src).ok().and_then(Path::to_str) else {
            continue;
        };
        let Some(stem) = relative.strip_suffix(".rs") else {
            continue;
        };
        if stem.ends_with("loom_models") {
            continue;
        }
        let name = match stem {
            "lib" => String::new(),
            _ => stem.strip_suffix("/mod").unwrap_or(stem).replace('/', "::"),
        };
        let text = fs::read_to_string(&path)
            .map_err(|err| format!("reading {}: {err}", path.display()))?;
        let code = without_tests(&without_comments(&text));
        modules.insert(name, Module { code });
    }
    Ok(())
}

/// `text` without `//` comments (doc comments included). String literals
/// holding `//` are cut too: harmless here, they hold no paths.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `code` up to its inline test module (a `#[cfg(..test..)]` line followed
/// by `mod name {`): by the workspace's layout a file's tests are its last
/// module.
fn without_tests(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| {
            let (attribute, item) = (pair[0].trim(), pair[1].trim());
            attribute.starts_with("#[cfg(")
                && find_word(attribute, "test").is_some()
                && item.starts_with("mod ")
                && item.ends_with('{')
        })
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

/// Every path that starts at `crate`, `super` or `self` in `code`: the
/// trees of its `use` items, expanded, and the paths written inline. A path
/// inside an inline module (`mod imp { .. }`) is returned from that module:
/// its `super` is the file's module.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let offset = code.len() - rest.len() + at;
        // Only the `use` that starts an item (after a visibility, if any):
        // not the word in a string.
        let line_start = code[..offset].rfind('\n').map_or(0, |at| at + 1);
        let before = code[line_start..offset].trim();
        if !(before.is_empty() || before.starts_with("pub")) {
            rest = &rest[at + 3..];
            continue;
        }
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        // `a as b` keeps its `as` apart (`@`); other whitespace goes.
        let tree = after[..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" as ", "@")
            .replace(' ', "");
        // Every tree but those of other crates (`std::`, `tokio::`): a
        // tree that starts at a child module (`use child::Name`, as a
        // `mod.rs` may write) is told apart later, where the modules are
        // known.
        if !tree.is_empty() && !tree.starts_with("::") {
            let mut expanded = Vec::new();
            expand(&tree, &mut expanded);
            let inline = inline_modules_at(code, offset);
            paths.extend(expanded.into_iter().map(|path| within(&inline, path)));
        }
        rest = &after[end..];
    }
    let mut rest = code;
    while let Some(at) = find_word(rest, "crate") {
        let after = &rest[at..];
        let path: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<String> = path
            .split("::")
            .filter(|segment| !segment.is_empty())
            .map(str::to_owned)
            .collect();
        if segments.len() > 1 {
            paths.push(segments);
        }
        // (`crate::` paths are absolute: the inline module does not matter.)
        rest = &after[path.len().max(1)..];
    }
    paths
}

/// The inline modules (`mod name {`) open at `offset` in `code`, outermost
/// first.
fn inline_modules_at(code: &str, offset: usize) -> Vec<String> {
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending: Option<String> = None;
    let mut rest = &code[..offset];
    while let Some(c) = rest.chars().next() {
        if let Some(declared) = rest.strip_prefix("mod ") {
            let name: String = declared
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let after = declared[name.len()..].trim_start();
            if after.starts_with('{') {
                pending = Some(name);
            }
        }
        match c {
            '{' => {
                depth += 1;
                if let Some(name) = pending.take() {
                    open.push((name, depth));
                }
            }
            '}' => {
                if open.last().is_some_and(|(_, at)| *at == depth) {
                    open.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    open.into_iter().map(|(name, _)| name).collect()
}

/// `path`, seen from the inline modules `inline` of a file: a `self` or
/// `super` path gets the inline modules it starts from (`self::` paths and
/// `super::` paths that climb out of them are rewritten from the file's
/// module).
fn within(inline: &[String], path: Vec<String>) -> Vec<String> {
    let climbs = path
        .iter()
        .take_while(|segment| *segment == "super")
        .count();
    if inline.is_empty() || path.first().is_some_and(|first| first == "crate") {
        return path;
    }
    if path.first().is_some_and(|first| first == "self") {
        let mut from_file = vec!["self".to_owned()];
        from_file.extend(inline.iter().cloned());
        from_file.extend(path.into_iter().skip(1));
        return from_file;
    }
    // `super` climbs the inline modules first, then the files.
    let kept = inline.len().saturating_sub(climbs);
    let left = climbs.saturating_sub(inline.len());
    let mut from_file: Vec<String> = if left == 0 {
        vec!["self".to_owned()]
    } else {
        vec!["super".to_owned(); left]
    };
    from_file.extend(inline[..kept].iter().cloned());
    from_file.extend(path.into_iter().skip(climbs));
    from_file
}

/// Where `word` starts in `text` as a whole word, if anywhere.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let is_part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !is_part(before) && !is_part(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Expands a `use` tree without whitespace (`crate::a::{b,c::{d,e@f}}`,
/// `@` for `as`) into its paths.
fn expand(tree: &str, paths: &mut Vec<Vec<String>>) {
    let Some(open) = tree.find('{') else {
        let path = tree.split('@').next().unwrap_or(tree);
        paths.push(
            path.split("::")
                .filter(|segment| !segment.is_empty() && *segment != "*")
                .map(str::to_owned)
                .collect(),
        );
        return;
    };
    let prefix = &tree[..open];
    let close = tree
        .rfind('}')
        .filter(|&close| close > open)
        .unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    for part in parts.into_iter().filter(|part| !part.is_empty()) {
        if part == "self" {
            expand(prefix.trim_end_matches(':'), paths);
        } else {
            expand(&format!("{prefix}{part}"), paths);
        }
    }
}

/// `path` (from `crate`, `super` or `self`) as an absolute module path,
/// seen from `module`.
fn absolute(module: &str, path: &[String]) -> Result<Vec<String>, String> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut segments = path.iter().peekable();
    match segments.peek().map(|segment| segment.as_str()) {
        Some("crate") => {
            segments.next();
            base.clear();
        }
        Some("self") => {
            segments.next();
        }
        Some("super") => {
            while segments.peek().is_some_and(|segment| *segment == "super") {
                segments.next();
                if base.pop().is_none() {
                    return Err(format!(
                        "`{module}`: `{}` goes above the crate",
                        path.join("::")
                    ));
                }
            }
        }
        _ => {
            return Err(format!(
                "`{module}`: cannot read the path `{}`",
                path.join("::")
            ));
        }
    }
    base.extend(segments.cloned());
    Ok(base)
}

/// Whether `code` defines `item` (rather than re-exporting it).
fn defines(code: &str, item: &str) -> bool {
    [
        "fn",
        "struct",
        "enum",
        "trait",
        "type",
        "const",
        "static",
        "mod",
        "macro_rules!",
    ]
    .iter()
    .any(|kind| {
        let mut rest = code;
        while let Some(at) = find_word(rest, kind) {
            let after = rest[at + kind.len()..].trim_start();
            if after.starts_with(item)
                && !after[item.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                return true;
            }
            rest = &rest[at + kind.len()..];
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph of a crate made of `files`, written under a folder named
    /// after the test.
    fn graph(test: &str, files: &[(&str, &str)]) -> Graph {
        let dir = std::env::temp_dir().join(format!("xtask-imports-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (file, text) in files {
            let path = dir.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let graph = Graph::read(&dir).unwrap();
        let _ = fs::remove_dir_all(&dir);
        graph
    }

    #[test]
    fn a_circle_of_files_is_found() {
        let graph = graph(
            "circle",
            &[
                ("lib.rs", "mod a;\nmod b;\n"),
                ("a.rs", "use crate::b::B;\npub struct A;\n"),
                ("b.rs", "use crate::{a::A};\npub struct B;\n"),
            ],
        );
        let err = graph.check().unwrap_err();
        assert!(err.contains("circle"), "{err}");
    }

    #[test]
    fn an_import_through_a_reexport_is_found() {
        let graph = graph(
            "reexport",
            &[
                ("lib.rs", "mod a;\nmod b;\npub use crate::a::A;\n"),
                ("a.rs", "pub struct A;\n"),
                ("b.rs", "use crate::A;\n"),
            ],
        );
        let err = graph.check().unwrap_err();
        assert!(err.contains("re-export"), "{err}");
    }

    #[test]
    fn floors_follow_imports_and_ignore_tests_and_comments() {
        let graph = graph(
            "floors",
            &[
                ("lib.rs", "mod a;\nmod b;\npub use crate::b::run;\n"),
                ("a/mod.rs", "pub mod deep;\n"),
                (
                    "a/deep.rs",
                    "pub struct Deep;\nmod imp {\n    use super::Deep;\n}\n",
                ),
                (
                    "b.rs",
                    "use crate::a::deep::{self, Deep as D};\npub fn run() {}\n// use crate::lib_only;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n",
                ),
            ],
        );
        let floors = graph.check().unwrap();
        assert_eq!(floors[0], ["a", "a::deep"]);
        assert_eq!(floors[1], ["b"]);
        assert_eq!(floors[2], ["lib"]);
    }
}
