//! Ed25519 signatures over audit ids (RFC 8032, via ed25519-dalek).
//!
//! The signed message is the audit id (its 64 hex characters as bytes), which is
//! the sha256 of the canonical manifest without its id and signature: signing
//! the id signs the whole manifest and, through its file hashes and Merkle root,
//! every file it lists. Key files are text: the secret key file holds the
//! 32-byte seed in hex (written with mode 0600), the public key file the 32-byte
//! key in hex.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::ProvenanceError;

/// A signature in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    pub algorithm: String,
    /// The signer's public key (hex).
    pub public_key: String,
    /// The Ed25519 signature of the audit id (hex).
    pub signature: String,
}

fn bad_key(path: &Path, message: &str) -> ProvenanceError {
    ProvenanceError::Malformed {
        file: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32], ProvenanceError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProvenanceError::io(path, e))?;
    let bytes = hex::decode(text.trim()).map_err(|_| {
        bad_key(
            path,
            &format!("not an Ed25519 {what}: expected 64 hex characters"),
        )
    })?;
    bytes
        .try_into()
        .map_err(|_| bad_key(path, &format!("not an Ed25519 {what}: expected 32 bytes")))
}

/// Writes a new key pair: `path` (secret, mode 0600) and `path.pub`. The seed
/// comes from the operating system's generator (`/dev/urandom`).
pub fn keygen(path: &Path) -> Result<String, ProvenanceError> {
    let mut seed = [0u8; 32];
    {
        use std::io::Read;
        let urandom = Path::new("/dev/urandom");
        std::fs::File::open(urandom)
            .and_then(|mut f| f.read_exact(&mut seed))
            .map_err(|e| ProvenanceError::io(urandom, e))?;
    }
    let key = SigningKey::from_bytes(&seed);
    let public = hex::encode(key.verifying_key().to_bytes());
    let public_path = path.with_extension(match path.extension() {
        Some(e) => format!("{}.pub", e.to_string_lossy()),
        None => "pub".into(),
    });
    std::fs::write(path, format!("{}\n", hex::encode(seed)))
        .map_err(|e| ProvenanceError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ProvenanceError::io(path, e))?;
    }
    std::fs::write(&public_path, format!("{public}\n"))
        .map_err(|e| ProvenanceError::io(&public_path, e))?;
    Ok(public)
}

/// Signs an audit id with the secret key in `path`.
pub fn sign(audit_id: &str, path: &Path) -> Result<ManifestSignature, ProvenanceError> {
    let key = SigningKey::from_bytes(&read_hex32(path, "secret key")?);
    Ok(ManifestSignature {
        algorithm: "ed25519".into(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        signature: hex::encode(key.sign(audit_id.as_bytes()).to_bytes()),
    })
}

/// Reads a public key file (for `verify --key`).
pub fn read_public(path: &Path) -> Result<String, ProvenanceError> {
    let bytes = read_hex32(path, "public key")?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| bad_key(path, "not a valid Ed25519 public key"))?;
    Ok(hex::encode(bytes))
}

/// Whether `s` is a valid signature of `audit_id` by its own public key; `Err`
/// says what is wrong.
pub fn check(s: &ManifestSignature, audit_id: &str) -> Result<(), String> {
    if s.algorithm != "ed25519" {
        return Err(format!("unknown signature algorithm `{}`", s.algorithm));
    }
    let key: [u8; 32] = hex::decode(&s.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature's public key is not 32 hex bytes")?;
    let key =
        VerifyingKey::from_bytes(&key).map_err(|_| "the signature's public key is invalid")?;
    let sig: [u8; 64] = hex::decode(&s.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 hex bytes")?;
    key.verify(audit_id.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not verify against the audit id".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, test 1: the empty message.
    #[test]
    fn rfc_8032_test_vector() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn sign_check_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let public = keygen(&path).unwrap();
        assert_eq!(read_public(&dir.path().join("k.pub")).unwrap(), public);
        let s = sign("abc", &path).unwrap();
        assert_eq!(s.public_key, public);
        assert_eq!(check(&s, "abc"), Ok(()));
        assert!(check(&s, "abd").is_err());
        std::fs::write(&path, "zz").unwrap();
        assert!(sign("abc", &path).is_err());
    }
}
