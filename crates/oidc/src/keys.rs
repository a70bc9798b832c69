//! Signing and verification keys, the kube-apiserver `kid` rule, PEM loading and generation.
//!
//! Every public key is reduced to its canonical DER SubjectPublicKeyInfo (SPKI). The `kid` is
//! `base64url_unpadded(SHA-256(SPKI DER))`, exactly as kube-apiserver's `keyIDFromPublicKey`
//! computes it, so a JWKS generated here from a cluster's public key matches the `kid` header of
//! the tokens that cluster signs.

use std::fmt;
use std::path::Path;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::der;
use crate::error::KeyError;
use crate::jwk::Jwk;

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits.
pub const MAX_RSA_BITS: usize = 8192;

/// A JWS signature algorithm accepted by STS.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// ECDSA P-521 with SHA-512.
    ES512,
}

impl Algorithm {
    /// All accepted algorithms.
    pub const ALL: [Self; 6] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
    ];

    /// The JOSE name (`"RS256"`...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }

    /// Parse a JOSE name; exact and case-sensitive (`"rs256"` is not an algorithm).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether this is an RSA algorithm.
    #[must_use]
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::RS256 | Self::RS384 | Self::RS512)
    }

    /// The curve an ECDSA algorithm requires.
    #[must_use]
    pub fn curve(self) -> Option<Curve> {
        match self {
            Self::ES256 => Some(Curve::P256),
            Self::ES384 => Some(Curve::P384),
            Self::ES512 => Some(Curve::P521),
            _ => None,
        }
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(KeyError::UnsupportedKeyType(
            "algorithm must be one of RS256, RS384, RS512, ES256, ES384, ES512",
        ))
    }
}

/// An elliptic curve usable for JWS.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
    /// NIST P-521 (ES512).
    P521,
}

impl Curve {
    /// JWK `crv` name.
    #[must_use]
    pub fn jwk_name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The only JWS algorithm for this curve.
    #[must_use]
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::P256 => Algorithm::ES256,
            Self::P384 => Algorithm::ES384,
            Self::P521 => Algorithm::ES512,
        }
    }

    /// Coordinate length in bytes.
    #[must_use]
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    pub(crate) fn from_jwk_name(name: &str) -> Option<Self> {
        [Self::P256, Self::P384, Self::P521]
            .into_iter()
            .find(|c| c.jwk_name() == name)
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Self::P256 => der::OID_P256,
            Self::P384 => der::OID_P384,
            Self::P521 => der::OID_P521,
        }
    }

    fn from_oid(oid: &[u8]) -> Result<Self, KeyError> {
        [Self::P256, Self::P384, Self::P521]
            .into_iter()
            .find(|c| c.oid() == oid)
            .ok_or(KeyError::UnsupportedKeyType(
                "elliptic curve other than P-256, P-384, P-521",
            ))
    }

    fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Self::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }
}

/// The kube-apiserver key id: base64url (unpadded) SHA-256 of the DER SubjectPublicKeyInfo.
#[must_use]
pub fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der))
}

/// Public parameters of a key.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum PublicParams {
    /// RSA modulus and exponent, unsigned big-endian without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// EC point coordinates, fixed-length big-endian.
    Ec {
        /// Curve.
        curve: Curve,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
}

impl PublicParams {
    /// RSA modulus size in bits (0 for EC keys).
    #[must_use]
    pub fn rsa_bits(&self) -> usize {
        match self {
            Self::Rsa { n, .. } => bit_len(n),
            Self::Ec { .. } => 0,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Rsa { n, .. } => format!("RSA {} bits", bit_len(n)),
            Self::Ec { curve, .. } => format!("EC {}", curve.jwk_name()),
        }
    }
}

fn bit_len(n: &[u8]) -> usize {
    match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i - 1) * 8 + (8 - n[i].leading_zeros() as usize),
        None => 0,
    }
}

/// A public key ready to verify JWS signatures, with its `kid`.
///
/// The algorithms it verifies are fixed by the key itself (RSA: RS256/384/512, or the one
/// `alg` its JWK declared; EC: the one algorithm of its curve), never by a token header.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    params: PublicParams,
    spki_der: Vec<u8>,
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("key", &self.params.describe())
            .field(
                "algorithms",
                &self.verifiers.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl VerifyingKey {
    /// Build from a DER SubjectPublicKeyInfo. The `kid` is the kube-apiserver key id.
    ///
    /// # Errors
    /// Unsupported key type or curve, RSA size outside 2048..=8192 bits, invalid key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = der::parse_spki(der)?;
        let params = if spki.algorithm == der::OID_RSA {
            match spki.parameters {
                None | Some((der::TAG_NULL, [])) => {}
                Some(_) => {
                    return Err(KeyError::Der("RSA AlgorithmIdentifier parameters must be NULL"));
                }
            }
            let (n, e) = der::rsa_public_key(spki.key)?;
            PublicParams::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            }
        } else if spki.algorithm == der::OID_EC {
            let Some((der::TAG_OID, curve_oid)) = spki.parameters else {
                return Err(KeyError::UnsupportedKeyType("EC key without a named curve"));
            };
            let curve = Curve::from_oid(curve_oid)?;
            ec_params_from_point(curve, spki.key)?
        } else if spki.algorithm == der::OID_ED25519 {
            return Err(KeyError::UnsupportedKeyType("Ed25519 (EdDSA is not accepted by STS)"));
        } else if spki.algorithm == der::OID_RSA_PSS {
            return Err(KeyError::UnsupportedKeyType("RSASSA-PSS keys"));
        } else {
            return Err(KeyError::UnsupportedKeyType("unknown public key algorithm"));
        };
        Self::from_params(None, params, None)
    }

    /// Build from public parameters. `kid` defaults to the kube-apiserver key id;
    /// `alg` restricts the key to one algorithm (it must fit the key type).
    ///
    /// # Errors
    /// Invalid parameters, wrong RSA size, `alg` not fitting the key.
    pub fn from_params(kid: Option<String>, params: PublicParams, alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let (spki_der, algs): (Vec<u8>, Vec<Algorithm>) = match &params {
            PublicParams::Rsa { n, e } => {
                let bits = bit_len(n);
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(KeyError::RsaKeySize { bits });
                }
                let algs = match alg {
                    None => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
                    Some(a) if a.is_rsa() => vec![a],
                    Some(a) => {
                        return Err(KeyError::AlgorithmMismatch {
                            alg: a.as_str(),
                            key: "RSA",
                        });
                    }
                };
                (der::rsa_spki(n, e), algs)
            }
            PublicParams::Ec { curve, x, y } => {
                let own = curve.algorithm();
                if let Some(a) = alg.filter(|a| *a != own) {
                    return Err(KeyError::AlgorithmMismatch {
                        alg: a.as_str(),
                        key: curve.jwk_name(),
                    });
                }
                (ec_spki(*curve, x, y), vec![own])
            }
        };
        let mut verifiers = Vec::with_capacity(algs.len());
        for a in algs {
            let parsed = match &params {
                PublicParams::Rsa { n, e } => {
                    let rsa_params = match a {
                        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
                    };
                    signature::RsaPublicKeyComponents { n, e }.to_parsed_public_key(rsa_params)
                }
                PublicParams::Ec { x, y, .. } => {
                    let mut point = Vec::with_capacity(1 + x.len() + y.len());
                    point.push(4);
                    point.extend_from_slice(x);
                    point.extend_from_slice(y);
                    ParsedPublicKey::new(a.verification(), point)
                }
            }
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
            verifiers.push((a, parsed));
        }
        let kid = kid.unwrap_or_else(|| key_id(&spki_der));
        Ok(Self {
            kid,
            params,
            spki_der,
            verifiers,
        })
    }

    /// Load every public key found in PEM text: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1),
    /// `CERTIFICATE`, and the public half of `PRIVATE KEY` / `RSA PRIVATE KEY` /
    /// `EC PRIVATE KEY` blocks, like kube-apiserver's `--service-account-key-file`.
    ///
    /// # Errors
    /// No usable block, or any block that fails to parse.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>, KeyError> {
        let mut keys = Vec::new();
        for block in der::parse_pem(pem)? {
            match block.label.as_str() {
                "PUBLIC KEY" => keys.push(Self::from_spki_der(&block.der)?),
                "RSA PUBLIC KEY" => {
                    let (n, e) = der::rsa_public_key(&block.der)?;
                    keys.push(Self::from_params(
                        None,
                        PublicParams::Rsa {
                            n: n.to_vec(),
                            e: e.to_vec(),
                        },
                        None,
                    )?);
                }
                "CERTIFICATE" => keys.push(Self::from_spki_der(der::certificate_spki(&block.der)?)?),
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                    keys.push(SigningKey::from_der_block(&block.label, &block.der)?.public.clone());
                }
                "EC PARAMETERS" => {}
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                other => return Err(KeyError::UnsupportedPemLabel(crate::error::sanitize(other))),
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoPem(String::new()));
        }
        Ok(keys)
    }

    /// Load public keys from a PEM file (public or private keys, certificates).
    ///
    /// # Errors
    /// IO errors and everything [`VerifyingKey::from_pem`] rejects.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Vec<Self>, KeyError> {
        Self::from_pem(&read_file(path.as_ref())?).map_err(|e| match e {
            KeyError::NoPem(_) => KeyError::NoPem(format!(" in {}", path.as_ref().display())),
            other => other,
        })
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The same key under another `kid` (e.g. `""` for pre-1.16 tokens without a `kid`).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The public parameters.
    #[must_use]
    pub fn params(&self) -> &PublicParams {
        &self.params
    }

    /// Canonical DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The SPKI as a `PUBLIC KEY` PEM block.
    #[must_use]
    pub fn to_spki_pem(&self) -> String {
        der::to_pem("PUBLIC KEY", &self.spki_der)
    }

    /// Algorithms this key verifies.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.verifiers.iter().map(|(a, _)| *a)
    }

    /// The algorithm kube-apiserver advertises for this key: RS256 for RSA, by curve for EC
    /// (or the single algorithm the key is restricted to).
    #[must_use]
    pub fn default_algorithm(&self) -> Algorithm {
        match (&self.params, self.verifiers.as_slice()) {
            (_, [(only, _)]) => *only,
            (PublicParams::Ec { curve, .. }, _) => curve.algorithm(),
            (PublicParams::Rsa { .. }, _) => Algorithm::RS256,
        }
    }

    /// Whether this key may verify `alg`.
    #[must_use]
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// A short description like `RSA 2048 bits, RS256/RS384/RS512`.
    #[must_use]
    pub fn describe(&self) -> String {
        let algs: Vec<&str> = self.algorithms().map(Algorithm::as_str).collect();
        format!("{}, {}", self.params.describe(), algs.join("/"))
    }

    /// Verify `signature` over `message` with `alg`. Returns `false` for an algorithm this key
    /// does not support, and for a bad signature.
    #[must_use]
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, k)| k.verify_sig(message, signature).is_ok())
    }

    /// The public JWK as kube-apiserver publishes it (`use: sig`, `kid`, `alg`).
    #[must_use]
    pub fn to_jwk(&self) -> Jwk {
        Jwk::from_key(self)
    }
}

fn ec_params_from_point(curve: Curve, point: &[u8]) -> Result<PublicParams, KeyError> {
    let len = curve.coordinate_len();
    match point {
        [4, xy @ ..] if xy.len() == 2 * len => {
            let (x, y) = xy.split_at(len);
            Ok(PublicParams::Ec {
                curve,
                x: x.to_vec(),
                y: y.to_vec(),
            })
        }
        _ => Err(KeyError::Der("EC public key is not an uncompressed point of the curve")),
    }
}

fn ec_spki(curve: Curve, x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    der::push_tlv(&mut alg, der::TAG_OID, der::OID_EC);
    der::push_tlv(&mut alg, der::TAG_OID, curve.oid());
    let mut bits = Vec::with_capacity(2 + x.len() + y.len());
    bits.extend_from_slice(&[0, 4]);
    bits.extend_from_slice(x);
    bits.extend_from_slice(y);
    let mut body = Vec::new();
    der::push_tlv(&mut body, der::TAG_SEQUENCE, &alg);
    der::push_tlv(&mut body, der::TAG_BIT_STRING, &bits);
    let mut out = Vec::new();
    der::push_tlv(&mut out, der::TAG_SEQUENCE, &body);
    out
}

fn read_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// What kind of key to generate.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum KeySpec {
    /// RSA with the given modulus size (2048, 3072, 4096 or 8192).
    Rsa(usize),
    /// ECDSA on the given curve.
    Ec(Curve),
}

impl KeySpec {
    /// The key spec for an algorithm: RS* gives RSA 2048, ES* the matching curve.
    #[must_use]
    pub fn for_algorithm(alg: Algorithm) -> Self {
        alg.curve().map_or(Self::Rsa(2048), Self::Ec)
    }
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private key that signs service-account tokens.
pub struct SigningKey {
    signer: Signer,
    alg: Algorithm,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generate a fresh key.
    ///
    /// # Errors
    /// Unsupported RSA size, or a failure of the random generator.
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        let signer = match spec {
            KeySpec::Rsa(bits) => {
                let size = match bits {
                    2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                    3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                    4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                    8192 => aws_lc_rs::rsa::KeySize::Rsa8192,
                    bits => return Err(KeyError::RsaKeySize { bits }),
                };
                Signer::Rsa(RsaKeyPair::generate(size).map_err(|_| KeyError::Generation)?)
            }
            KeySpec::Ec(curve) => {
                Signer::Ec(EcdsaKeyPair::generate(curve.signing()).map_err(|_| KeyError::Generation)?)
            }
        };
        Self::from_signer(signer)
    }

    /// Load the first private key of PEM text (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
    ///
    /// # Errors
    /// No private key block, encrypted or unsupported keys.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let blocks = der::parse_pem(pem)?;
        let mut saw_public = false;
        for block in &blocks {
            match block.label.as_str() {
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                    return Self::from_der_block(&block.label, &block.der);
                }
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => saw_public = true,
                "OPENSSH PRIVATE KEY" => {
                    return Err(KeyError::UnsupportedPemLabel(
                        "OPENSSH PRIVATE KEY (convert with `ssh-keygen -p -m pem`)".into(),
                    ));
                }
                _ => {}
            }
        }
        if saw_public {
            Err(KeyError::NotPrivate)
        } else {
            Err(KeyError::NoPem(" with a private key".into()))
        }
    }

    /// Load a private key from a PEM file.
    ///
    /// # Errors
    /// IO errors and everything [`SigningKey::from_pem`] rejects.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::from_pem(&read_file(path.as_ref())?)
    }

    /// Load a PKCS#8 DER private key.
    ///
    /// # Errors
    /// Unsupported or invalid key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::from_der_block("PRIVATE KEY", der)
    }

    fn from_der_block(label: &str, der: &[u8]) -> Result<Self, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Rejected(e.to_string());
        let signer = match label {
            "RSA PRIVATE KEY" => Signer::Rsa(RsaKeyPair::from_der(der).map_err(rejected)?),
            "EC PRIVATE KEY" => {
                let curve = der::sec1_curve(der)?
                    .ok_or(KeyError::UnsupportedKeyType("EC private key without a named curve"))?;
                let curve = Curve::from_oid(curve)?;
                Signer::Ec(EcdsaKeyPair::from_private_key_der(curve.signing(), der).map_err(rejected)?)
            }
            _ => {
                let (oid, params) = der::pkcs8_algorithm(der)?;
                if oid == der::OID_RSA {
                    Signer::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?)
                } else if oid == der::OID_EC {
                    let Some((der::TAG_OID, curve)) = params else {
                        return Err(KeyError::UnsupportedKeyType("EC key without a named curve"));
                    };
                    let curve = Curve::from_oid(curve)?;
                    Signer::Ec(EcdsaKeyPair::from_pkcs8(curve.signing(), der).map_err(rejected)?)
                } else if oid == der::OID_ED25519 {
                    return Err(KeyError::UnsupportedKeyType("Ed25519 (EdDSA is not accepted by STS)"));
                } else {
                    return Err(KeyError::UnsupportedKeyType("unknown private key algorithm"));
                }
            }
        };
        Self::from_signer(signer)
    }

    fn from_signer(signer: Signer) -> Result<Self, KeyError> {
        let spki = match &signer {
            Signer::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Signer::Ec(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Rejected("cannot encode the public key".into()))?;
        let public = VerifyingKey::from_spki_der(&spki)?;
        let alg = public.default_algorithm();
        Ok(Self { signer, alg, public })
    }

    /// Use another algorithm of the same key type (RSA: RS256/RS384/RS512).
    ///
    /// # Errors
    /// The algorithm does not fit the key.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        if !self.public.supports(alg) {
            return Err(KeyError::AlgorithmMismatch {
                alg: alg.as_str(),
                key: match self.signer {
                    Signer::Rsa(_) => "RSA",
                    Signer::Ec(_) => "EC",
                },
            });
        }
        self.alg = alg;
        Ok(self)
    }

    /// The signing algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id (kube-apiserver rule).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The public JWK with `alg` set to this key's signing algorithm (unlike
    /// [`VerifyingKey::to_jwk`], which advertises RS256 for every RSA key like kube-apiserver).
    #[must_use]
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = self.public.to_jwk();
        jwk.alg = Some(self.alg.as_str().into());
        jwk
    }

    /// The private key as PKCS#8 DER.
    ///
    /// # Errors
    /// Encoding failure inside the crypto library.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Rsa(k) => k.as_der().map(|d| d.as_ref().to_vec()),
            Signer::Ec(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Rejected("cannot encode the private key".into()))
    }

    /// The private key as a PKCS#8 `PRIVATE KEY` PEM block.
    ///
    /// # Errors
    /// Encoding failure inside the crypto library.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        Ok(der::to_pem("PRIVATE KEY", &self.to_pkcs8_der()?))
    }

    /// Sign `message` with [`SigningKey::algorithm`]. ECDSA signatures are in the fixed
    /// `r || s` form JWS uses.
    ///
    /// # Errors
    /// Failure inside the crypto library.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.signer {
            Signer::Rsa(k) => {
                let encoding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(encoding, &rng, message, &mut sig)
                    .map_err(|_| KeyError::Signing)?;
                Ok(sig)
            }
            Signer::Ec(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Signing),
        }
    }
}

/// Generate a private key for `alg` (RS* → RSA 2048, ES256/384/512 → P-256/384/521) and return
/// it as PKCS#8 PEM: what `irsa oidc keygen --alg ALG` writes.
///
/// # Errors
/// Key generation failure.
pub fn keygen(alg: Algorithm) -> Result<String, KeyError> {
    SigningKey::generate(KeySpec::for_algorithm(alg))?.to_pkcs8_pem()
}

/// Write a private key PEM to `path` with owner-only permissions (0600 on Unix), refusing to
/// replace an existing file unless `overwrite`: what `irsa oidc keygen --out FILE` needs.
///
/// # Errors
/// The file exists (and `overwrite` is false), or any IO error.
pub fn write_private_key_pem(path: impl AsRef<Path>, pem: &str, overwrite: bool) -> Result<(), KeyError> {
    use std::io::Write as _;
    let path = path.as_ref();
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        // `mode` only applies to newly created files
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(pem.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_are_exact() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Algorithm::from_name("rs256"), None);
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("HS256"), None);
        assert_eq!(Algorithm::from_name("PS256"), None);
    }

    #[test]
    fn bit_len_counts() {
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[]), 0);
    }

    #[test]
    fn generated_keys_roundtrip_and_sign() -> Result<(), KeyError> {
        for spec in [
            KeySpec::Rsa(2048),
            KeySpec::Ec(Curve::P256),
            KeySpec::Ec(Curve::P384),
            KeySpec::Ec(Curve::P521),
        ] {
            let key = SigningKey::generate(spec)?;
            let pem = key.to_pkcs8_pem()?;
            let again = SigningKey::from_pem(pem.as_bytes())?;
            assert_eq!(again.kid(), key.kid());
            assert_eq!(key.kid().len(), 43);
            let sig = key.sign(b"msg")?;
            assert!(again.public_key().verify(key.algorithm(), b"msg", &sig));
            assert!(!again.public_key().verify(key.algorithm(), b"msh", &sig));
            // public key PEM gives the same kid
            let pubs = VerifyingKey::from_pem(key.public_key().to_spki_pem().as_bytes())?;
            assert_eq!(pubs[0].kid(), key.kid());
            assert_eq!(pubs[0].spki_der(), key.public_key().spki_der());
        }
        Ok(())
    }

    #[test]
    fn rsa_algorithms_switch() -> Result<(), KeyError> {
        let key = SigningKey::generate(KeySpec::Rsa(2048))?.with_algorithm(Algorithm::RS512)?;
        let sig = key.sign(b"m")?;
        assert!(key.public_key().verify(Algorithm::RS512, b"m", &sig));
        assert!(!key.public_key().verify(Algorithm::RS256, b"m", &sig));
        assert!(key.with_algorithm(Algorithm::ES256).is_err());
        Ok(())
    }

    #[test]
    fn private_key_file_is_owner_only_and_not_overwritten() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sa-signer.key");
        let pem = keygen(Algorithm::ES256)?;
        write_private_key_pem(&path, &pem, false)?;
        assert!(write_private_key_pem(&path, &pem, false).is_err());
        write_private_key_pem(&path, &pem, true)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            SigningKey::from_pem_file(&path)?.kid(),
            SigningKey::from_pem(pem.as_bytes())?.kid()
        );
        Ok(())
    }

    #[test]
    fn small_rsa_rejected() {
        let n = vec![0xffu8; 128];
        assert!(matches!(
            VerifyingKey::from_params(None, PublicParams::Rsa { n, e: vec![1, 0, 1] }, None),
            Err(KeyError::RsaKeySize { bits: 1024 })
        ));
    }

    #[test]
    fn private_key_required() {
        let key = SigningKey::generate(KeySpec::Ec(Curve::P256)).ok();
        let pem = key.map(|k| k.public_key().to_spki_pem()).unwrap_or_default();
        assert!(matches!(
            SigningKey::from_pem(pem.as_bytes()),
            Err(KeyError::NotPrivate)
        ));
        assert!(matches!(SigningKey::from_pem(b"nothing"), Err(KeyError::NoPem(_))));
    }
}
