//! Hand-encoded protobuf for the codec's tests.

/// A length-delimited field (`tag`, wire type 2) holding `bytes`.
pub(crate) fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push(0x80 | (len & 0x7f) as u8);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
    out
}
