use super::*;
use proptest::prelude::*;

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[test]
fn the_dictionary_is_the_specs() {
    assert_eq!(DICTIONARY.len(), 1423);
    // The dictionary id every SPDY/3 header stream announces in its zlib header.
    assert_eq!(adler32(DICTIONARY), 0xe3c6_a7c2);
    assert!(DICTIONARY.ends_with(b",*,enq=0."));
}

fn owned(h: &[(&str, &str)]) -> Headers {
    h.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn syn_stream_frames_decode_to_their_headers_across_one_zlib_stream() {
    let mut enc = Encoder::new().unwrap();
    let mut dec = Decoder::new();
    let mut wire = Vec::new();
    let first = [
        ("streamtype", "error"),
        ("port", "8080"),
        ("requestid", "0"),
    ];
    let second = [("streamtype", "data"), ("port", "8080"), ("requestid", "0")];
    enc.syn_stream(1, &first, false, &mut wire).unwrap();
    enc.syn_stream(3, &second, true, &mut wire).unwrap();
    // The compressed stream starts with a zlib header announcing the dictionary.
    assert_eq!(wire[19] & 0x20, 0x20, "FDICT");
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        Some(Frame::SynStream {
            stream: 1,
            fin: false,
            headers: owned(&first)
        })
    );
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        Some(Frame::SynStream {
            stream: 3,
            fin: true,
            headers: owned(&second)
        })
    );
    assert_eq!(dec.decode(&mut buf).unwrap(), None);
}

#[test]
fn control_and_data_frames_round_trip() {
    let mut wire = Vec::new();
    data_header(&mut wire, 5, true, 3);
    wire.extend_from_slice(b"abc");
    rst_stream(&mut wire, 7, CANCEL);
    ping(&mut wire, 2);
    goaway(&mut wire, 9, 0);
    let mut buf = BytesMut::from(&wire[..]);
    let mut dec = Decoder::new();
    let mut got = Vec::new();
    while let Some(f) = dec.decode(&mut buf).unwrap() {
        got.push(f);
    }
    assert_eq!(
        got,
        [
            Frame::Data {
                stream: 5,
                fin: true,
                data: Bytes::from_static(b"abc")
            },
            Frame::RstStream {
                stream: 7,
                status: CANCEL
            },
            Frame::Ping { id: 2 },
            Frame::GoAway {
                last_good: 9,
                status: 0
            },
        ]
    );
}

#[test]
fn partial_frames_wait_for_the_rest() {
    let mut wire = Vec::new();
    data_header(&mut wire, 1, false, 10);
    wire.extend_from_slice(&[9u8; 10]);
    let mut dec = Decoder::new();
    let mut buf = BytesMut::new();
    for (i, b) in wire.iter().enumerate() {
        assert_eq!(dec.decode(&mut buf).unwrap(), None, "at {i}");
        buf.extend_from_slice(&[*b]);
    }
    assert!(matches!(
        dec.decode(&mut buf).unwrap(),
        Some(Frame::Data { stream: 1, .. })
    ));
}

#[test]
fn hostile_frames_are_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Length beyond the limit: refused before the bytes arrive.
        (vec![0, 0, 0, 1, 0, 0xff, 0xff, 0xff], "FrameTooLarge"),
        // SPDY/2 control frame.
        (
            vec![0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1],
            "UnsupportedVersion",
        ),
        // PING of 3 bytes.
        (vec![0x80, 3, 0, 6, 0, 0, 0, 3, 0, 0, 1], "Malformed"),
        // Data on stream 0.
        (vec![0, 0, 0, 0, 0, 0, 0, 0], "Malformed"),
        // SETTINGS claiming 2^32-1 entries in 4 bytes.
        (
            vec![0x80, 3, 0, 4, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff],
            "Malformed",
        ),
        // SYN_REPLY whose header block is not zlib.
        (
            vec![0x80, 3, 0, 2, 0, 0, 0, 8, 0, 0, 0, 1, 1, 2, 3, 4],
            "BadCompression",
        ),
    ];
    for (wire, want) in cases {
        let err = Decoder::new()
            .decode(&mut BytesMut::from(&wire[..]))
            .expect_err(want);
        assert!(format!("{err:?}").starts_with(want), "{err:?} for {want}");
    }
}

#[test]
fn unknown_control_frames_are_skipped() {
    let mut wire = vec![0x80, 3, 0, 0x42, 0, 0, 0, 2, 1, 2];
    ping(&mut wire, 4);
    let mut buf = BytesMut::from(&wire[..]);
    let mut dec = Decoder::new();
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        Some(Frame::Unknown { kind: 0x42 })
    );
    assert_eq!(dec.decode(&mut buf).unwrap(), Some(Frame::Ping { id: 4 }));
}

#[test]
fn a_zip_bomb_header_block_stops_at_the_limit() {
    // 1 MiB of zeros compresses to about 1 KiB with the same dictionary.
    let mut deflate = Compress::new(Compression::best(), true);
    deflate.set_dictionary(DICTIONARY).unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    let mut block = Vec::with_capacity(64 * 1024);
    deflate
        .compress_vec(&zeros, &mut block, FlushCompress::Sync)
        .unwrap();
    let mut wire = Vec::new();
    control_header(&mut wire, SYN_REPLY, 0, (4 + block.len()) as u32);
    wire.extend_from_slice(&1u32.to_be_bytes());
    wire.extend_from_slice(&block);
    let err = Decoder::new()
        .decode(&mut BytesMut::from(&wire[..]))
        .unwrap_err();
    assert!(
        matches!(err, SpdyError::HeaderBlockTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn header_blocks_reject_lying_lengths() {
    for (block, what) in [
        (vec![0, 0, 0], "count cut off"),
        (vec![0, 0, 0, 9, 0, 0, 0, 0], "more pairs than bytes"),
        (
            vec![0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
            "name longer than the block",
        ),
        (vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], "empty name"),
        (vec![0, 0, 0, 0, 1], "trailing bytes"),
    ] {
        assert!(parse_pairs(&block).is_err(), "{what}");
    }
}

fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-z][a-z0-9-]{0,20}", "[ -~]{0,40}"), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of header blocks survives compression over one shared zlib stream.
    #[test]
    fn header_blocks_round_trip(blocks in prop::collection::vec(header_strategy(), 1..6)) {
        let mut enc = Encoder::new().unwrap();
        let mut dec = Decoder::new();
        let mut wire = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let pairs: Vec<(&str, &str)> =
                block.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            enc.syn_stream(2 * i as u32 + 1, &pairs, false, &mut wire).unwrap();
        }
        let mut buf = BytesMut::from(&wire[..]);
        for (i, block) in blocks.iter().enumerate() {
            let frame = dec.decode(&mut buf).unwrap().unwrap();
            prop_assert_eq!(frame, Frame::SynStream {
                stream: 2 * i as u32 + 1,
                fin: false,
                headers: block.clone(),
            });
        }
    }

    /// Arbitrary bytes never panic the decoder; it either waits, decodes or errs, and
    /// consumes nothing it has not parsed.
    #[test]
    fn arbitrary_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        'outer: for chunk in chunks {
            buf.extend_from_slice(&chunk);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
    }

    /// Control frames with a valid header but a random body: errors, never panics.
    #[test]
    fn random_control_bodies_never_panic(kind in 0u16..12, flags in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..80)) {
        let mut wire = Vec::new();
        control_header(&mut wire, kind, flags, body.len() as u32);
        wire.extend_from_slice(&body);
        let mut buf = BytesMut::from(&wire[..]);
        let _ = Decoder::new().decode(&mut buf);
    }

    /// Header pair blocks: what encodes parses back; random bytes never panic.
    #[test]
    fn pair_blocks(block in header_strategy(), junk in prop::collection::vec(any::<u8>(), 0..64)) {
        let pairs: Vec<(&str, &str)> = block.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut raw = Vec::new();
        encode_pairs(&pairs, &mut raw);
        prop_assert_eq!(parse_pairs(&raw).unwrap(), block);
        let _ = parse_pairs(&junk);
    }
}
