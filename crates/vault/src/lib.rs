//! Personal data at rest: ID numbers, phone numbers and exact addresses are stored sealed with
//! an AEAD (XChaCha20-Poly1305, a random 192-bit nonce per value) under a data key the
//! operator keeps outside the database, and found again by a blind index (a keyed HMAC of the
//! normalised value) instead of a plaintext index.
//!
//! A stored value is `gs1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`, so every value names
//! the key it was sealed with and a [`Vault`] holding several keys reads all of them: the first
//! key seals, every key opens. That is how rotation works: the new key goes first, the old one
//! stays in the ring until every row has been sealed again (`store::Db::rotate_data_key`).
//!
//! The column a value belongs to is its associated data, so a ciphertext copied into another
//! column does not open. Keys never print: [`Vault`]'s `Debug` shows key ids only, and no error
//! of this module carries a value, sealed or not.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every sealed value.
pub const PREFIX: &str = "gs1.";

const NONCE_LEN: usize = 24;

/// What can go wrong with keys and sealed values. Never carries a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("no data key is configured (give --data-key-file or GESANG_DATA_KEY)")]
    NoKey,
    #[error("a data key is 64 hexadecimal digits (32 bytes); line {line} of the key is not")]
    BadKey { line: usize },
    #[error("the data key holds no key")]
    Empty,
    #[error("a value of {column} is sealed under data key {key_id}, which is not configured")]
    UnknownKey {
        column: &'static str,
        key_id: String,
    },
    #[error("a value of {column} does not open (damaged, or sealed for another column)")]
    Damaged { column: &'static str },
    #[error("no randomness for a nonce")]
    NoRandomness,
}

struct DataKey {
    id: String,
    aead: XChaCha20Poly1305,
    blind: [u8; 32],
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl DataKey {
    fn new(master: &[u8; 32]) -> DataKey {
        let enc = derive(master, b"gesang data encryption v1");
        let id = derive(master, b"gesang data key id v1");
        DataKey {
            id: id[..4].iter().map(|b| format!("{b:02x}")).collect(),
            aead: XChaCha20Poly1305::new((&enc).into()),
            blind: derive(master, b"gesang blind index v1"),
        }
    }
}

/// The data keys: the first seals, every one opens. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Vault {
    keys: Vec<DataKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

fn hex_key(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Vault {
    /// A vault without keys: every seal and open of a non-empty value fails with
    /// [`VaultError::NoKey`].
    pub fn none() -> Vault {
        Vault::default()
    }

    /// Keys from the text of a key file or of `GESANG_DATA_KEY`: 64 hex digits per key,
    /// separated by newlines, spaces or commas; `#` starts a comment. The first key seals.
    pub fn parse(text: &str) -> Result<Vault, VaultError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            for word in line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty())
            {
                let k = hex_key(word).ok_or(VaultError::BadKey { line: n + 1 })?;
                let key = DataKey::new(&k);
                if !keys.iter().any(|o: &DataKey| o.id == key.id) {
                    keys.push(key);
                }
            }
        }
        if keys.is_empty() {
            return Err(VaultError::Empty);
        }
        Ok(Vault { keys })
    }

    /// A fresh random key, as one line of a key file (64 hex digits).
    pub fn generate_key_line() -> Result<String, VaultError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|_| VaultError::NoRandomness)?;
        Ok(k.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A ring with `self`'s keys after `newer`'s (the newer's first key seals).
    pub fn with_older(newer: Vault, older: &Vault) -> Vault {
        let mut keys = newer.keys;
        for k in &older.keys {
            if !keys.iter().any(|o| o.id == k.id) {
                keys.push(DataKey {
                    id: k.id.clone(),
                    aead: k.aead.clone(),
                    blind: k.blind,
                });
            }
        }
        Vault { keys }
    }

    /// The id of the key that seals, if any.
    pub fn sealing_key_id(&self) -> Option<&str> {
        self.keys.first().map(|k| k.id.as_str())
    }

    /// Ids of every key, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seal `plain` for `column` (`table.column`). The empty string stays empty (nothing to
    /// hide, and "no phone" must stay visible as such).
    pub fn seal(&self, column: &'static str, plain: &str) -> Result<String, VaultError> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let key = self.keys.first().ok_or(VaultError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| VaultError::NoRandomness)?;
        let ct = key
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Damaged { column })?;
        let mut raw = Vec::with_capacity(NONCE_LEN + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        let mut out = String::with_capacity(PREFIX.len() + 9 + raw.len() * 4 / 3 + 4);
        out.push_str(PREFIX);
        out.push_str(&key.id);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&raw, &mut out);
        Ok(out)
    }

    /// Seal an optional value.
    pub fn seal_opt(
        &self,
        column: &'static str,
        plain: Option<&str>,
    ) -> Result<Option<String>, VaultError> {
        plain.map(|p| self.seal(column, p)).transpose()
    }

    /// Open a stored value of `column`. A value without the prefix is plaintext written before
    /// encryption (a database not yet converted) and comes back as it is.
    pub fn open(&self, column: &'static str, stored: &str) -> Result<String, VaultError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once('.').ok_or(VaultError::Damaged { column })?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey {
                column,
                key_id: id.chars().take(8).collect(),
            })?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Damaged { column })?;
        if raw.len() < NONCE_LEN {
            return Err(VaultError::Damaged { column });
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = key
            .aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Damaged { column })?;
        String::from_utf8(plain).map_err(|_| VaultError::Damaged { column })
    }

    /// Open an optional value.
    pub fn open_opt(
        &self,
        column: &'static str,
        stored: Option<&str>,
    ) -> Result<Option<String>, VaultError> {
        stored.map(|s| self.open(column, s)).transpose()
    }

    /// Whether a stored value is sealed under the sealing key (rotation skips it).
    pub fn is_current(&self, stored: &str) -> bool {
        if stored.is_empty() {
            return true;
        }
        match (self.sealing_key_id(), stored.strip_prefix(PREFIX)) {
            (Some(id), Some(rest)) => rest.strip_prefix(id).is_some_and(|r| r.starts_with('.')),
            _ => false,
        }
    }

    /// The blind index of a value of `field` under the sealing key: 32 hex digits of a keyed
    /// HMAC of the normalised value (trimmed, ASCII upper case).
    pub fn blind(&self, field: &str, value: &str) -> Result<String, VaultError> {
        let key = self.keys.first().ok_or(VaultError::NoKey)?;
        Ok(blind_with(key, field, value))
    }

    /// The blind index of a value under every key, the sealing key's first: a lookup matches
    /// rows indexed before and after a rotation.
    pub fn blind_all(&self, field: &str, value: &str) -> Result<Vec<String>, VaultError> {
        if self.keys.is_empty() {
            return Err(VaultError::NoKey);
        }
        Ok(self
            .keys
            .iter()
            .map(|k| blind_with(k, field, value))
            .collect())
    }
}

fn blind_with(key: &DataKey, field: &str, value: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.blind).expect("HMAC takes any key length");
    mac.update(field.as_bytes());
    mac.update(&[0]);
    mac.update(value.trim().to_ascii_uppercase().as_bytes());
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fixed key for tests (never for a real database).
pub const TEST_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[&str]) -> Vault {
        Vault::parse(&keys.join("\n")).unwrap()
    }

    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn sealed_values_open_and_hide_the_value() {
        let v = ring(&[TEST_KEY]);
        let s = v.seal("households.phone", "13812345678").unwrap();
        assert!(s.starts_with(PREFIX), "{s}");
        assert!(!s.contains("1381234"));
        assert_eq!(v.open("households.phone", &s).unwrap(), "13812345678");
        // A fresh nonce each time: equal values do not look equal.
        assert_ne!(s, v.seal("households.phone", "13812345678").unwrap());
        assert!(v.is_current(&s));
    }

    #[test]
    fn a_value_moved_to_another_column_or_damaged_does_not_open() {
        let v = ring(&[TEST_KEY]);
        let s = v.seal("households.phone", "13812345678").unwrap();
        assert_eq!(
            v.open("members.phone", &s),
            Err(VaultError::Damaged {
                column: "members.phone"
            })
        );
        let mut bad = s.clone();
        bad.pop();
        bad.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(v.open("households.phone", &bad).is_err());
        assert!(v.open("households.phone", "gs1.nodot").is_err());
    }

    #[test]
    fn a_ring_reads_old_keys_and_seals_with_the_first() {
        let old = ring(&[TEST_KEY]);
        let sealed_old = old.seal("households.address", "夏河县拉卜楞镇1号").unwrap();
        let both = Vault::with_older(ring(&[OTHER]), &old);
        assert_eq!(both.key_ids().len(), 2);
        assert_eq!(
            both.open("households.address", &sealed_old).unwrap(),
            "夏河县拉卜楞镇1号"
        );
        assert!(!both.is_current(&sealed_old));
        let sealed_new = both.seal("households.address", "x").unwrap();
        assert!(both.is_current(&sealed_new));
        let only_new = ring(&[OTHER]);
        assert!(matches!(
            only_new.open("households.address", &sealed_old),
            Err(VaultError::UnknownKey { .. })
        ));
    }

    #[test]
    fn blind_indexes_are_keyed_and_normalised() {
        let v = ring(&[TEST_KEY]);
        let a = v.blind("id_number", "62302719800101001x").unwrap();
        assert_eq!(a, v.blind("id_number", " 62302719800101001X ").unwrap());
        assert_ne!(a, v.blind("phone", "62302719800101001X").unwrap());
        assert_ne!(
            a,
            ring(&[OTHER])
                .blind("id_number", "62302719800101001X")
                .unwrap()
        );
        let both = Vault::with_older(ring(&[OTHER]), &v);
        assert_eq!(
            both.blind_all("id_number", "62302719800101001X").unwrap()[1],
            a
        );
    }

    #[test]
    fn keys_never_print_and_bad_keys_are_refused() {
        let v = ring(&[TEST_KEY]);
        let shown = format!("{v:?}");
        assert!(
            !shown.contains(TEST_KEY) && !shown.contains("0001020304"),
            "{shown}"
        );
        assert!(matches!(
            Vault::parse("# nothing\n"),
            Err(VaultError::Empty)
        ));
        assert!(matches!(
            Vault::parse("abc"),
            Err(VaultError::BadKey { line: 1 })
        ));
        assert_eq!(
            Vault::none().seal("households.phone", "1"),
            Err(VaultError::NoKey)
        );
        // Plaintext from before the conversion still reads.
        assert_eq!(
            v.open("households.phone", "13800000000").unwrap(),
            "13800000000"
        );
        assert_eq!(v.seal("households.phone", "").unwrap(), "");
    }
}

#[cfg(test)]
mod speed {
    #[test]
    #[ignore = "prints a figure"]
    fn seal_speed() {
        let v = super::Vault::parse(super::TEST_KEY).unwrap();
        let t = std::time::Instant::now();
        for i in 0..100_000 {
            let _ = v.seal("households.phone", &format!("139{i:08}")).unwrap();
        }
        let seal = t.elapsed();
        let t = std::time::Instant::now();
        for i in 0..100_000 {
            let _ = v.blind("id_number", &format!("139{i:08}")).unwrap();
        }
        let blind = t.elapsed();
        let t = std::time::Instant::now();
        let mut n = [0u8; 24];
        for _ in 0..100_000 {
            getrandom::fill(&mut n).unwrap();
        }
        let rnd = t.elapsed();
        use chacha20poly1305::aead::{Aead, KeyInit};
        let c = chacha20poly1305::XChaCha20Poly1305::new((&[7u8; 32]).into());
        let t = std::time::Instant::now();
        for _ in 0..100_000 {
            let _ = c.encrypt(
                chacha20poly1305::XNonce::from_slice(&n),
                &b"13900000001"[..],
            );
        }
        eprintln!(
            "100k seals {seal:?}, 100k blind {blind:?}, 100k nonces {rnd:?}, 100k aead {:?}",
            t.elapsed()
        );
    }
}
