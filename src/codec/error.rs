//! Errors of the protobuf codec.

/// What was wrong with protobuf bytes at the wire level.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end inside a field.
    #[error("the message ends inside a field")]
    Truncated,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("a varint overflows 64 bits")]
    VarintOverflow,
    /// A field key has tag 0 or a tag beyond 32 bits.
    #[error("a field key has an invalid tag")]
    BadTag,
    /// A field uses the deprecated group wire types (3, 4) or an undefined one (6, 7).
    #[error("field {tag} uses the unsupported wire type {wire_type}")]
    UnsupportedWireType {
        /// The field number.
        tag: u32,
        /// The wire type.
        wire_type: u8,
    },
    /// A known field arrived with a wire type its type cannot have.
    #[error("a field has the wrong wire type for its type")]
    WireTypeMismatch,
    /// Embedded messages nest deeper than the limit.
    #[error("embedded messages nest deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: u32,
    },
    /// A `Time` or `MicroTime` is outside the representable range.
    #[error("a timestamp of {seconds} seconds is out of range")]
    InvalidTime {
        /// The seconds since the Unix epoch.
        seconds: i64,
    },
    /// The raw JSON of a `RawExtension`, `FieldsV1` or CRD `JSON` field is not JSON.
    #[error("an embedded raw JSON value is not valid JSON")]
    EmbeddedJson {
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// A protobuf body (`application/vnd.kubernetes.protobuf`) could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic of Kubernetes' protobuf envelope.
    #[error("the body does not start with the Kubernetes protobuf magic `k8s\\0`")]
    NotProtobuf,
    /// The envelope (`runtime.Unknown`) itself is malformed.
    #[error("the protobuf envelope is malformed")]
    Envelope {
        /// The wire-level error.
        #[source]
        source: DecodeError,
    },
    /// The envelope announces a content encoding this decoder does not implement.
    #[error("the protobuf envelope has the unsupported content encoding {encoding:?}")]
    ContentEncoding {
        /// The `contentEncoding` of the envelope.
        encoding: String,
    },
    /// The envelope holds a different kind than the caller asked for (e.g. a `Status`).
    #[error("expected a {expected} but the protobuf envelope holds {api_version}/{kind}")]
    UnexpectedKind {
        /// What was asked for.
        expected: &'static str,
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
    /// No protobuf decoder exists for this Rust type (custom resources, `DynamicObject`).
    #[error("no protobuf decoder for {type_name}")]
    Unsupported {
        /// The Rust type.
        type_name: &'static str,
    },
    /// The object inside the envelope did not decode.
    #[error("decoding {type_name} ({kind}) from protobuf failed")]
    Message {
        /// The Rust type.
        type_name: &'static str,
        /// The envelope's kind.
        kind: String,
        /// The wire-level error.
        #[source]
        source: DecodeError,
    },
    /// The body ended inside a watch frame.
    #[error("the watch stream ended inside a frame")]
    TruncatedFrame,
    /// A watch event has a type other than ADDED, MODIFIED, DELETED, BOOKMARK, ERROR.
    #[error("a watch event has the unknown type {event_type:?}")]
    EventType {
        /// The event's `type`.
        event_type: String,
    },
}
