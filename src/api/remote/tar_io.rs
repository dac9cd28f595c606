//! The tar side of `cp` (blocking I/O, run on the blocking pool): packing local files
//! under the name the pod should see, and unpacking a pod's tar stream into a local
//! destination without letting any entry land outside it.

use super::error::StreamError;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// A tar entry that was not extracted, and why (kubectl prints these as warnings).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedEntry {
    /// The entry's name in the archive (lossy UTF-8).
    pub name: String,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Why a tar entry from a pod was not extracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Its path leaves the destination (`..`, an absolute path).
    OutsideDestination,
    /// It is a symbolic link (never created locally, as kubectl since its CVE-2019-1002101 fix).
    Symlink,
    /// It is a hard link (its target could be any local file).
    HardLink,
    /// A device, FIFO or other special file.
    Special,
    /// A directory on its way, or the file itself, is an existing local symbolic link.
    ThroughSymlink,
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Regular files written.
    pub files: u64,
    /// Directories created (or found).
    pub directories: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// Entries not extracted (from a pod only).
    pub skipped: Vec<SkippedEntry>,
}

fn source_err(path: &Path) -> impl FnOnce(io::Error) -> StreamError + '_ {
    move |source| StreamError::CopySource {
        path: path.to_owned(),
        source,
    }
}

/// Writes `src` (a file, a symbolic link or a directory, not followed) as tar entries
/// named `name` (and `name/…` below a directory), kubectl's layout: a directory gets
/// its own entry only when empty; symbolic links are stored as links.
pub(crate) fn pack<W: Write>(
    src: &Path,
    name: &str,
    out: W,
) -> Result<(W, CopyReport), StreamError> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut report = CopyReport::default();
    pack_path(&mut builder, src, Path::new(name), &mut report)?;
    let out = builder.into_inner().map_err(StreamError::Write)?;
    Ok((out, report))
}

fn pack_path<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &Path,
    report: &mut CopyReport,
) -> Result<(), StreamError> {
    let meta = fs::symlink_metadata(src).map_err(source_err(src))?;
    if meta.is_dir() {
        let mut children: Vec<_> = fs::read_dir(src)
            .and_then(|d| {
                d.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<_>>()
            })
            .map_err(source_err(src))?;
        children.sort();
        report.directories += 1;
        if children.is_empty() {
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&meta);
            return b
                .append_data(&mut h, name, io::empty())
                .map_err(StreamError::Write);
        }
        for child in children {
            pack_path(b, &src.join(&child), &name.join(&child), report)?;
        }
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src).map_err(source_err(src))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&meta);
        h.set_size(0);
        return b
            .append_link(&mut h, name, target)
            .map_err(StreamError::Write);
    }
    if !meta.is_file() {
        // Sockets, FIFOs and devices are not copied (kubectl's tar of them is empty).
        return Ok(());
    }
    let file = fs::File::open(src).map_err(source_err(src))?;
    let mut h = tar::Header::new_gnu();
    h.set_metadata(&meta);
    // Exactly the size in the header: a file that grew meanwhile is cut there, one
    // that shrank fails (never a corrupt archive).
    let mut content = file.take(meta.len());
    let mut counted = CountingReader {
        inner: &mut content,
        n: 0,
    };
    b.append_data(&mut h, name, &mut counted)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => StreamError::SourceChanged {
                path: src.to_owned(),
            },
            _ => StreamError::Write(e),
        })?;
    if counted.n != meta.len() {
        return Err(StreamError::SourceChanged {
            path: src.to_owned(),
        });
    }
    report.files += 1;
    report.bytes += meta.len();
    Ok(())
}

struct CountingReader<'a, R> {
    inner: &'a mut R,
    n: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// A writer that counts what passes through it (alone, the first pass of a
/// byte-counted upload).
pub(crate) struct Counted<W> {
    pub(crate) inner: W,
    pub(crate) n: u64,
}

impl<W> Counted<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, n: 0 }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The archive-name prefix of a remote path as `tar cf - PATH` writes it: no leading
/// `/`, `./` or `../`, cleaned, without trailing `/` (kubectl's `stripPathShortcuts`).
pub(crate) fn remote_prefix(remote: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in remote.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    // A leading `..` is stripped, as tar and kubectl do.
                }
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The part of `name` below `prefix`, at a path-component boundary; `None` when the
/// entry is not under the copied path.
fn strip_prefix<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(name);
    }
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.trim_start_matches('/'))
    } else {
        None
    }
}

/// `rest` as normal path components, or `None` when it is absolute or has `..`.
fn safe_relative(rest: &str) -> Option<PathBuf> {
    let path = Path::new(rest);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether `rel` below `dest` passes through (or ends at) an existing symbolic link.
fn through_symlink(dest: &Path, rel: &Path) -> bool {
    let mut cur = dest.to_owned();
    for c in rel.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

fn dest_err(path: &Path) -> impl FnOnce(io::Error) -> StreamError + '_ {
    move |source| StreamError::CopyDestination {
        path: path.to_owned(),
        source,
    }
}

/// Extracts the entries of `input` under `prefix` (the remote path as tar names it)
/// into `dest` (the entry named exactly `prefix` becomes `dest` itself). An entry
/// outside `prefix` means the stream was tampered with: the copy fails
/// ([`StreamError::TarOutsidePath`]), like kubectl's "tar contents corrupted". Entries
/// that would leave `dest`, links, special files and paths through existing local
/// symbolic links are skipped and listed in the report.
pub(crate) fn unpack<R: Read>(
    input: R,
    prefix: &str,
    dest: &Path,
) -> Result<CopyReport, StreamError> {
    let mut archive = tar::Archive::new(input);
    let mut report = CopyReport::default();
    let entries = archive.entries().map_err(StreamError::Tar)?;
    for entry in entries {
        let mut entry = entry.map_err(StreamError::Tar)?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let skip = |reason| SkippedEntry {
            name: name.clone(),
            reason,
        };
        let Some(rest) = strip_prefix(&name, prefix) else {
            return Err(StreamError::TarOutsidePath {
                entry: name,
                prefix: prefix.to_owned(),
            });
        };
        let Some(rel) = safe_relative(rest) else {
            report.skipped.push(skip(SkipReason::OutsideDestination));
            continue;
        };
        let kind = entry.header().entry_type();
        let reason = match kind {
            tar::EntryType::Symlink => Some(SkipReason::Symlink),
            tar::EntryType::Link => Some(SkipReason::HardLink),
            k if k.is_file() || k.is_dir() || k == tar::EntryType::Continuous => None,
            _ => Some(SkipReason::Special),
        };
        if let Some(reason) = reason {
            report.skipped.push(skip(reason));
            continue;
        }
        if through_symlink(dest, &rel) {
            report.skipped.push(skip(SkipReason::ThroughSymlink));
            continue;
        }
        let target = if rel.as_os_str().is_empty() {
            dest.to_owned()
        } else {
            dest.join(&rel)
        };
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(dest_err(&target))?;
            report.directories += 1;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(dest_err(parent))?;
        }
        let mut file = fs::File::create(&target).map_err(dest_err(&target))?;
        let n = io::copy(&mut entry, &mut file).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => StreamError::Tar(e),
            _ => StreamError::CopyDestination {
                path: target.clone(),
                source: e,
            },
        })?;
        report.files += 1;
        report.bytes += n;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One raw ustar entry (name and link written byte for byte, no checks).
    fn raw_entry(out: &mut Vec<u8>, name: &[u8], kind: u8, link: &[u8], data: &[u8]) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn end(out: &mut Vec<u8>) {
        out.extend_from_slice(&[0u8; 1024]);
    }

    #[test]
    fn hostile_entries_never_land_outside_the_destination() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        let outside = root.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(&dest).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("pre")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), dest.join("pre-file")).unwrap();
        let mut tar = Vec::new();
        raw_entry(&mut tar, b"tmp/d/ok.txt", b'0', b"", b"fine");
        raw_entry(&mut tar, b"tmp/d/../../outside/dotdot", b'0', b"", b"x");
        raw_entry(&mut tar, b"tmp/d/sub/../../../escape", b'0', b"", b"x");
        raw_entry(&mut tar, b"tmp/d/link", b'2', b"../outside", b"");
        raw_entry(&mut tar, b"tmp/d/link/inside", b'0', b"", b"in");
        raw_entry(&mut tar, b"tmp/d/abs-link", b'2', b"/etc/passwd", b"");
        raw_entry(&mut tar, b"tmp/d/hard", b'1', b"/etc/passwd", b"");
        raw_entry(&mut tar, b"tmp/d/fifo", b'6', b"", b"");
        raw_entry(&mut tar, b"tmp/d/pre/through", b'0', b"", b"x");
        raw_entry(&mut tar, b"tmp/d/pre-file", b'0', b"", b"x");
        raw_entry(&mut tar, b"tmp/d/dir/", b'5', b"", b"");
        end(&mut tar);
        let report = unpack(&tar[..], "tmp/d", &dest).unwrap();
        assert_eq!(fs::read(dest.join("ok.txt")).unwrap(), b"fine");
        // The skipped link's name became a plain local directory.
        assert_eq!(fs::read(dest.join("link/inside")).unwrap(), b"in");
        assert!(dest.join("dir").is_dir());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!root.path().join("escape").exists());
        let reasons: Vec<_> = report
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("tmp/d/../../outside/dotdot", SkipReason::OutsideDestination),
                ("tmp/d/sub/../../../escape", SkipReason::OutsideDestination),
                ("tmp/d/link", SkipReason::Symlink),
                ("tmp/d/abs-link", SkipReason::Symlink),
                ("tmp/d/hard", SkipReason::HardLink),
                ("tmp/d/fifo", SkipReason::Special),
                ("tmp/d/pre/through", SkipReason::ThroughSymlink),
                ("tmp/d/pre-file", SkipReason::ThroughSymlink),
            ]
        );
        assert_eq!((report.files, report.directories), (2, 1));
    }

    #[test]
    fn an_entry_outside_the_copied_path_fails_the_copy() {
        let root = tempfile::tempdir().unwrap();
        for (name, prefix) in [
            (&b"etc/passwd"[..], "tmp/d"),
            (b"tmp/dx/file", "tmp/d"),
            (b"/tmp/d/file", "tmp/d"),
        ] {
            let mut tar = Vec::new();
            raw_entry(&mut tar, name, b'0', b"", b"x");
            end(&mut tar);
            let err = unpack(&tar[..], prefix, root.path()).unwrap_err();
            assert!(
                matches!(&err, StreamError::TarOutsidePath { .. }),
                "{err:?}"
            );
        }
        // Copying `/`: every name is under the prefix, but absolute ones are skipped.
        let mut tar = Vec::new();
        raw_entry(&mut tar, b"/abs", b'0', b"", b"x");
        end(&mut tar);
        let report = unpack(&tar[..], "", root.path()).unwrap();
        assert_eq!(report.skipped[0].reason, SkipReason::OutsideDestination);
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_single_file_entry_becomes_the_destination_itself() {
        let root = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        raw_entry(&mut tar, b"tmp/file.txt", b'0', b"", b"content");
        end(&mut tar);
        let dest = root.path().join("copy.txt");
        let report = unpack(&tar[..], &remote_prefix("/tmp/./file.txt"), &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"content");
        assert_eq!((report.files, report.bytes), (1, 7));
    }

    #[test]
    fn remote_prefixes_are_tars_names() {
        assert_eq!(remote_prefix("/tmp/a/"), "tmp/a");
        assert_eq!(remote_prefix("./a/./b"), "a/b");
        assert_eq!(remote_prefix("../../a"), "a");
        assert_eq!(remote_prefix("/"), "");
        assert_eq!(remote_prefix("a/b/../c"), "a/c");
    }

    #[test]
    fn packing_names_entries_after_the_destination_and_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("src");
        fs::create_dir_all(src.join("sub/empty")).unwrap();
        fs::write(src.join("a.txt"), b"alpha").unwrap();
        fs::write(src.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
        std::os::unix::fs::symlink("a.txt", src.join("ln")).unwrap();
        let long = "n".repeat(150);
        fs::write(src.join(&long), b"long name").unwrap();
        let (tar, report) = pack(&src, "dest", Vec::new()).unwrap();
        assert_eq!((report.files, report.bytes), (3, 5 + 100_000 + 9));
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect();
        names.sort();
        let mut expected = vec![
            "dest/a.txt".to_owned(),
            "dest/ln".to_owned(),
            format!("dest/{long}"),
            "dest/sub/b.bin".to_owned(),
            "dest/sub/empty".to_owned(),
        ];
        expected.sort();
        assert_eq!(names, expected);
        let (counted, _) = pack(&src, "dest", Counted::new(io::sink())).unwrap();
        assert_eq!(counted.n, tar.len() as u64);
        let out = root.path().join("out");
        let back = unpack(&tar[..], "dest", &out).unwrap();
        assert_eq!(fs::read(out.join("sub/b.bin")).unwrap(), vec![7u8; 100_000]);
        assert_eq!(fs::read(out.join(&long)).unwrap(), b"long name");
        assert!(out.join("sub/empty").is_dir());
        assert_eq!(back.skipped.len(), 1, "the link is not recreated locally");
    }
}
