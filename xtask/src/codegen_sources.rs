//! The three inputs of `cargo xtask codegen-protobuf`, read without any parser crate:
//! the `generated.proto` files (a proto2 subset: messages of `optional`/`repeated`/`map`
//! fields), the Go types' struct tags (pointer-ness, `omitempty`, `inline`), and the
//! k8s-openapi sources (which definitions exist, their Rust paths, fields and JSON names).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// One field of a proto message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoField {
    pub name: String,
    pub number: u32,
    pub repeated: bool,
    /// `map<K, V>`: the value type (keys are always `string` in Kubernetes).
    pub map_value: Option<String>,
    /// The type as written, fully qualified for messages (`.k8s.io.api.core.v1.Pod`).
    pub ty: String,
}

/// Messages by fully qualified name (`k8s.io.api.core.v1.Pod`).
pub type ProtoMessages = BTreeMap<String, Vec<ProtoField>>;

const SCALARS: &[&str] = &[
    "string", "bytes", "int32", "int64", "bool", "double", "float", "uint32", "uint64",
];

fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find('/') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("//") {
            rest = tail.find('\n').map_or("", |j| &tail[j..]);
        } else if tail.starts_with("/*") {
            rest = tail.find("*/").map_or("", |j| &tail[j + 2..]);
        } else {
            out.push('/');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Parses one `generated.proto` into `messages`.
pub fn parse_proto(src: &str, file: &Path, messages: &mut ProtoMessages) -> Result<(), String> {
    let src = strip_comments(src);
    let mut package = String::new();
    let mut current: Option<(String, Vec<ProtoField>)> = None;
    let err = |line: &str, what: &str| format!("{}: {what}: `{line}`", file.display());
    for raw in src.split(['\n', ';']) {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(p) = line.strip_prefix("package ") {
            package = p.trim().to_owned();
        } else if line.starts_with("syntax")
            || line.starts_with("option ")
            || line.starts_with("import ")
        {
            continue;
        } else if let Some(name) = line.strip_prefix("message ") {
            let name = name.trim_end_matches('{').trim();
            if current.is_some() {
                return Err(err(line, "nested messages are not supported"));
            }
            current = Some((format!("{package}.{name}"), Vec::new()));
        } else if line == "}" {
            let (name, fields) = current.take().ok_or_else(|| err(line, "unbalanced `}`"))?;
            messages.insert(name, fields);
        } else if let Some((_, fields)) = current.as_mut() {
            // `optional T name = N` | `repeated T name = N` | `map<string, V> name = N`
            let (decl, number) = line
                .split_once('=')
                .ok_or_else(|| err(line, "expected a field"))?;
            let number: u32 = number
                .trim()
                .parse()
                .map_err(|_| err(line, "bad field number"))?;
            let decl = decl.trim();
            let qualify = |t: &str| {
                if SCALARS.contains(&t) {
                    t.to_owned()
                } else if let Some(q) = t.strip_prefix('.') {
                    q.to_owned()
                } else {
                    format!("{package}.{t}")
                }
            };
            let field = if let Some(m) = decl.strip_prefix("map<") {
                let (types, name) = m.split_once('>').ok_or_else(|| err(line, "bad map"))?;
                let (k, v) = types.split_once(',').ok_or_else(|| err(line, "bad map"))?;
                if k.trim() != "string" {
                    return Err(err(line, "map keys other than string"));
                }
                ProtoField {
                    name: name.trim().to_owned(),
                    number,
                    repeated: false,
                    map_value: Some(qualify(v.trim())),
                    ty: String::new(),
                }
            } else {
                let parts: Vec<&str> = decl.split_whitespace().collect();
                let [label, ty, name] = parts[..] else {
                    return Err(err(line, "expected `label type name`"));
                };
                let repeated = match label {
                    "optional" => false,
                    "repeated" => true,
                    _ => return Err(err(line, "unsupported label")),
                };
                ProtoField {
                    name: name.to_owned(),
                    number,
                    repeated,
                    map_value: None,
                    ty: qualify(ty),
                }
            };
            fields.push(field);
        } else {
            return Err(err(line, "unexpected statement"));
        }
    }
    if current.is_some() {
        return Err(format!("{}: unterminated message", file.display()));
    }
    Ok(())
}

/// What the Go struct tag says about one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoField {
    /// The JSON name; empty for an inlined (embedded) struct.
    pub json: String,
    pub pointer: bool,
    /// `omitempty` (drops zero scalars, empty strings, slices and maps; not structs).
    pub omitempty: bool,
    /// `omitzero` (drops any zero value, structs included).
    pub omitzero: bool,
}

/// Go struct name → proto field number → tag facts.
pub type GoStructs = BTreeMap<String, BTreeMap<u32, GoField>>;

/// Reads the struct tags of every non-test `.go` file in `dir`.
pub fn parse_go_dir(dir: &Path) -> Result<GoStructs, String> {
    let mut out = GoStructs::new();
    let mut files: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.ends_with(".go") && !n.ends_with("_test.go") && !n.starts_with("zz_")
        })
        .collect();
    files.sort();
    for file in files {
        let src = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut current: Option<String> = None;
        for line in src.lines() {
            if let Some(rest) = line.strip_prefix("type ") {
                current = rest.strip_suffix(" struct {").map(|n| n.trim().to_owned());
                continue;
            }
            if line.starts_with('}') {
                current = None;
                continue;
            }
            let Some(name) = &current else { continue };
            let Some((decl, tag)) = line.split_once('`') else {
                continue;
            };
            let Some(pb) = tag_value(tag, "protobuf") else {
                continue;
            };
            let Some(number) = pb.split(',').nth(1).and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let json = tag_value(tag, "json").unwrap_or_default();
            let mut opts = json.split(',');
            let json_name = opts.next().unwrap_or_default().to_owned();
            let opts: Vec<&str> = opts.collect();
            let decl: Vec<&str> = decl.split_whitespace().collect();
            let go_type = match decl[..] {
                [_, ty] => ty,
                [ty] => ty, // embedded
                _ => continue,
            };
            let pointer = go_type.starts_with('*');
            out.entry(name.clone()).or_default().insert(
                number,
                GoField {
                    json: if opts.contains(&"inline") {
                        String::new()
                    } else {
                        json_name
                    },
                    pointer,
                    omitempty: opts.contains(&"omitempty"),
                    omitzero: opts.contains(&"omitzero"),
                },
            );
        }
    }
    Ok(out)
}

fn tag_value<'a>(tag: &'a str, key: &str) -> Option<&'a str> {
    let start = tag.find(&format!("{key}:\""))? + key.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// One k8s-openapi struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RustStruct {
    /// `k8s_openapi::api::core::v1::Pod`.
    pub path: String,
    /// JSON name → (Rust field name, Rust type with `k8s_openapi::` paths).
    pub fields: BTreeMap<String, (String, String)>,
    /// `pub struct X(pub serde_json::Value)`: an empty Go struct, `{}` in JSON.
    pub empty_object: bool,
    /// Whether the struct derives `Default` (not when a required field is a `Time`).
    pub has_default: bool,
    /// Whether k8s-openapi implements its `Resource` for the struct, with `ObjectMeta` as
    /// its `Metadata`: an object kind.
    pub object_kind: bool,
}

/// Definition name (`io.k8s.api.core.v1.Pod`) → struct, or `None` for a type that is
/// not a plain struct (newtypes and enums: hand-written in the runtime).
pub type RustTypes = BTreeMap<String, Option<RustStruct>>;

/// Reads every generated file of one k8s-openapi version module (`src/v1_37`).
pub fn parse_openapi(root: &Path) -> Result<RustTypes, String> {
    let mut out = RustTypes::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in rd.filter_map(Result::ok) {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let src = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                if let Some((def, st)) = parse_openapi_file(root, &p, &src) {
                    out.insert(def, st);
                }
            }
        }
    }
    Ok(out)
}

fn parse_openapi_file(root: &Path, file: &Path, src: &str) -> Option<(String, Option<RustStruct>)> {
    let def = src
        .lines()
        .next()?
        .strip_prefix("// Generated from definition ")?
        .trim()
        .to_owned();
    let module: Vec<String> = file
        .strip_prefix(root)
        .ok()?
        .parent()?
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let lines: Vec<&str> = src.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("pub struct ") && l.ends_with(" {"));
    let Some(start) = start else {
        let newtype = lines.iter().find_map(|l| {
            l.strip_prefix("pub struct ")?
                .strip_suffix("(pub crate::serde_json::Value);")
        });
        return Some((
            def,
            newtype.map(|name| RustStruct {
                path: format!("k8s_openapi::{}::{name}", module.join("::")),
                fields: BTreeMap::new(),
                empty_object: true,
                has_default: true,
                object_kind: false,
            }),
        ));
    };
    let name = lines[start]["pub struct ".len()..]
        .trim_end_matches(" {")
        .trim();
    if name.contains('<') {
        return Some((def, None));
    }
    let mut types = BTreeMap::new();
    for l in &lines[start + 1..] {
        if *l == "}" {
            break;
        }
        if let Some(f) = l.trim().strip_prefix("pub ") {
            let (n, t) = f.split_once(": ")?;
            let t = t.trim_end_matches(',').replace("crate::", "k8s_openapi::");
            types.insert(n.to_owned(), t);
        }
    }
    let mut fields = BTreeMap::new();
    for l in &lines {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix('"')
            && let Some((json, key)) = rest.split_once("\" => Field::Key_")
        {
            let rust = key.trim_end_matches(',').to_owned();
            if let Some(t) = types.get(&rust) {
                fields.insert(json.to_owned(), (rust, t.clone()));
            }
        }
    }
    let path = format!("k8s_openapi::{}::{name}", module.join("::"));
    Some((
        def,
        Some(RustStruct {
            path,
            fields,
            empty_object: false,
            has_default: start > 0 && lines[start - 1].contains("Default"),
            object_kind: src.contains(&format!("impl crate::Resource for {name} {{"))
                && src.contains(&format!(
                    "impl crate::Metadata for {name} {{\n    type Ty = crate::apimachinery::pkg::apis::meta::v1::ObjectMeta;"
                )),
        }),
    ))
}
