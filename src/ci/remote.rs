//! Git remote URLs → repository names (`owner/name`, or `group/subgroup/project`).

/// The repository path of a git remote URL, without host, credentials and `.git`:
/// `https://user:tok@github.com/octo/app.git` → `octo/app`, `git@host:group/sub/p.git` →
/// `group/sub/p`. `None` for local paths and URLs without at least `owner/name`.
pub fn repository_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((_, rest)) = url.split_once("://") {
        // scheme://[userinfo@]host[:port]/path
        let (_, path) = rest.split_once('/')?;
        path
    } else if let Some((host, path)) = url.split_once(':') {
        // scp-like: [user@]host:path (a Windows drive letter is not a host)
        if host.len() <= 1 || host.contains('/') {
            return None;
        }
        path
    } else {
        return None;
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() < 2 || segments.iter().any(|s| *s == "." || *s == "..") {
        return None;
    }
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_give_repository_paths() {
        let table = [
            ("https://github.com/octo/app.git", Some("octo/app")),
            ("https://github.com/octo/app", Some("octo/app")),
            (
                "https://x-access-token:ghs_abc@github.com/octo/app.git",
                Some("octo/app"),
            ),
            ("git@github.com:octo/app.git", Some("octo/app")),
            (
                "ssh://git@gitlab.example:2222/group/sub/proj.git",
                Some("group/sub/proj"),
            ),
            (
                "https://gitlab.example/group/sub/proj/",
                Some("group/sub/proj"),
            ),
            ("/srv/git/app.git", None),
            ("C:/src/app", None),
            ("https://github.com/app", None),
            ("", None),
        ];
        for (url, want) in table {
            assert_eq!(repository_from_remote(url).as_deref(), want, "{url}");
        }
    }
}
