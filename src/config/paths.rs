//! Paths as the user writes them, made presentable.

use std::path::{Path, PathBuf};

/// Removes `.` and `a/..` from a path without touching the filesystem, so messages show
/// `/srv/models`, not `/srv/demo/../models`.
pub fn clean_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_removes_dot_dot() {
        assert_eq!(
            clean_path(Path::new("/srv/demo/../models")),
            PathBuf::from("/srv/models")
        );
        assert_eq!(clean_path(Path::new("./a/./b")), PathBuf::from("a/b"));
        assert_eq!(clean_path(Path::new("../x")), PathBuf::from("../x"));
    }
}
