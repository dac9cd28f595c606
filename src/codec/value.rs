//! [`Value`] for scalars and for the types whose protobuf and JSON forms differ:
//! `Time`/`MicroTime` (seconds + nanos), `Quantity`, `IntOrString`, the raw-JSON
//! carriers (`RawExtension`, `FieldsV1`, CRD `JSON`) and the CRD schema unions.
//! Each produces exactly what the JSON decoding of the apiserver's JSON gives.

use super::error::DecodeError;
use super::rt::{Reader, Value, WireType, merge_message};
use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    JSONSchemaPropsOrStringArray,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, MicroTime, Time};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

impl Value for String {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Go does not validate UTF-8 in protobuf strings; its JSON encoder replaces
        // invalid bytes with U+FFFD, and so do we.
        let bytes = r.bytes(wt)?;
        // `from_utf8` is the fast (vectorised) check; the lossy path only for bad bytes.
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        })
    }
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl Value for ByteString {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ByteString(r.bytes(wt)?.to_vec()))
    }
    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

macro_rules! varint_value {
    ($t:ty, $conv:expr) => {
        impl Value for $t {
            const PACKABLE: bool = true;
            fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let v = r.varint_field(wt)?;
                Ok($conv(v))
            }
            fn decode_repeated(
                wt: WireType,
                r: &mut Reader<'_>,
                out: &mut Vec<Self>,
            ) -> Result<(), DecodeError> {
                if wt == WireType::Len {
                    let mut packed = Reader::new(r.bytes(wt)?);
                    while !packed.is_empty() {
                        let v = packed.varint()?;
                        out.push($conv(v));
                    }
                    return Ok(());
                }
                out.push(Self::decode(wt, r)?);
                Ok(())
            }
            fn is_zero(&self) -> bool {
                *self == <$t>::default()
            }
        }
    };
}

// Two's complement truncation is protobuf's rule for int32 (negative values are
// sign-extended to 64 bits on the wire).
varint_value!(i32, |v: u64| v as i32);
varint_value!(i64, |v: u64| v as i64);
varint_value!(bool, |v: u64| v != 0);

impl Value for f64 {
    const PACKABLE: bool = true;
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(f64::from_bits(r.fixed64(wt)?))
    }
    fn decode_repeated(
        wt: WireType,
        r: &mut Reader<'_>,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        if wt == WireType::Len {
            let bytes = r.bytes(wt)?;
            if bytes.len() % 8 != 0 {
                return Err(DecodeError::Truncated);
            }
            out.extend(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes")))),
            );
            return Ok(());
        }
        out.push(Self::decode(wt, r)?);
        Ok(())
    }
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
}

/// The fields of a message read by hand: `f(tag, wire type, reader)`.
fn fields<'a>(
    wt: WireType,
    r: &mut Reader<'a>,
    mut f: impl FnMut(u32, WireType, &mut Reader<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    super::rt::inline(wt, r, &mut f)
}

const GO_ZERO_SECONDS: i64 = -62_135_596_800;

/// `seconds` + `nanos` (nanos truncated to `precision`) as a timestamp.
fn timestamp(
    wt: WireType,
    r: &mut Reader<'_>,
    precision: i32,
) -> Result<jiff::Timestamp, DecodeError> {
    // An empty message is Go's zero time; otherwise absent fields are 0.
    let (mut seconds, mut nanos, mut any) = (0i64, 0i32, false);
    fields(wt, r, |tag, wt, r| {
        any = true;
        match tag {
            1 => seconds.merge(wt, r),
            2 => nanos.merge(wt, r),
            _ => r.skip(wt),
        }
    })?;
    if !any {
        seconds = GO_ZERO_SECONDS;
    }
    let nanos = nanos - nanos.rem_euclid(precision);
    jiff::Timestamp::new(seconds, nanos).map_err(|_| DecodeError::InvalidTime { seconds })
}

impl Value for Time {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // metav1.Time drops nanoseconds when unmarshalling protobuf; JSON has seconds.
        Ok(Time(timestamp(wt, r, 1_000_000_000)?))
    }
    fn is_null(&self) -> bool {
        self.0.as_second() == GO_ZERO_SECONDS
    }
}

impl Value for MicroTime {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MicroTime(timestamp(wt, r, 1_000)?))
    }
    fn is_null(&self) -> bool {
        self.0.as_second() == GO_ZERO_SECONDS
    }
}

impl Value for Quantity {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut s = String::new();
        fields(wt, r, |tag, wt, r| match tag {
            1 => s.merge(wt, r),
            _ => r.skip(wt),
        })?;
        Ok(Quantity(s))
    }
}

impl Value for IntOrString {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (mut ty, mut int, mut string) = (0i64, 0i32, String::new());
        fields(wt, r, |tag, wt, r| match tag {
            1 => ty.merge(wt, r),
            2 => int.merge(wt, r),
            3 => string.merge(wt, r),
            _ => r.skip(wt),
        })?;
        Ok(if ty == 1 {
            IntOrString::String(string)
        } else {
            IntOrString::Int(int)
        })
    }
}

/// The `raw` bytes (field 1) of a raw-JSON carrier, parsed; empty is JSON `null`.
fn raw_json(wt: WireType, r: &mut Reader<'_>) -> Result<serde_json::Value, DecodeError> {
    let mut raw: &[u8] = &[];
    fields(wt, r, |tag, wt, r| {
        match tag {
            1 => raw = r.bytes(wt)?,
            _ => r.skip(wt)?,
        }
        Ok(())
    })?;
    if raw.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(raw).map_err(|source| DecodeError::EmbeddedJson { source })
}

impl Value for RawExtension {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RawExtension(raw_json(wt, r)?))
    }
    fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

impl Value for FieldsV1 {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FieldsV1(raw_json(wt, r)?))
    }
    fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

impl Value for JSON {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(JSON(raw_json(wt, r)?))
    }
    fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

/// A `JSONSchemaProps` field inside one of the schema unions.
fn schema(
    slot: &mut Option<JSONSchemaProps>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    let bytes = r.bytes(wt)?;
    let mut sub = r.sub(bytes)?;
    merge_message(slot.get_or_insert_with(JSONSchemaProps::default), &mut sub)
}

impl Value for JSONSchemaPropsOrArray {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (mut one, mut many) = (None, Vec::new());
        fields(wt, r, |tag, wt, r| match tag {
            1 => schema(&mut one, wt, r),
            2 => {
                let bytes = r.bytes(wt)?;
                let mut sub = r.sub(bytes)?;
                let mut s = JSONSchemaProps::default();
                merge_message(&mut s, &mut sub)?;
                many.push(s);
                Ok(())
            }
            _ => r.skip(wt),
        })?;
        // Go marshals the array when it is non-empty, else the schema (`null` if unset).
        Ok(match one {
            Some(s) if many.is_empty() => JSONSchemaPropsOrArray::Schema(Box::new(s)),
            _ => JSONSchemaPropsOrArray::Schemas(many),
        })
    }
    fn is_null(&self) -> bool {
        matches!(self, JSONSchemaPropsOrArray::Schemas(v) if v.is_empty())
    }
}

impl Value for JSONSchemaPropsOrBool {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (mut allows, mut one) = (false, None);
        fields(wt, r, |tag, wt, r| match tag {
            1 => allows.merge(wt, r),
            2 => schema(&mut one, wt, r),
            _ => r.skip(wt),
        })?;
        Ok(match one {
            Some(s) => JSONSchemaPropsOrBool::Schema(Box::new(s)),
            None => JSONSchemaPropsOrBool::Bool(allows),
        })
    }
}

impl Value for JSONSchemaPropsOrStringArray {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (mut one, mut strings) = (None, Vec::new());
        fields(wt, r, |tag, wt, r| match tag {
            1 => schema(&mut one, wt, r),
            2 => {
                strings.push(String::decode(wt, r)?);
                Ok(())
            }
            _ => r.skip(wt),
        })?;
        Ok(match one {
            Some(s) if strings.is_empty() => JSONSchemaPropsOrStringArray::Schema(Box::new(s)),
            _ => JSONSchemaPropsOrStringArray::Strings(strings),
        })
    }
    fn is_null(&self) -> bool {
        matches!(self, JSONSchemaPropsOrStringArray::Strings(v) if v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::rt::{self, Reader};

    /// `bytes` as the value of a length-delimited field.
    fn decode<T: Value>(bytes: &[u8]) -> Result<T, DecodeError> {
        let mut framed = vec![u8::try_from(bytes.len()).unwrap()];
        framed.extend_from_slice(bytes);
        T::decode(WireType::Len, &mut Reader::new(&framed))
    }

    #[test]
    fn times_keep_the_precision_of_their_json_form_and_empty_is_null() {
        // seconds 1700000000 (varint), nanos 123456789.
        let msg = [
            0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x95, 0x9a, 0xef, 0x3a,
        ];
        let t: Time = decode(&msg).unwrap();
        assert_eq!(t.0.to_string(), "2023-11-14T22:13:20Z");
        let m: MicroTime = decode(&msg).unwrap();
        assert_eq!(m.0.to_string(), "2023-11-14T22:13:20.123456Z");
        let zero: Time = decode(&[]).unwrap();
        assert!(zero.is_null());
        let mut field = None;
        rt::opt::<Time>(&mut field, WireType::Len, &mut Reader::new(&[0])).unwrap();
        assert_eq!(field, None, "an empty Time is JSON null");
        // Epoch written explicitly is a real time.
        let epoch: Time = decode(&[0x08, 0x00]).unwrap();
        assert!(!epoch.is_null());
    }

    #[test]
    fn repeated_fields_hold_no_spare_capacity() {
        // Field 1 three times back to back, then field 2, then field 1 again.
        let bytes = [
            0x0a, 0x01, b'a', 0x0a, 0x00, 0x0a, 0x00, 0x12, 0x00, 0x0a, 0x00,
        ];
        let (mut ones, mut twos) = (Vec::<String>::new(), Vec::<String>::new());
        let mut r = Reader::new(&bytes);
        while let Some((tag, wt)) = r.key().unwrap() {
            match tag {
                1 => rt::repeated(&mut ones, wt, &mut r).unwrap(),
                _ => rt::repeated(&mut twos, wt, &mut r).unwrap(),
            }
        }
        assert_eq!(ones, ["a", "", "", ""]);
        assert_eq!((twos.len(), twos.capacity()), (1, 1));
        // A run that is not back to back grows the usual way.
        assert!(ones.capacity() >= 4);
        let mut exact = Vec::<String>::new();
        let mut r = Reader::new(&bytes[..7]);
        while let Some((_, wt)) = r.key().unwrap() {
            rt::repeated(&mut exact, wt, &mut r).unwrap();
        }
        assert_eq!((exact.len(), exact.capacity()), (3, 3));
        // A hostile run of empty elements reserves a bounded amount ahead and still
        // decodes; a truncated tail is an error, not a panic.
        let many: Vec<u8> = [0x0a, 0x00].repeat(200_000);
        let mut v = Vec::<String>::new();
        let mut r = Reader::new(&many);
        while let Some((_, wt)) = r.key().unwrap() {
            rt::repeated(&mut v, wt, &mut r).unwrap();
        }
        assert_eq!(v.len(), 200_000);
        let mut r = Reader::new(&[0x0a, 0x00, 0x0a, 0x05]);
        let mut v = Vec::<String>::new();
        let (_, wt) = r.key().unwrap().unwrap();
        rt::repeated(&mut v, wt, &mut r).unwrap();
        let (_, wt) = r.key().unwrap().unwrap();
        assert!(rt::repeated(&mut v, wt, &mut r).is_err());
        // Packed scalars are unaffected.
        let mut ints = Vec::<i64>::new();
        rt::repeated(&mut ints, WireType::Len, &mut Reader::new(&[3, 1, 2, 3])).unwrap();
        assert_eq!(ints, [1, 2, 3]);
    }

    #[test]
    fn int_or_string_and_quantity() {
        let int: IntOrString = decode(&[0x08, 0x00, 0x10, 0x50]).unwrap();
        assert_eq!(int, IntOrString::Int(80));
        let s: IntOrString = decode(&[0x08, 0x01, 0x1a, 0x04, b'h', b't', b't', b'p']).unwrap();
        assert_eq!(s, IntOrString::String("http".into()));
        let q: Quantity = decode(&[0x0a, 0x04, b'5', b'0', b'0', b'm']).unwrap();
        assert_eq!(q, Quantity("500m".into()));
    }

    #[test]
    fn schema_unions_follow_go_marshalling() {
        let b: JSONSchemaPropsOrBool = decode(&[0x08, 0x01]).unwrap();
        assert_eq!(b, JSONSchemaPropsOrBool::Bool(true));
        let s: JSONSchemaPropsOrBool = decode(&[0x12, 0x00]).unwrap();
        assert!(matches!(s, JSONSchemaPropsOrBool::Schema(_)));
        let none: JSONSchemaPropsOrArray = decode(&[]).unwrap();
        assert!(none.is_null());
        let strings: JSONSchemaPropsOrStringArray =
            decode(&[0x0a, 0x00, 0x12, 0x01, b'a']).unwrap();
        assert_eq!(
            strings,
            JSONSchemaPropsOrStringArray::Strings(vec!["a".into()])
        );
    }

    #[test]
    fn scalars_wire_rules() {
        // Negative int32: sign-extended ten-byte varint.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(i32::decode(WireType::Varint, &mut r).unwrap(), -1);
        // Packed and unpacked repeated ints.
        let mut v = Vec::new();
        rt::repeated::<i64>(&mut v, WireType::Len, &mut Reader::new(&[2, 1, 2])).unwrap();
        rt::repeated::<i64>(&mut v, WireType::Varint, &mut Reader::new(&[3])).unwrap();
        assert_eq!(v, [1, 2, 3]);
        // Overlong varints and wrong wire types are errors.
        let mut r = Reader::new(&[0xff; 11]);
        assert!(matches!(r.varint(), Err(DecodeError::VarintOverflow)));
        let mut r = Reader::new(&[1]);
        assert!(matches!(
            String::decode(WireType::Varint, &mut r),
            Err(DecodeError::WireTypeMismatch)
        ));
        // Invalid UTF-8 becomes U+FFFD, as Go's JSON encoder writes it.
        let s: String = decode(&[b'a', 0xff]).unwrap();
        assert_eq!(s, "a\u{fffd}");
        // A zero scalar of an omitempty field stays absent.
        let mut f: Option<String> = None;
        rt::opt_omit_zero(&mut f, WireType::Len, &mut Reader::new(&[0])).unwrap();
        assert_eq!(f, None);
    }
}
