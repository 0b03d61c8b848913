//! CryptographicHashContent: computes a hash of the content (streamed) into the
//! `content_<algorithm>` attribute.

use std::io::{self, Read};

use blake2::digest::consts::{U20, U32, U48};
use sha2::Digest;
use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship, Validator,
};

const ALGORITHM: &str = "Hash Algorithm";
const FAIL_EMPTY: &str = "Fail if the content is empty";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "CryptographicHashContent.error";
/// Flowfiles handled per trigger.
const BATCH: usize = 100;

const ALGORITHMS: &[(&str, &str)] = &[
    ("MD5", "MD5 (128 bits; broken, for compatibility only)"),
    ("SHA-1", "SHA-1 (160 bits; broken, for compatibility only)"),
    ("SHA-224", "SHA-2 224 bits"),
    ("SHA-256", "SHA-2 256 bits"),
    ("SHA-384", "SHA-2 384 bits"),
    ("SHA-512", "SHA-2 512 bits"),
    ("SHA-512/224", "SHA-2 512 truncated to 224 bits"),
    ("SHA-512/256", "SHA-2 512 truncated to 256 bits"),
    ("SHA3-224", "SHA-3 224 bits"),
    ("SHA3-256", "SHA-3 256 bits"),
    ("SHA3-384", "SHA-3 384 bits"),
    ("SHA3-512", "SHA-3 512 bits"),
    ("BLAKE2-160", "BLAKE2b 160 bits"),
    ("BLAKE2-256", "BLAKE2b 256 bits"),
    ("BLAKE2-384", "BLAKE2b 384 bits"),
    ("BLAKE2-512", "BLAKE2b 512 bits"),
];

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(CryptographicHashContent::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "CryptographicHashContent",
        "Computes a cryptographic hash of the flowfile content (streamed, any size) and writes it as lowercase hex to the \
         attribute content_<algorithm>, e.g. content_SHA-256.",
    )
    .tags(&["content", "hash", "sha", "sha2", "sha3", "blake2", "md5", "cryptography"])
    .property(
        PropertyDescriptor::new(ALGORITHM)
            .description("The hash algorithm")
            .required()
            .default_value("SHA-256")
            .allowable(ALGORITHMS),
    )
    .property(
        PropertyDescriptor::new(FAIL_EMPTY)
            .description("Route flowfiles with empty content to failure instead of hashing them")
            .required()
            .default_value("false")
            .validator(Validator::Boolean),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Flowfiles with the hash attribute"))
    .relationship(Relationship::new(crate::FAILURE, "Empty flowfiles when 'Fail if the content is empty' is set; CryptographicHashContent.error says why"))
}

/// The processor.
#[derive(Default)]
pub struct CryptographicHashContent {
    algorithm: String,
    attribute: String,
    fail_empty: bool,
}

impl Processor for CryptographicHashContent {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.algorithm = ctx.property(ALGORITHM).unwrap_or("SHA-256").to_string();
        if !ALGORITHMS.iter().any(|(a, _)| *a == self.algorithm) {
            return Err(ProcessError::Config(format!("unknown hash algorithm '{}'", self.algorithm)));
        }
        self.attribute = format!("content_{}", self.algorithm);
        self.fail_empty = ctx.bool(FAIL_EMPTY)?.unwrap_or(false);
        Ok(())
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            if self.fail_empty && ff.size() == 0 {
                ff.set_attr(ERROR_ATTR, "the content is empty");
                session.transfer(ff, crate::FAILURE);
                continue;
            }
            let reader = session.read(&ff)?;
            let digest = hash_hex(&self.algorithm, reader)?;
            ff.set_attr(&self.attribute, &digest);
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}

fn digest<D: Digest>(mut r: impl Read) -> io::Result<Vec<u8>> {
    let mut h = D::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_vec())
}

/// The hex digest of everything `r` yields, with a NiFi algorithm name.
pub fn hash_hex(algorithm: &str, r: impl Read) -> io::Result<String> {
    let bytes = match algorithm {
        "MD5" => digest::<md5::Md5>(r)?,
        "SHA-1" => digest::<sha1::Sha1>(r)?,
        "SHA-224" => digest::<sha2::Sha224>(r)?,
        "SHA-256" => digest::<sha2::Sha256>(r)?,
        "SHA-384" => digest::<sha2::Sha384>(r)?,
        "SHA-512" => digest::<sha2::Sha512>(r)?,
        "SHA-512/224" => digest::<sha2::Sha512_224>(r)?,
        "SHA-512/256" => digest::<sha2::Sha512_256>(r)?,
        "SHA3-224" => digest::<sha3::Sha3_224>(r)?,
        "SHA3-256" => digest::<sha3::Sha3_256>(r)?,
        "SHA3-384" => digest::<sha3::Sha3_384>(r)?,
        "SHA3-512" => digest::<sha3::Sha3_512>(r)?,
        "BLAKE2-160" => digest::<blake2::Blake2b<U20>>(r)?,
        "BLAKE2-256" => digest::<blake2::Blake2b<U32>>(r)?,
        "BLAKE2-384" => digest::<blake2::Blake2b<U48>>(r)?,
        "BLAKE2-512" => digest::<blake2::Blake2b512>(r)?,
        other => {
            return Err(io::Error::other(format!("unknown hash algorithm '{other}'")));
        }
    };
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    fn hash(alg: &str, content: &str) -> String {
        let mut r = TestRunner::new(crate::registry(), "CryptographicHashContent");
        r.set_property(ALGORITHM, alg);
        r.enqueue(content.to_string(), &[]);
        r.run(1).unwrap();
        r.output(crate::SUCCESS)[0].attr(&format!("content_{alg}")).unwrap().to_string()
    }

    #[test]
    fn known_vectors() {
        assert_eq!(hash("SHA-256", "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hash("MD5", "abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hash("SHA-1", "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hash("SHA3-256", ""), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
        assert_eq!(
            hash("BLAKE2-512", "abc"),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        assert_eq!(hash("BLAKE2-160", "abc").len(), 40);
    }

    #[test]
    fn streams_large_content() {
        let big = "0123456789".repeat(300_000);
        let want = hash_hex("SHA-256", big.as_bytes()).unwrap();
        assert_eq!(hash("SHA-256", &big), want);
    }

    #[test]
    fn empty_content_fails_when_asked() {
        let mut r = TestRunner::new(crate::registry(), "CryptographicHashContent");
        r.set_property(FAIL_EMPTY, "true");
        r.enqueue("", &[]);
        r.enqueue("x", &[]);
        r.run(1).unwrap();
        assert_eq!(r.output(crate::FAILURE)[0].attr(ERROR_ATTR), Some("the content is empty"));
        assert_eq!(r.count(crate::SUCCESS), 1);
    }
}
