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
        Ok(String::from_utf8_lossy(r.bytes(wt)?).into_owned())
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
