//! Strategy state snapshots: what the paper daemon persists after every closed candle and
//! restores after a crash, so that continuing gives bit-identical intents.
//!
//! Layout of a snapshot (`save_state`):
//!
//! 1. 16 bytes of framing: [`MAGIC`] `SRST`, [`FORMAT`] (u32 LE), an FNV-1a 64 checksum (u64 LE)
//!    of everything after the framing (so a truncated or altered snapshot is refused even
//!    where the change would still decode);
//! 2. a CBOR [`Header`]: the strategy's registry name and its params [`Fingerprint`] (registry
//!    name + primary timeframe + every parameter value, hashed when the strategy is built);
//! 3. the body: the whole strategy struct in CBOR (serde derive; `ciborium` writes an `f64` as
//!    a half/single float only when that is bit-exact, so NaN, ±inf, −0.0 and subnormals come
//!    back with identical `to_bits()`).
//!
//! `load_state` refuses, with a [`StateError`] and without touching `self`: bytes that do not
//! decode, a format version it does not know, a snapshot of another strategy, a snapshot of the
//! same strategy built with other params or another timeframe, a wrong checksum (truncated or
//! corrupt), and trailing bytes. Only then does it replace the
//! whole strategy value with the decoded one.
//!
//! A strategy gets both methods with one line in its `impl Strategy`: [`crate::persisted_state!`]
//! (it needs a field `fp: Fingerprint` set by [`Fingerprint::of`] in the constructor, and
//! `Serialize + Deserialize` on the struct and everything it holds).

use crate::params::Params;
use scalp_core::Timeframe;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Version of the snapshot layout; bump when a strategy struct changes incompatibly (old
/// snapshots are then refused, and the daemon rebuilds the state by replaying candles).
pub const FORMAT: u32 = 1;

/// Why a snapshot was refused (or could not be written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("strategy state: cannot encode: {0}")]
    Encode(String),
    #[error("strategy state: corrupt or truncated snapshot: {0}")]
    Corrupt(String),
    #[error("strategy state: snapshot format {found}, this build reads format {expected}")]
    Format { found: u32, expected: u32 },
    #[error("strategy state: snapshot of strategy `{found}`, not of `{expected}`")]
    WrongStrategy { found: String, expected: String },
    #[error(
        "strategy state: snapshot of `{strategy}` built with other params or timeframe (fingerprint {found:016x}, this instance {expected:016x})"
    )]
    ParamsMismatch {
        strategy: String,
        found: u64,
        expected: u64,
    },
}

/// Hash of what defines a strategy instance besides its code: registry name, primary timeframe
/// and every parameter value (FNV-1a 64 over their bytes; stable across builds and platforms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    pub fn of(name: &str, params: &Params, tf: Timeframe) -> Fingerprint {
        let mut h = Fnv::new();
        h.field(name.as_bytes());
        h.field(tf.as_str().as_bytes());
        for (k, &v) in &params.0 {
            h.field(k.as_bytes());
            // 0.0 and -0.0 are the same parameter value
            let v = if v == 0.0 { 0.0f64 } else { v };
            h.field(&v.to_bits().to_le_bytes());
        }
        Fingerprint(h.0)
    }
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// Length-prefixed, so that field boundaries cannot shift.
    fn field(&mut self, b: &[u8]) {
        self.bytes(&(b.len() as u64).to_le_bytes());
        self.bytes(b);
    }
}

fn fnv64(b: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.bytes(b);
    h.0
}

/// First bytes of every snapshot.
pub const MAGIC: [u8; 4] = *b"SRST";

/// Fixed framing in front of the CBOR: [`MAGIC`], [`FORMAT`] (u32 LE), FNV-1a 64 (u64 LE) of
/// everything after it.
const FRAME: usize = 16;

/// The CBOR header after the framing, in front of the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub strategy: String,
    pub fingerprint: u64,
}

/// CBOR of `value`, bit-exact for `f64`.
pub fn to_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StateError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| StateError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes exactly one CBOR value filling all of `bytes`.
pub fn from_cbor<T: DeserializeOwned>(mut bytes: &[u8]) -> Result<T, StateError> {
    let v = ciborium::from_reader(&mut bytes).map_err(|e| StateError::Corrupt(e.to_string()))?;
    if !bytes.is_empty() {
        return Err(StateError::Corrupt(format!(
            "{} trailing bytes",
            bytes.len()
        )));
    }
    Ok(v)
}

/// A snapshot of `state` (a strategy named `name` with fingerprint `fp`): framing, header,
/// body.
pub fn encode<T: Serialize + ?Sized>(
    name: &str,
    fp: Fingerprint,
    state: &T,
) -> Result<Vec<u8>, StateError> {
    let header = Header {
        strategy: name.to_string(),
        fingerprint: fp.0,
    };
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    ciborium::into_writer(&header, &mut out).map_err(|e| StateError::Encode(e.to_string()))?;
    ciborium::into_writer(state, &mut out).map_err(|e| StateError::Encode(e.to_string()))?;
    let sum = fnv64(&out[FRAME..]);
    out[8..FRAME].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Checks the framing (magic, format, checksum) and reads the header; returns it and the
/// body.
pub fn split(bytes: &[u8]) -> Result<(Header, &[u8]), StateError> {
    if bytes.len() < FRAME {
        return Err(StateError::Corrupt(format!(
            "{} bytes is too short for a snapshot",
            bytes.len()
        )));
    }
    if bytes[..4] != MAGIC {
        return Err(StateError::Corrupt("not a strategy snapshot".into()));
    }
    let format = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(StateError::Format {
            found: format,
            expected: FORMAT,
        });
    }
    let sum = u64::from_le_bytes(bytes[8..FRAME].try_into().expect("8 bytes"));
    if fnv64(&bytes[FRAME..]) != sum {
        return Err(StateError::Corrupt(
            "checksum mismatch (truncated or altered)".into(),
        ));
    }
    let mut rest = &bytes[FRAME..];
    let header: Header =
        ciborium::from_reader(&mut rest).map_err(|e| StateError::Corrupt(e.to_string()))?;
    Ok((header, rest))
}

/// Restores `target` from a snapshot made by [`encode`]: `id` gives the (registry name,
/// fingerprint) of a strategy value; the snapshot's must equal the target's, in the header and
/// in the decoded body. On any error `target` is left untouched.
pub fn decode_into<T: DeserializeOwned>(
    target: &mut T,
    bytes: &[u8],
    id: impl Fn(&T) -> (&'static str, Fingerprint),
) -> Result<(), StateError> {
    let (name, fp) = id(target);
    let (header, body) = split(bytes)?;
    if header.strategy != name {
        return Err(StateError::WrongStrategy {
            found: header.strategy,
            expected: name.into(),
        });
    }
    if header.fingerprint != fp.0 {
        return Err(StateError::ParamsMismatch {
            strategy: name.into(),
            found: header.fingerprint,
            expected: fp.0,
        });
    }
    let decoded: T = from_cbor(body)?;
    let (dn, dfp) = id(&decoded);
    if dn != name || dfp != fp {
        return Err(StateError::Corrupt(format!(
            "body is of `{dn}` {:016x}, header of `{name}` {:016x}",
            dfp.0, fp.0
        )));
    }
    *target = decoded;
    Ok(())
}

/// `save_state` and `load_state` of a strategy struct with a field `fp: Fingerprint`; one
/// line in its `impl Strategy`.
#[macro_export]
macro_rules! persisted_state {
    () => {
        fn save_state(&self) -> Result<Vec<u8>, $crate::state::StateError> {
            $crate::state::encode($crate::Strategy::name(self), self.fp, self)
        }
        fn load_state(&mut self, bytes: &[u8]) -> Result<(), $crate::state::StateError> {
            $crate::state::decode_into(self, bytes, |s: &Self| ($crate::Strategy::name(s), s.fp))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_roundtrips_bit_exactly() {
        let vals = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001), // NaN with a payload
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),                      // smallest subnormal
            -f64::from_bits(0x000f_ffff_ffff_ffff), // largest subnormal, negative
            0.1 + 0.2,
            1.0,
            0.5,
            65504.0, // fits a half float
            1.0e-7,  // does not fit a half or a single float
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
        ];
        let bytes = to_cbor(&vals.to_vec()).unwrap();
        let back: Vec<f64> = from_cbor(&bytes).unwrap();
        assert_eq!(back.len(), vals.len());
        for (a, b) in vals.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a:e} came back as {b:e}");
        }
        // inside Options, tuples and boxed slices too (what indicators hold)
        let nested: (Option<f64>, Box<[(f64, f64)]>) = (
            Some(-0.0),
            vec![(f64::NAN, f64::NEG_INFINITY)].into_boxed_slice(),
        );
        let back: (Option<f64>, Box<[(f64, f64)]>) = from_cbor(&to_cbor(&nested).unwrap()).unwrap();
        assert_eq!(back.0.unwrap().to_bits(), (-0.0f64).to_bits());
        assert!(back.1[0].0.is_nan() && back.1[0].1 == f64::NEG_INFINITY);
    }

    #[test]
    fn header_checks() {
        let fp = Fingerprint(7);
        let bytes = encode("x", fp, &(1.5f64, 2u32)).unwrap();
        let mut t = (0.0f64, 0u32);
        let id = |_: &(f64, u32)| ("x", Fingerprint(7));
        decode_into(&mut t, &bytes, id).unwrap();
        assert_eq!(t, (1.5, 2));
        let e = decode_into(&mut t, &bytes, |_| ("y", fp)).unwrap_err();
        assert!(matches!(e, StateError::WrongStrategy { .. }), "{e}");
        let e = decode_into(&mut t, &bytes, |_| ("x", Fingerprint(8))).unwrap_err();
        assert!(matches!(e, StateError::ParamsMismatch { .. }), "{e}");
        for n in 0..bytes.len() {
            assert!(
                decode_into(&mut t, &bytes[..n], id).is_err(),
                "truncated at {n}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_into(&mut t, &long, id).is_err());
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            decode_into(&mut t, &flipped, id),
            Err(StateError::Corrupt(_))
        ));
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert_eq!(
            decode_into(&mut t, &v2, id),
            Err(StateError::Format {
                found: 2,
                expected: FORMAT
            })
        );
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(matches!(
            decode_into(&mut t, &magic, id),
            Err(StateError::Corrupt(_))
        ));
        assert_eq!(t, (1.5, 2), "untouched by refused snapshots");
    }

    #[test]
    fn fingerprint_depends_on_everything() {
        let p = |v: f64| Params([("a".to_string(), v)].into_iter().collect());
        let base = Fingerprint::of("s", &p(1.0), Timeframe::H1);
        assert_eq!(base, Fingerprint::of("s", &p(1.0), Timeframe::H1));
        assert_ne!(base, Fingerprint::of("t", &p(1.0), Timeframe::H1));
        assert_ne!(base, Fingerprint::of("s", &p(1.5), Timeframe::H1));
        assert_ne!(base, Fingerprint::of("s", &p(1.0), Timeframe::H4));
        assert_eq!(
            Fingerprint::of("s", &p(0.0), Timeframe::H1),
            Fingerprint::of("s", &p(-0.0), Timeframe::H1)
        );
    }
}
