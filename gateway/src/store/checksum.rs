//! Client checksums kept with objects: which one a write keeps, and the arithmetic S3 applies
//! to multipart checksums (composite checksums of the parts' checksums, and CRCs of the whole
//! object combined from the parts' CRCs).

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::envelope::ObjectChecksum;
use crate::error::{ApiError, ApiResult};

/// Where a checksum's value lands once the body it covers has gone by and matched it.
pub type ChecksumSlot = Arc<Mutex<Option<String>>>;

/// The client's checksum of a body, to keep with what it writes.
#[derive(Clone, Debug)]
pub struct ClientChecksum {
    /// S3's algorithm name (`CRC32`, ...).
    pub algorithm: &'static str,
    /// The value, when the request's headers carry it (not a trailer).
    pub value: Option<String>,
    /// The value computed over the body, set once the body has ended and matched.
    pub verified: ChecksumSlot,
}

impl ClientChecksum {
    /// The value, known with the request or once the body was read (`None` before that, or
    /// when the body failed).
    pub fn value_now(&self) -> Option<String> {
        self.value
            .clone()
            .or_else(|| self.verified.lock().ok().and_then(|slot| slot.clone()))
    }

    /// As kept with a whole object.
    pub fn full_object(&self, value: String) -> ObjectChecksum {
        ObjectChecksum {
            algorithm: self.algorithm.to_owned(),
            kind: FULL_OBJECT.to_owned(),
            value,
            ..Default::default()
        }
    }
}

/// `x-amz-checksum-type` of a checksum over the whole object's bytes.
pub const FULL_OBJECT: &str = "FULL_OBJECT";
/// `x-amz-checksum-type` of a checksum over the parts' checksums (`<base64>-<parts>`).
pub const COMPOSITE: &str = "COMPOSITE";

/// A checksum algorithm S3 knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// By S3's name, any case.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// S3's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The checksum type S3 gives a multipart upload that names none.
    pub fn default_type(self) -> &'static str {
        if self == Self::Crc64Nvme {
            FULL_OBJECT
        } else {
            COMPOSITE
        }
    }

    /// Checks an upload's algorithm and type against what S3 allows: SHA checksums cannot be
    /// combined from parts, and CRC64NVME is only kept for the whole object.
    pub fn check_type(self, kind: &str) -> ApiResult<()> {
        let allowed = match kind {
            FULL_OBJECT => self.crc().is_some(),
            COMPOSITE => self != Self::Crc64Nvme,
            _ => return Err(ApiError::InvalidRequest(format!("unknown checksum type {kind:?}"))),
        };
        if allowed {
            return Ok(());
        }
        Err(ApiError::InvalidRequest(format!(
            "The {kind} checksum type cannot be used with the {} checksum algorithm.",
            self.name().to_ascii_lowercase()
        )))
    }

    /// The reflected polynomial and width of a CRC algorithm.
    fn crc(self) -> Option<(u64, u32)> {
        match self {
            Self::Crc32 => Some((0xEDB8_8320, 32)),
            Self::Crc32c => Some((0x82F6_3B78, 32)),
            Self::Crc64Nvme => Some((0x9A6C_9329_AC4B_C9B5, 64)),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    /// The checksum of `data`, base64 as S3 answers it. For the short inputs of composite
    /// checksums (bodies are checked by the front door's hashers as they stream).
    pub fn digest(self, data: &[u8]) -> String {
        use sha1::Digest as _;
        match self.crc() {
            Some((poly, width)) => {
                let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
                let mut crc = mask;
                for byte in data {
                    crc ^= u64::from(*byte);
                    for _ in 0..8 {
                        crc = if crc & 1 == 1 { (crc >> 1) ^ poly } else { crc >> 1 };
                    }
                }
                let be = (crc ^ mask).to_be_bytes();
                STANDARD.encode(&be[be.len() - (width / 8) as usize..])
            }
            None if self == Self::Sha1 => STANDARD.encode(sha1::Sha1::digest(data)),
            None => STANDARD.encode(sha2::Sha256::digest(data)),
        }
    }
}

/// S3's composite checksum of parts with these checksums (base64): the checksum of their
/// decoded values concatenated, then `-<number of parts>`.
pub fn composite(algorithm: Algorithm, parts: &[String]) -> ApiResult<String> {
    let mut joined = Vec::new();
    for part in parts {
        joined.extend(decode(part)?);
    }
    Ok(format!("{}-{}", algorithm.digest(&joined), parts.len()))
}

/// The CRC of the whole object from its parts' CRCs (base64) and plaintext lengths, as S3's
/// FULL_OBJECT multipart checksum (the parts' bytes are never read again).
pub fn combined_crc(algorithm: Algorithm, parts: &[(String, u64)]) -> ApiResult<String> {
    let Some((poly, width)) = algorithm.crc() else {
        return Err(ApiError::Internal("combined checksum of a non-CRC algorithm"));
    };
    let bytes = (width / 8) as usize;
    let mut crc: Option<u64> = None;
    for (value, len) in parts {
        let raw = decode(value)?;
        if raw.len() != bytes {
            return Err(ApiError::InvalidRequest(format!(
                "a part's {} checksum has {} bytes",
                algorithm.name(),
                raw.len()
            )));
        }
        let part = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        crc = Some(match crc {
            None => part,
            Some(before) => crc_combine(before, part, *len, poly, width),
        });
    }
    let crc = crc.ok_or(ApiError::Internal("combined checksum of no parts"))?;
    let be = crc.to_be_bytes();
    Ok(STANDARD.encode(&be[be.len() - bytes..]))
}

fn decode(value: &str) -> ApiResult<Vec<u8>> {
    STANDARD
        .decode(value.trim())
        .map_err(|_| ApiError::InvalidRequest(format!("checksum {value:?} is not base64")))
}

/// CRC(A || B) from CRC(A), CRC(B) and len(B), for a reflected CRC whose initial value and
/// final XOR are both all ones (CRC-32, CRC-32C, CRC-64/NVME): they cancel, leaving
/// CRC(A) * x^(8 len(B)) + CRC(B) in GF(2)[x] mod the polynomial (zlib's `crc32_combine`).
fn crc_combine(crc_a: u64, crc_b: u64, len_b: u64, poly: u64, width: u32) -> u64 {
    let one = 1u64 << (width - 1); // x^0, reflected
    // x^(2^k) mod P for k = 3, 4, ...: squaring walks the bits of 8 * len_b.
    let mut power = one >> 1; // x^1
    for _ in 0..3 {
        power = mult_mod(power, power, poly, width);
    }
    let mut shift = one;
    let mut n = len_b;
    while n > 0 {
        if n & 1 == 1 {
            shift = mult_mod(power, shift, poly, width);
        }
        power = mult_mod(power, power, poly, width);
        n >>= 1;
    }
    mult_mod(shift, crc_a, poly, width) ^ crc_b
}

/// a * b mod P, both reflected (zlib's `multmodp`).
fn mult_mod(a: u64, mut b: u64, poly: u64, width: u32) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut product = 0u64;
    while m != 0 {
        if a & m != 0 {
            product ^= b;
        }
        m >>= 1;
        b = if b & 1 == 1 { (b >> 1) ^ poly } else { b >> 1 };
    }
    product
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn combined_crcs_equal_the_crc_of_the_whole() {
        for algorithm in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            for lens in [
                vec![1usize, 1],
                vec![0, 5],
                vec![5, 0],
                vec![1000, 70_000, 3],
                vec![65_536, 65_536, 1],
            ] {
                let parts: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, l)| data(*l, i as u8)).collect();
                let whole: Vec<u8> = parts.concat();
                let sums: Vec<(String, u64)> = parts.iter().map(|p| (algorithm.digest(p), p.len() as u64)).collect();
                assert_eq!(
                    combined_crc(algorithm, &sums).expect("combine"),
                    algorithm.digest(&whole),
                    "{algorithm:?} {lens:?}"
                );
            }
        }
    }

    #[test]
    fn crcs_give_the_check_values_of_the_crc_catalogue() {
        // The check values of the CRC catalogue ("123456789").
        let check = |a: Algorithm| STANDARD.decode(a.digest(b"123456789")).expect("base64");
        assert_eq!(check(Algorithm::Crc32), 0xCBF4_3926u32.to_be_bytes());
        assert_eq!(check(Algorithm::Crc32c), 0xE306_9283u32.to_be_bytes());
        assert_eq!(check(Algorithm::Crc64Nvme), 0xAE8B_1486_0A79_9888u64.to_be_bytes());
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums_with_the_part_count() {
        let parts = [Algorithm::Sha256.digest(b"one"), Algorithm::Sha256.digest(b"two")];
        let mut joined = STANDARD.decode(&parts[0]).expect("b64");
        joined.extend(STANDARD.decode(&parts[1]).expect("b64"));
        assert_eq!(
            composite(Algorithm::Sha256, &parts).expect("composite"),
            format!("{}-2", Algorithm::Sha256.digest(&joined))
        );
        assert!(composite(Algorithm::Crc32, &["not base64!".to_owned()]).is_err());
    }

    #[test]
    fn types_s3_refuses_for_an_algorithm() {
        assert!(Algorithm::Sha256.check_type(FULL_OBJECT).is_err());
        assert!(Algorithm::Crc64Nvme.check_type(COMPOSITE).is_err());
        assert!(Algorithm::Crc32.check_type(FULL_OBJECT).is_ok());
        assert!(Algorithm::Crc32.check_type(COMPOSITE).is_ok());
        assert_eq!(Algorithm::parse("crc64nvme"), Some(Algorithm::Crc64Nvme));
        assert_eq!(Algorithm::Crc64Nvme.default_type(), FULL_OBJECT);
    }
}
