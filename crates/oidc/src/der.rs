//! Just enough DER and PEM to tell key formats apart and read public key components.
//!
//! The heavy lifting (key validation, canonical re-encoding) is done by aws-lc-rs; this module
//! only reads the outer structures: SubjectPublicKeyInfo, PKCS#8 `PrivateKeyInfo`,
//! X.509 certificates (to find their SPKI) and PKCS#1 `RSAPublicKey`.

use base64::Engine as _;

use crate::error::KeyError;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// rsaEncryption, 1.2.840.113549.1.1.1
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// id-RSASSA-PSS, 1.2.840.113549.1.1.10
pub(crate) const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];

/// A cursor over DER TLVs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Read one TLV; returns (tag, contents). Only single-byte tags and definite lengths.
    pub(crate) fn any(&mut self) -> Result<(u8, &'a [u8]), KeyError> {
        let [tag, len0, rest @ ..] = self.data else {
            return Err(KeyError::Der("truncated TLV"));
        };
        if tag & 0x1f == 0x1f {
            return Err(KeyError::Der("multi-byte tags are not supported"));
        }
        let (len, rest) = if len0 & 0x80 == 0 {
            (usize::from(*len0), rest)
        } else {
            let n = usize::from(len0 & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(KeyError::Der("bad length"));
            }
            let (len_bytes, rest) = rest.split_at(n);
            let len = len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if len < 0x80 || len_bytes.first() == Some(&0) {
                return Err(KeyError::Der("non-minimal length"));
            }
            (len, rest)
        };
        if rest.len() < len {
            return Err(KeyError::Der("length exceeds input"));
        }
        let (contents, rest) = rest.split_at(len);
        self.data = rest;
        Ok((*tag, contents))
    }

    /// Read one TLV and require its tag.
    pub(crate) fn read_tag(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], KeyError> {
        let (t, c) = self.any()?;
        if t == tag { Ok(c) } else { Err(KeyError::Der(what)) }
    }

    /// Read one TLV and return its full encoding (tag, length and contents).
    pub(crate) fn any_raw(&mut self) -> Result<&'a [u8], KeyError> {
        let before = self.data;
        self.any()?;
        let used = before.len() - self.data.len();
        Ok(&before[..used])
    }
}

/// Parsed outline of a SubjectPublicKeyInfo.
pub(crate) struct Spki<'a> {
    pub(crate) algorithm: &'a [u8],
    pub(crate) parameters: Option<(u8, &'a [u8])>,
    pub(crate) key: &'a [u8],
}

pub(crate) fn parse_spki(der: &[u8]) -> Result<Spki<'_>, KeyError> {
    let mut outer = Reader::new(der);
    let seq = outer.read_tag(TAG_SEQUENCE, "SubjectPublicKeyInfo is not a SEQUENCE")?;
    if !outer.is_empty() {
        return Err(KeyError::Der("trailing data after SubjectPublicKeyInfo"));
    }
    let mut r = Reader::new(seq);
    let mut alg = Reader::new(r.read_tag(TAG_SEQUENCE, "AlgorithmIdentifier is not a SEQUENCE")?);
    let algorithm = alg.read_tag(TAG_OID, "algorithm is not an OID")?;
    let parameters = if alg.is_empty() { None } else { Some(alg.any()?) };
    let bits = r.read_tag(TAG_BIT_STRING, "subjectPublicKey is not a BIT STRING")?;
    if !r.is_empty() {
        return Err(KeyError::Der("trailing data in SubjectPublicKeyInfo"));
    }
    let [0, key @ ..] = bits else {
        return Err(KeyError::Der("subjectPublicKey has unused bits"));
    };
    Ok(Spki {
        algorithm,
        parameters,
        key,
    })
}

/// `(algorithm OID, parameters)` of a PKCS#8 PrivateKeyInfo.
pub(crate) type AlgorithmId<'a> = (&'a [u8], Option<(u8, &'a [u8])>);

pub(crate) fn pkcs8_algorithm(der: &[u8]) -> Result<AlgorithmId<'_>, KeyError> {
    let mut r = Reader::new(Reader::new(der).read_tag(TAG_SEQUENCE, "PKCS#8 is not a SEQUENCE")?);
    r.read_tag(TAG_INTEGER, "PKCS#8 version missing")?;
    let mut alg = Reader::new(r.read_tag(TAG_SEQUENCE, "PKCS#8 AlgorithmIdentifier missing")?);
    let oid = alg.read_tag(TAG_OID, "PKCS#8 algorithm is not an OID")?;
    let params = if alg.is_empty() { None } else { Some(alg.any()?) };
    r.read_tag(TAG_OCTET_STRING, "PKCS#8 privateKey missing")?;
    Ok((oid, params))
}

/// The curve OID of a SEC1 `ECPrivateKey` (RFC 5915), if it names one.
pub(crate) fn sec1_curve(der: &[u8]) -> Result<Option<&[u8]>, KeyError> {
    let mut r = Reader::new(Reader::new(der).read_tag(TAG_SEQUENCE, "ECPrivateKey is not a SEQUENCE")?);
    r.read_tag(TAG_INTEGER, "ECPrivateKey version missing")?;
    r.read_tag(TAG_OCTET_STRING, "ECPrivateKey privateKey missing")?;
    while !r.is_empty() {
        let (tag, contents) = r.any()?;
        if tag == 0xa0 {
            return Ok(Some(Reader::new(contents).read_tag(TAG_OID, "curve is not an OID")?));
        }
    }
    Ok(None)
}

/// The DER SubjectPublicKeyInfo inside an X.509 certificate.
pub(crate) fn certificate_spki(der: &[u8]) -> Result<&[u8], KeyError> {
    let mut cert = Reader::new(Reader::new(der).read_tag(TAG_SEQUENCE, "certificate is not a SEQUENCE")?);
    let mut tbs = Reader::new(cert.read_tag(TAG_SEQUENCE, "tbsCertificate is not a SEQUENCE")?);
    let mut first = tbs.any_raw()?;
    if first.first() == Some(&0xa0) {
        // explicit version tag; the serial number follows
        first = tbs.any_raw()?;
    }
    if first.first() != Some(&TAG_INTEGER) {
        return Err(KeyError::Der("certificate serial number missing"));
    }
    tbs.read_tag(TAG_SEQUENCE, "certificate signature algorithm missing")?;
    tbs.read_tag(TAG_SEQUENCE, "certificate issuer missing")?;
    tbs.read_tag(TAG_SEQUENCE, "certificate validity missing")?;
    tbs.read_tag(TAG_SEQUENCE, "certificate subject missing")?;
    let spki = tbs.any_raw()?;
    if spki.first() != Some(&TAG_SEQUENCE) {
        return Err(KeyError::Der("certificate SubjectPublicKeyInfo missing"));
    }
    Ok(spki)
}

/// `(n, e)` of a PKCS#1 RSAPublicKey, big-endian without leading zeros.
pub(crate) fn rsa_public_key(der: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let mut outer = Reader::new(der);
    let mut r = Reader::new(outer.read_tag(TAG_SEQUENCE, "RSAPublicKey is not a SEQUENCE")?);
    let n = unsigned(r.read_tag(TAG_INTEGER, "RSA modulus missing")?)?;
    let e = unsigned(r.read_tag(TAG_INTEGER, "RSA exponent missing")?)?;
    if !r.is_empty() || !outer.is_empty() {
        return Err(KeyError::Der("trailing data in RSAPublicKey"));
    }
    Ok((n, e))
}

fn unsigned(int: &[u8]) -> Result<&[u8], KeyError> {
    match int {
        [] => Err(KeyError::Der("empty INTEGER")),
        [b, ..] if b & 0x80 != 0 => Err(KeyError::Der("negative INTEGER")),
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        _ => Ok(int),
    }
}

/// Append a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    push_len(out, contents.len());
    out.extend_from_slice(contents);
}

/// Encode an RSA SubjectPublicKeyInfo from `(n, e)` (unsigned big-endian).
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, v: &[u8]) {
        let v = match v.iter().position(|b| *b != 0) {
            Some(i) => &v[i..],
            None => &[0u8][..],
        };
        let mut c = Vec::with_capacity(v.len() + 1);
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            c.push(0);
        }
        c.extend_from_slice(v);
        push_tlv(out, TAG_INTEGER, &c);
    }
    let mut ints = Vec::new();
    int(&mut ints, n);
    int(&mut ints, e);
    let mut pkcs1 = Vec::new();
    push_tlv(&mut pkcs1, TAG_SEQUENCE, &ints);
    let mut alg = Vec::new();
    push_tlv(&mut alg, TAG_OID, OID_RSA);
    push_tlv(&mut alg, TAG_NULL, &[]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&pkcs1);
    let mut body = Vec::new();
    push_tlv(&mut body, TAG_SEQUENCE, &alg);
    push_tlv(&mut body, TAG_BIT_STRING, &bits);
    let mut out = Vec::new();
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// One PEM block: its label and decoded contents.
#[derive(Debug)]
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

/// Parse every PEM block of `input`. Text outside blocks is ignored (like OpenSSL).
pub(crate) fn parse_pem(input: &[u8]) -> Result<Vec<PemBlock>, KeyError> {
    let text = std::str::from_utf8(input).map_err(|_| KeyError::Pem("input is not UTF-8 text"))?;
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = String::new();
        let mut closed = false;
        for body in lines.by_ref() {
            let body = body.trim();
            if body == end {
                closed = true;
                break;
            }
            if body.contains(':') {
                // RFC 1421 headers: only used by encrypted legacy keys
                return Err(KeyError::Encrypted);
            }
            b64.push_str(body);
        }
        if !closed {
            return Err(KeyError::Pem("missing END line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| KeyError::Pem("invalid base64 in PEM body"))?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            der,
        });
    }
    Ok(blocks)
}

/// Encode DER as a PEM block with 64-character lines.
#[must_use]
pub(crate) fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so chunks are valid UTF-8
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_and_overlong() {
        assert!(Reader::new(&[0x30]).any().is_err());
        assert!(Reader::new(&[0x30, 0x05, 0x00]).any().is_err());
        assert!(Reader::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]).any().is_err()); // non-minimal
        assert!(Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).any().is_err());
        let mut r = Reader::new(&[0x02, 0x01, 0x05]);
        assert_eq!(r.any().ok(), Some((0x02, &[5u8][..])));
        assert!(r.is_empty());
    }

    #[test]
    fn rsa_spki_roundtrip() {
        let n = [0xc0u8; 256];
        let spki = rsa_spki(&n, &[1, 0, 1]);
        let parsed = parse_spki(&spki).ok();
        let parsed = parsed.as_ref();
        assert_eq!(parsed.map(|p| p.algorithm), Some(OID_RSA));
        let (n2, e2) = rsa_public_key(parsed.map_or(&[][..], |p| p.key)).unwrap_or((&[], &[]));
        assert_eq!(n2, &n[..]);
        assert_eq!(e2, &[1, 0, 1]);
    }

    #[test]
    fn pem_roundtrip_and_errors() {
        let pem = to_pem("PUBLIC KEY", &[1, 2, 3, 4]);
        let blocks = parse_pem(pem.as_bytes()).unwrap_or_default();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
        assert_eq!(blocks[0].der, vec![1, 2, 3, 4]);
        assert!(parse_pem(b"-----BEGIN X-----\nAAAA\n").is_err());
        assert!(parse_pem(b"-----BEGIN X-----\n!!!!\n-----END X-----\n").is_err());
        assert!(matches!(
            parse_pem(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----\n"),
            Err(KeyError::Encrypted)
        ));
    }
}
