//! Locating and installing the control-plane binaries.
//!
//! The binaries come from, in this order:
//! 1. `KUBEBUILDER_ASSETS` (the layout of controller-runtime's `setup-envtest`: a
//!    directory holding `etcd`, `kube-apiserver` and optionally `kube-controller-manager`,
//!    `kube-scheduler` and `kwok`);
//! 2. the cache `${XDG_CACHE_HOME:-$HOME/.cache}/k8s-client/testenv/<version>/`, filled by
//!    [`Binaries::install`], which builds them from the Go modules of the pinned releases
//!    (see [`super::versions`]).

use super::TestEnvError;
use super::versions::{
    ETCD_MAIN_PACKAGE, ETCD_VERSION, KUBERNETES_VERSION, KWOK_MAIN_PACKAGE, KWOK_MODULE,
    KWOK_VERSION, staging_version,
};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable naming a directory of prebuilt binaries.
pub const ASSETS_ENV: &str = "KUBEBUILDER_ASSETS";

const ETCD: &str = "etcd";
const APISERVER: &str = "kube-apiserver";
const CONTROLLER_MANAGER: &str = "kube-controller-manager";
const SCHEDULER: &str = "kube-scheduler";
const KWOK: &str = "kwok";
const GO_FALLBACK: &str = "/usr/local/go/bin/go";

/// Paths of the control-plane executables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    dir: PathBuf,
    etcd: PathBuf,
    kube_apiserver: PathBuf,
    kube_controller_manager: Option<PathBuf>,
    kube_scheduler: Option<PathBuf>,
    kwok: Option<PathBuf>,
}

impl Binaries {
    /// Uses the binaries in `dir`, which must hold `etcd` and `kube-apiserver`;
    /// `kube-controller-manager`, `kube-scheduler` and `kwok` are optional.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Self, TestEnvError> {
        let dir = dir.into();
        let required = |binary: &'static str| {
            let path = dir.join(binary);
            if is_executable(&path) {
                Ok(path)
            } else {
                Err(TestEnvError::AssetsIncomplete {
                    dir: dir.clone(),
                    binary,
                })
            }
        };
        let etcd = required(ETCD)?;
        let kube_apiserver = required(APISERVER)?;
        let optional = |binary: &str| Some(dir.join(binary)).filter(|p| is_executable(p));
        Ok(Self {
            etcd,
            kube_apiserver,
            kube_controller_manager: optional(CONTROLLER_MANAGER),
            kube_scheduler: optional(SCHEDULER),
            kwok: optional(KWOK),
            dir,
        })
    }

    /// Finds installed binaries without building anything: `KUBEBUILDER_ASSETS` if
    /// set, otherwise the cache of the pinned release.
    pub fn locate() -> Result<Self, TestEnvError> {
        if let Some(dir) = std::env::var_os(ASSETS_ENV).filter(|d| !d.is_empty()) {
            return Self::from_dir(dir);
        }
        let dir = cache_dir()?;
        if !dir.is_dir() {
            return Err(TestEnvError::NotInstalled {
                version: KUBERNETES_VERSION,
                dir,
            });
        }
        Self::from_dir(&dir).map_err(|_| TestEnvError::NotInstalled {
            version: KUBERNETES_VERSION,
            dir,
        })
    }

    /// The binaries of `KUBEBUILDER_ASSETS` if set; otherwise the cache of the pinned
    /// release after [`install`](Self::install)ing whatever it lacks (nothing, when it
    /// is complete). `progress` receives one line per build step.
    pub fn ensure(progress: &mut dyn FnMut(&str)) -> Result<Self, TestEnvError> {
        if let Some(dir) = std::env::var_os(ASSETS_ENV).filter(|d| !d.is_empty()) {
            return Self::from_dir(dir);
        }
        Self::install(progress)
    }

    /// Builds the binaries of the pinned releases that the cache directory lacks
    /// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) from their
    /// Go modules into it. Idempotent: returns at once when the cache is complete, and
    /// a cache filled by an older version of this crate only gets what is missing.
    /// Needs the Go toolchain and the Go module proxy; Go's own module and build caches
    /// (`GOPATH`, `GOCACHE`) are used as configured.
    pub fn install(progress: &mut dyn FnMut(&str)) -> Result<Self, TestEnvError> {
        let dest = cache_dir()?;
        let missing: Vec<&'static str> = [ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER, KWOK]
            .into_iter()
            .filter(|b| !is_executable(&dest.join(b)))
            .collect();
        if missing.is_empty() {
            return Self::from_dir(&dest);
        }
        let go = find_go()?;
        let parent = dest.parent().unwrap_or(Path::new("/"));
        create_dir_all(parent)?;
        let work = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(parent)
            .map_err(|source| io_err("creating a build directory in", parent, source))?;
        let out = work.path().join("bin");
        create_dir_all(&out)?;
        let built = build_missing(&go, work.path(), &out, &missing, progress);
        if let Err(e) = built {
            // The error names a build log inside the work directory: keep it.
            let _ = work.keep();
            return Err(e);
        }
        create_dir_all(&dest)?;
        for binary in &missing {
            let target = dest.join(binary);
            match fs::rename(out.join(binary), &target) {
                Ok(()) => {}
                // Another installer finished first: keep its result.
                Err(_) if is_executable(&target) => {}
                Err(source) => return Err(io_err("moving a binary to", &target, source)),
            }
        }
        progress(&format!(
            "installed {} in {}",
            missing.join(", "),
            dest.display()
        ));
        Self::from_dir(dest)
    }

    /// The directory the binaries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `etcd` executable.
    pub fn etcd(&self) -> &Path {
        &self.etcd
    }

    /// The `kube-apiserver` executable.
    pub fn kube_apiserver(&self) -> &Path {
        &self.kube_apiserver
    }

    /// The `kube-controller-manager` executable, when present.
    pub fn kube_controller_manager(&self) -> Option<&Path> {
        self.kube_controller_manager.as_deref()
    }

    /// The `kube-scheduler` executable, when present (needed for simulated nodes).
    pub fn kube_scheduler(&self) -> Option<&Path> {
        self.kube_scheduler.as_deref()
    }

    /// The `kwok` executable, when present (needed for simulated nodes).
    pub fn kwok(&self) -> Option<&Path> {
        self.kwok.as_deref()
    }
}

/// The cache directory of the pinned release:
/// `${XDG_CACHE_HOME:-$HOME/.cache}/k8s-client/testenv/<version>`.
pub fn cache_dir() -> Result<PathBuf, TestEnvError> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .ok_or(TestEnvError::NoCacheDir)?;
    Ok(base
        .join("k8s-client")
        .join("testenv")
        .join(KUBERNETES_VERSION))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_go() -> Result<PathBuf, TestEnvError> {
    find_go_in(std::env::var_os("PATH"), Path::new(GO_FALLBACK))
}

fn find_go_in(path_var: Option<OsString>, fallback: &Path) -> Result<PathBuf, TestEnvError> {
    let on_path = path_var
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("go"))
        .find(|p| is_executable(p));
    on_path
        .or_else(|| Some(fallback.to_owned()).filter(|p| is_executable(p)))
        .ok_or_else(|| TestEnvError::GoMissing {
            fallback: GO_FALLBACK,
            min_go: "1.26".to_owned(),
        })
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> TestEnvError {
    TestEnvError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn create_dir_all(path: &Path) -> Result<(), TestEnvError> {
    fs::create_dir_all(path).map_err(|e| io_err("creating", path, e))
}

fn write(path: &Path, contents: &str) -> Result<(), TestEnvError> {
    fs::write(path, contents).map_err(|e| io_err("writing", path, e))
}

/// Runs `go args…` in `dir`, appending its output to `dir/build.log`; returns stdout
/// when `capture` is set.
fn go(go: &Path, dir: &Path, args: &[&str], capture: bool) -> Result<String, TestEnvError> {
    let command = format!("go {}", args.join(" "));
    let log_path = dir.join("build.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| io_err("opening", &log_path, e))?;
    let clone = |f: &fs::File| f.try_clone().map_err(|e| io_err("opening", &log_path, e));
    let stdout = if capture {
        Stdio::piped()
    } else {
        clone(&log)?.into()
    };
    let child = Command::new(go)
        .args(args)
        .current_dir(dir)
        .env("GOFLAGS", goflags())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(clone(&log)?)
        .spawn()
        .map_err(|source| TestEnvError::GoSpawn {
            command: command.clone(),
            dir: dir.to_owned(),
            source,
        })?;
    let output = child
        .wait_with_output()
        .map_err(|source| TestEnvError::GoSpawn {
            command: command.clone(),
            dir: dir.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(TestEnvError::GoFailed {
            command,
            dir: dir.to_owned(),
            status: output.status,
            tail: super::process::tail(&log_path, 30),
            log: log_path,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Module mode without a vendor directory, keeping any GOFLAGS the user set.
fn goflags() -> OsString {
    let mut flags = std::env::var_os("GOFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(" ");
    }
    flags.push("-mod=mod");
    flags
}

const LDFLAGS_STRIP: &str = "-s -w";

/// Builds `main_package` into `out/binary` in a Go module of its own (`module`), so its
/// requirements are its own: `go get requirement`, `go mod tidy`, `go build`.
fn build_standalone(
    go_bin: &Path,
    dir: &Path,
    out: &Path,
    module: &str,
    requirement: &str,
    main_package: &str,
    binary: &str,
) -> Result<(), TestEnvError> {
    create_dir_all(dir)?;
    write(&dir.join("go.mod"), &format!("module {module}\n"))?;
    write(&dir.join("tools.go"), &tools_go(&[main_package]))?;
    go(go_bin, dir, &["get", requirement], false)?;
    go(go_bin, dir, &["mod", "tidy", "-e"], false)?;
    let target = out.join(binary);
    go(
        go_bin,
        dir,
        &[
            "build",
            "-trimpath",
            "-ldflags",
            LDFLAGS_STRIP,
            "-o",
            &target.to_string_lossy(),
            main_package,
        ],
        false,
    )?;
    Ok(())
}

/// Builds each of `missing` into `out`, one `go build` per module.
fn build_missing(
    go_bin: &Path,
    work: &Path,
    out: &Path,
    missing: &[&'static str],
    progress: &mut dyn FnMut(&str),
) -> Result<(), TestEnvError> {
    if missing.contains(&ETCD) {
        progress(&format!(
            "building etcd {ETCD_VERSION} from Go modules (in {})",
            work.display()
        ));
        build_standalone(
            go_bin,
            &work.join("etcd"),
            out,
            "k8sclient.local/testenv-etcd",
            &format!("{ETCD_MAIN_PACKAGE}@{ETCD_VERSION}"),
            ETCD_MAIN_PACKAGE,
            ETCD,
        )?;
    }
    let kubernetes: Vec<&str> = [APISERVER, CONTROLLER_MANAGER, SCHEDULER]
        .into_iter()
        .filter(|b| missing.contains(b))
        .collect();
    if !kubernetes.is_empty() {
        progress(&format!(
            "building {} {KUBERNETES_VERSION} from Go modules (this takes several minutes the first time)",
            kubernetes.join(", ")
        ));
        build_kubernetes(go_bin, &work.join("kubernetes"), out, &kubernetes)?;
    }
    if missing.contains(&KWOK) {
        progress(&format!("building kwok {KWOK_VERSION} from Go modules"));
        // kwok's `k8s.io/*` requirements differ from the control plane's.
        build_standalone(
            go_bin,
            &work.join("kwok"),
            out,
            "k8sclient.local/testenv-kwok",
            &format!("{KWOK_MODULE}@{KWOK_VERSION}"),
            KWOK_MAIN_PACKAGE,
            KWOK,
        )?;
    }
    Ok(())
}

/// Builds the named commands of `k8s.io/kubernetes` (binary names under `cmd/`) with
/// one `go build`.
fn build_kubernetes(
    go_bin: &Path,
    dir: &Path,
    out: &Path,
    binaries: &[&str],
) -> Result<(), TestEnvError> {
    create_dir_all(dir)?;
    let module = format!("k8s.io/kubernetes@{KUBERNETES_VERSION}");
    let json = go(go_bin, dir, &["mod", "download", "-json", &module], true)?;
    #[derive(serde::Deserialize)]
    struct Download {
        #[serde(rename = "GoMod")]
        go_mod: PathBuf,
    }
    let download: Download =
        serde_json::from_str(&json).map_err(|source| TestEnvError::GoModDownloadOutput {
            module: module.clone(),
            source,
        })?;
    let upstream =
        fs::read_to_string(&download.go_mod).map_err(|e| io_err("reading", &download.go_mod, e))?;
    let go_mod = kubernetes_build_go_mod(&upstream).ok_or(TestEnvError::KubernetesModFile {
        version: KUBERNETES_VERSION,
        path: download.go_mod.clone(),
    })?;
    write(&dir.join("go.mod"), &go_mod)?;
    let commands: Vec<String> = binaries
        .iter()
        .map(|b| format!("k8s.io/kubernetes/cmd/{b}"))
        .collect();
    let command_refs: Vec<&str> = commands.iter().map(String::as_str).collect();
    write(&dir.join("tools.go"), &tools_go(&command_refs))?;
    go(go_bin, dir, &["mod", "tidy", "-e"], false)?;
    let minor = KUBERNETES_VERSION
        .trim_start_matches("v1.")
        .split('.')
        .next()
        .unwrap_or_default();
    let ldflags = format!(
        "{LDFLAGS_STRIP} -X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION} \
         -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor={minor} \
         -X k8s.io/component-base/version.gitTreeState=clean"
    );
    let out_dir = format!("{}/", out.display());
    let mut args = vec!["build", "-trimpath", "-ldflags", &ldflags, "-o", &out_dir];
    args.extend(command_refs);
    go(go_bin, dir, &args, false)?;
    Ok(())
}

fn tools_go(imports: &[&str]) -> String {
    let mut s = String::from("//go:build tools\n\npackage tools\n\nimport (\n");
    for i in imports {
        s.push_str(&format!("\t_ \"{i}\"\n"));
    }
    s.push_str(")\n");
    s
}

/// Generates the go.mod of our build module from the upstream go.mod of
/// `k8s.io/kubernetes`: same `go` directive, a `require` of the pinned release, and
/// each `k8s.io/X => ./staging/src/k8s.io/X` replacement turned into
/// `k8s.io/X => k8s.io/X <staging version>`. `None` if upstream lists no staging
/// replacements.
pub(crate) fn kubernetes_build_go_mod(upstream: &str) -> Option<String> {
    let mut go_directive = None;
    let mut staging = Vec::new();
    let mut in_replace = false;
    for line in upstream.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        if let Some(v) = line.strip_prefix("go ") {
            go_directive = Some(v.trim().to_owned());
        } else if line.starts_with("replace (") {
            in_replace = true;
        } else if in_replace && line == ")" {
            in_replace = false;
        } else {
            let entry = if in_replace {
                Some(line)
            } else {
                line.strip_prefix("replace ")
            };
            if let Some((from, to)) = entry.and_then(|e| e.split_once("=>")) {
                let (from, to) = (from.trim(), to.trim());
                if to.starts_with("./staging/") {
                    // `from` may carry a version (`k8s.io/api v0.0.0 => …`).
                    let module = from.split_whitespace().next().unwrap_or(from);
                    staging.push(module.to_owned());
                }
            }
        }
    }
    if staging.is_empty() {
        return None;
    }
    let version = staging_version();
    let mut s = String::from("module k8sclient.local/testenv-build\n\n");
    if let Some(g) = go_directive {
        s.push_str(&format!("go {g}\n\n"));
    }
    s.push_str(&format!(
        "require k8s.io/kubernetes {KUBERNETES_VERSION}\n\nreplace (\n"
    ));
    for m in staging {
        s.push_str(&format!("\t{m} => {m} {version}\n"));
    }
    s.push_str(")\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_go_mod_replaces_staging_modules_with_published_versions() {
        let upstream = "module k8s.io/kubernetes\n\ngo 1.26.0\n\nrequire (\n\tk8s.io/api v0.0.0\n)\n\n\
            replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/client-go v0.0.0 => ./staging/src/k8s.io/client-go // x\n\
            \tgithub.com/other/mod => github.com/other/mod v1.2.3\n)\n\nreplace k8s.io/kubectl => ./staging/src/k8s.io/kubectl\n";
        let out = kubernetes_build_go_mod(upstream).expect("has staging replacements");
        let v = staging_version();
        assert!(out.contains("go 1.26.0\n"), "{out}");
        assert!(out.contains(&format!("require k8s.io/kubernetes {KUBERNETES_VERSION}")));
        assert!(
            out.contains(&format!("\tk8s.io/api => k8s.io/api {v}\n")),
            "{out}"
        );
        assert!(out.contains(&format!("\tk8s.io/client-go => k8s.io/client-go {v}\n")));
        assert!(out.contains(&format!("\tk8s.io/kubectl => k8s.io/kubectl {v}\n")));
        assert!(!out.contains("github.com/other/mod"));
    }

    #[test]
    fn build_go_mod_without_staging_is_rejected() {
        assert!(kubernetes_build_go_mod("module x\ngo 1.26\n").is_none());
    }

    #[test]
    fn missing_go_says_what_to_install() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_go_in(
            Some(empty.path().as_os_str().to_owned()),
            &empty.path().join("go"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("install Go 1.26"), "{text}");
        assert!(text.contains("KUBEBUILDER_ASSETS"), "{text}");
    }

    #[test]
    fn failing_go_step_reports_command_and_log_tail() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("go");
        fs::write(
            &fake,
            "#!/bin/sh\necho \"cannot find module $2\" >&2\nexit 1\n",
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let err = go(&fake, dir.path(), &["build", "example.com/x"], false).unwrap_err();
        let TestEnvError::GoFailed {
            command, log, tail, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(command, "go build example.com/x");
        assert_eq!(log, &dir.path().join("build.log"));
        assert!(tail.contains("cannot find module example.com/x"), "{tail}");
    }

    #[test]
    fn assets_dir_without_apiserver_names_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let etcd = dir.path().join("etcd");
        fs::write(&etcd, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&etcd, fs::Permissions::from_mode(0o755)).unwrap();
        let err = Binaries::from_dir(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                TestEnvError::AssetsIncomplete {
                    binary: "kube-apiserver",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("kube-apiserver"));
    }
}
