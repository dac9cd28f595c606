//! `cp` against a real API server and kwok's kubelet, whose "containers" run commands
//! on this machine: a path in the pod is a local path, so both sides can be checked.
//! Copies out of a pod are compared with `kubectl cp` on the same pod.

mod support;

use k8s_client::api::{Api, CopyParams, SkipReason, StreamError, UploadEnd};
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;
use std::path::Path;

/// Every file (bytes), directory (`None`) and symbolic link (`link:` + target) below
/// `root`, by relative path.
fn tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, Some(format!("link:{}", target.display()).into_bytes()));
            } else if meta.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    if std::fs::symlink_metadata(root).unwrap().is_dir() {
        walk(root, root, &mut out);
    } else {
        out.insert(String::new(), Some(std::fs::read(root).unwrap()));
    }
    out
}

/// A directory with nested, empty, binary and long-named entries.
fn sample(root: &Path) {
    std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(root.join("nested/deeper/b.txt"), b"beta").unwrap();
    let binary: Vec<u8> = (0..1_500_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(root.join("nested/blob.bin"), binary).unwrap();
    std::fs::write(root.join("n".repeat(140)), b"long name").unwrap();
    std::fs::write(root.join("with space.txt"), b"space").unwrap();
}

async fn setup(prefix: &str) -> Option<(&'static k8s_client::testenv::TestEnv, Api<Pod>, String)> {
    support::streams::box_pod(prefix, &["main"], &[]).await
}

#[tokio::test]
async fn copying_out_of_a_pod_matches_kubectl_cp() {
    let Some((env, pods, ns)) = setup("cp-out").await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    sample(&src);
    std::os::unix::fs::symlink("/etc/hostname", src.join("escape-link")).unwrap();
    let cp = CopyParams::default();
    for (remote, name) in [
        (src.display().to_string(), "dir"),
        (format!("{}/", src.display()), "dir-slash"),
        (src.join("a.txt").display().to_string(), "file"),
    ] {
        let ours = work.path().join(format!("ours-{name}"));
        let report = pods
            .copy_from_pod("box", &remote, &ours, &cp)
            .await
            .unwrap();
        let theirs = work.path().join(format!("kubectl-{name}"));
        let k = support::kubectl::admin(
            env,
            &[
                "-n",
                &ns,
                "cp",
                &format!("box:{remote}"),
                &theirs.display().to_string(),
            ],
            b"",
        )
        .await;
        assert!(k.status.success(), "{k:?}");
        assert_eq!(tree(&ours), tree(&theirs), "{remote}");
        if name != "file" {
            // The symbolic link is skipped by both.
            assert!(!tree(&ours).contains_key("escape-link"));
            assert_eq!(report.skipped.len(), 1, "{report:?}");
            assert_eq!(report.skipped[0].reason, SkipReason::Symlink);
            assert!(
                String::from_utf8_lossy(&k.stderr).contains("skipping symlink"),
                "{k:?}"
            );
            let mut expected = tree(&src);
            expected.remove("escape-link");
            assert_eq!(tree(&ours), expected);
            assert_eq!(report.files, 5);
        } else {
            assert_eq!(std::fs::read(&ours).unwrap(), b"alpha\n");
        }
    }
}

#[tokio::test]
async fn copying_into_a_pod_round_trips_files_and_directories() {
    let Some((_env, pods, _ns)) = setup("cp-in").await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    sample(&src);
    let cp = CopyParams::default()
        .container("main")
        .upload_end(UploadEnd::ByteCount);

    // Into an existing directory: the copy goes inside it, under the source's name.
    let remote_dir = work.path().join("remote");
    std::fs::create_dir(&remote_dir).unwrap();
    let report = pods
        .copy_to_pod("box", &src, &remote_dir.display().to_string(), &cp)
        .await
        .unwrap();
    assert_eq!((report.files, report.bytes), (5, 6 + 4 + 1_500_000 + 9 + 5));
    assert_eq!(tree(&remote_dir.join("src")), tree(&src));

    // To a new path: the copy becomes that path (a directory, then a single file).
    let renamed = work.path().join("renamed");
    pods.copy_to_pod("box", &src, &renamed.display().to_string(), &cp)
        .await
        .unwrap();
    assert_eq!(tree(&renamed), tree(&src));
    let file = work.path().join("one.txt");
    pods.copy_to_pod("box", src.join("a.txt"), &file.display().to_string(), &cp)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"alpha\n");

    // And back out again, byte for byte.
    let back = work.path().join("back");
    pods.copy_from_pod("box", &renamed.display().to_string(), &back, &cp)
        .await
        .unwrap();
    assert_eq!(tree(&back), tree(&src));
}

#[tokio::test]
async fn failures_name_the_path_and_keep_tars_message() {
    let Some((env, pods, ns)) = setup("cp-err").await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cp = CopyParams::default().upload_end(UploadEnd::ByteCount);
    let missing = work.path().join("missing");
    // The failure is `RemoteTar` with tar's own message (kwok may cut the process's stderr
    // short, see below: a whole message must arrive in one of a few tries).
    let mut messages = Vec::new();
    for _ in 0..8 {
        let err = pods
            .copy_from_pod(
                "box",
                &missing.display().to_string(),
                work.path().join("x"),
                &cp,
            )
            .await
            .expect_err("no such remote file");
        let Some(k8s_client::Error::Stream(StreamError::RemoteTar { stderr, .. })) = Some(&err)
        else {
            panic!("{err:?}");
        };
        let whole = stderr.contains("No such file or directory");
        messages.push(stderr.clone());
        if whole {
            break;
        }
    }
    assert!(
        messages
            .iter()
            .any(|m| m.contains("No such file or directory")),
        "{messages:?}"
    );
    // kwok's exec sometimes ends the stream before all of the process's stderr is copied
    // (a race in the simulated kubelet, not in kubectl: "tar: " and nothing more, or
    // nothing at all): ask kubectl again until its report is whole.
    let says_missing = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).contains("No such file or directory")
            || String::from_utf8_lossy(&o.stderr).contains("No such file or directory")
    };
    let mut tries = Vec::new();
    for _ in 0..8 {
        let out = support::kubectl::admin(
            env,
            &[
                "-n",
                &ns,
                "cp",
                &format!("box:{}", missing.display()),
                "/tmp/never-written",
            ],
            b"",
        )
        .await;
        let done = says_missing(&out);
        tries.push(out);
        if done {
            break;
        }
    }
    assert!(tries.iter().any(says_missing), "{tries:?}");

    let err = pods
        .copy_to_pod("box", &missing, "/tmp/x", &cp)
        .await
        .expect_err("no such local file");
    let text = support::chain(&err);
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert!(matches!(
        err,
        k8s_client::Error::Stream(StreamError::CopySource { .. })
    ));

    let err = pods
        .copy_from_pod("ghost", "/tmp", work.path().join("y"), &cp)
        .await
        .expect_err("no such pod");
    assert_eq!(err.code(), Some(404));
}
