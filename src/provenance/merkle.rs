//! A Merkle tree over the lines of `responses.jsonl`, as RFC 6962 (Certificate
//! Transparency) defines it: leaf = sha256(0x00 ‖ line), node = sha256(0x01 ‖ left
//! ‖ right), a tree of n leaves split at the largest power of two below n. The
//! manifest stores the root and every leaf hash, so `probity verify` can name the
//! first line that changed, not only say that the file did.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The tree's summary in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineTree {
    /// The file, relative to the out dir.
    pub file: String,
    /// RFC 6962 Merkle tree hash of the lines (hex).
    pub root: String,
    /// sha256(0x00 ‖ line) per line, in order (hex).
    pub leaves: Vec<String>,
}

/// The leaf hash of one line (its bytes without the line break).
pub fn leaf(line: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(line);
    h.finalize().into()
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle tree hash of the given leaf hashes (RFC 6962 §2.1); of no leaves,
/// sha256 of the empty string.
pub fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            // The largest power of two strictly below n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The lines of a JSON-lines file (a final line break ends the last line, it
/// does not start an empty one).
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() && bytes.len() <= 1 {
        return Vec::new();
    }
    body.split(|&b| b == b'\n').collect()
}

impl LineTree {
    pub fn of(file: &str, bytes: &[u8]) -> LineTree {
        let leaves: Vec<[u8; 32]> = lines(bytes).into_iter().map(leaf).collect();
        LineTree {
            file: file.to_string(),
            root: hex::encode(root(&leaves)),
            leaves: leaves.iter().map(hex::encode).collect(),
        }
    }

    /// What differs between this tree and the file's current bytes: `None` when
    /// they agree, else a sentence naming the first line that does not.
    pub fn check(&self, bytes: &[u8]) -> Option<String> {
        let now = lines(bytes);
        for (i, line) in now.iter().enumerate() {
            match self.leaves.get(i) {
                Some(expected) if *expected == hex::encode(leaf(line)) => {}
                Some(_) => {
                    return Some(format!(
                        "{}: line {} changed (its leaf hash no longer matches)",
                        self.file,
                        i + 1
                    ))
                }
                None => {
                    return Some(format!(
                        "{}: line {} was added ({} lines where the manifest has {})",
                        self.file,
                        i + 1,
                        now.len(),
                        self.leaves.len()
                    ))
                }
            }
        }
        if now.len() < self.leaves.len() {
            return Some(format!(
                "{}: lines {} to {} are missing ({} lines where the manifest has {})",
                self.file,
                now.len() + 1,
                self.leaves.len(),
                now.len(),
                self.leaves.len()
            ));
        }
        let leaves: Vec<[u8; 32]> = now.into_iter().map(leaf).collect();
        (hex::encode(root(&leaves)) != self.root).then(|| {
            format!(
                "{}: the leaves match but the manifest's root does not: the manifest was edited",
                self.file
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inputs and roots of the Certificate Transparency reference
    /// implementation's Merkle tree tests (google/certificate-transparency,
    /// `merkle_tree_test.cc`): the root of the first n inputs, n = 1..8.
    #[test]
    fn roots_match_the_certificate_transparency_vectors() {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves: Vec<[u8; 32]> = inputs.iter().map(|i| leaf(i)).collect();
        for n in 1..=8 {
            assert_eq!(hex::encode(root(&leaves[..n])), roots[n - 1], "n = {n}");
        }
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn check_names_the_first_changed_added_or_missing_line() {
        let tree = LineTree::of("r.jsonl", b"a\nb\nc\n");
        assert_eq!(tree.leaves.len(), 3);
        assert_eq!(tree.check(b"a\nb\nc\n"), None);
        assert!(tree.check(b"a\nB\nc\n").unwrap().contains("line 2 changed"));
        assert!(tree
            .check(b"a\nb\nc\nd\n")
            .unwrap()
            .contains("line 4 was added"));
        assert!(tree
            .check(b"a\n")
            .unwrap()
            .contains("lines 2 to 3 are missing"));
        let mut edited = tree.clone();
        edited.root = "00".repeat(32);
        assert!(edited.check(b"a\nb\nc\n").unwrap().contains("root"));
        assert!(lines(b"").is_empty());
        assert_eq!(lines(b"x"), [b"x"]);
    }
}
