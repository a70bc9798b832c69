//! The etcd v3 API messages the store sends and reads, written by hand with prost's derive.
//!
//! Why by hand: generating them from etcd's `.proto` files needs `protoc` at build time, and irsa
//! builds with nothing but cargo. The field numbers and wire types are etcd's
//! (`api/etcdserverpb/rpc.proto` and `api/mvccpb/kv.proto`); each message keeps only the fields
//! the store uses. That is safe both ways on the wire: a field left out of a request is sent as
//! its default, which is what etcd assumes for a field it does not receive, and a field left out
//! of a response is an unknown field, which prost skips when decoding. The byte-level tests below
//! pin the tags against hand-encoded protobuf.

/// `etcdserverpb.ResponseHeader`: the member that answered (to find the leader among the
/// endpoints) and the store revision when the request ran.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ResponseHeader {
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
    #[prost(int64, tag = "3")]
    pub revision: i64,
}

/// `mvccpb.KeyValue`: a key, its value, and the revision that last modified it.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
}

/// `etcdserverpb.RangeRequest`: the keys in `[key, range_end)`, at most `limit` of them (0: no
/// limit), or only their count.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub limit: i64,
    #[prost(bool, tag = "9")]
    pub count_only: bool,
}

/// `etcdserverpb.RangeResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RangeResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
    #[prost(bool, tag = "3")]
    pub more: bool,
    #[prost(int64, tag = "4")]
    pub count: i64,
}

/// `etcdserverpb.PutRequest`, as an operation of a transaction.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `etcdserverpb.DeleteRangeRequest`, as an operation of a transaction; an empty `range_end`
/// deletes the one key.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DeleteRangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
}

/// `etcdserverpb.RequestOp`: one operation of a transaction's branch.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RequestOp {
    #[prost(oneof = "Request", tags = "2, 3")]
    pub request: Option<Request>,
}

/// `RequestOp.request`, without the range and nested-transaction cases the store never sends.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Request {
    #[prost(message, tag = "2")]
    Put(PutRequest),
    #[prost(message, tag = "3")]
    DeleteRange(DeleteRangeRequest),
}

/// `etcdserverpb.Compare.CompareResult`: how the key's target compares to the given value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum CompareResult {
    Equal = 0,
    Greater = 1,
    Less = 2,
}

/// `etcdserverpb.Compare.CompareTarget`: which property of the key is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum CompareTarget {
    Version = 0,
    Mod = 2,
}

/// `etcdserverpb.Compare`: one condition of a transaction. The `target` must agree with the
/// `target_union` case (`Version` with `Version`, `Mod` with `ModRevision`).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Compare {
    #[prost(enumeration = "CompareResult", tag = "1")]
    pub result: i32,
    #[prost(enumeration = "CompareTarget", tag = "2")]
    pub target: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    #[prost(oneof = "TargetUnion", tags = "4, 6")]
    pub target_union: Option<TargetUnion>,
}

/// `Compare.target_union`, the value compared against: a key's version (0 when absent) or its
/// mod revision.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum TargetUnion {
    #[prost(int64, tag = "4")]
    Version(i64),
    #[prost(int64, tag = "6")]
    ModRevision(i64),
}

/// `etcdserverpb.TxnRequest`: if every compare holds, run `success`, else `failure`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

/// `etcdserverpb.TxnResponse`. The per-operation `responses` (field 3) are left out: the store
/// sends only puts and deletes and never reads their results.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TxnResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
}

/// `etcdserverpb.WatchRequest`: the one message a watch stream carries from the client.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WatchRequest {
    #[prost(oneof = "WatchRequestUnion", tags = "1")]
    pub request_union: Option<WatchRequestUnion>,
}

/// `WatchRequest.request_union`. Only creation: the store opens one watcher per stream and ends
/// it by dropping the stream, so it never sends a cancel or progress request.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum WatchRequestUnion {
    #[prost(message, tag = "1")]
    Create(WatchCreateRequest),
}

/// `etcdserverpb.WatchCreateRequest`: watch `[key, range_end)` from `start_revision` (0: from the
/// next revision). A watch resumed on another member starts after the last revision it saw.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WatchCreateRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub start_revision: i64,
}

/// `etcdserverpb.StatusRequest` (Maintenance service): no fields.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StatusRequest {}

/// `etcdserverpb.StatusResponse`: only who answered (`header.member_id`) and whom it follows.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StatusResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// The member id the answering member believes is the leader (0: none).
    #[prost(uint64, tag = "4")]
    pub leader: u64,
}

/// `etcdserverpb.WatchResponse`: the creation or cancellation of a watcher, or a batch of events.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WatchResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(int64, tag = "2")]
    pub watch_id: i64,
    #[prost(bool, tag = "3")]
    pub created: bool,
    #[prost(bool, tag = "4")]
    pub canceled: bool,
    /// Set with `canceled` when the watcher's revision was compacted away: events were lost.
    #[prost(int64, tag = "5")]
    pub compact_revision: i64,
    #[prost(string, tag = "6")]
    pub cancel_reason: String,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
}

/// `mvccpb.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum EventType {
    Put = 0,
    Delete = 1,
}

/// `mvccpb.Event`: a put (the key's new value) or a delete (the key, with the deletion's
/// revision as its mod revision).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Event {
    /// `type` in kv.proto.
    #[prost(enumeration = "EventType", tag = "1")]
    pub kind: i32,
    #[prost(message, optional, tag = "2")]
    pub kv: Option<KeyValue>,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// A field's key byte: field number and wire type (0 varint, 2 length-delimited).
    const fn tag(field: u8, wire: u8) -> u8 {
        (field << 3) | wire
    }

    #[test]
    fn range_request_encodes_to_the_protobuf_bytes() {
        let req = RangeRequest {
            key: b"irsa/".to_vec(),
            range_end: b"irsa0".to_vec(),
            limit: 300,
            count_only: true,
        };
        let mut want = vec![tag(1, 2), 5];
        want.extend_from_slice(b"irsa/");
        want.extend_from_slice(&[tag(2, 2), 5]);
        want.extend_from_slice(b"irsa0");
        // 300 as a varint: 0b1_0010_1100 -> 0xac 0x02.
        want.extend_from_slice(&[tag(3, 0), 0xac, 0x02, tag(9, 0), 1]);
        assert_eq!(req.encode_to_vec(), want);
        // Defaults are not sent: a plain get of one key is just the key.
        let get = RangeRequest {
            key: b"k".to_vec(),
            ..RangeRequest::default()
        };
        assert_eq!(get.encode_to_vec(), [tag(1, 2), 1, b'k']);
    }

    #[test]
    fn txn_request_encodes_to_the_protobuf_bytes() {
        let req = TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Equal as i32,
                target: CompareTarget::Mod as i32,
                key: b"k".to_vec(),
                target_union: Some(TargetUnion::ModRevision(7)),
            }],
            success: vec![
                RequestOp {
                    request: Some(Request::Put(PutRequest {
                        key: b"k".to_vec(),
                        value: b"v".to_vec(),
                    })),
                },
                RequestOp {
                    request: Some(Request::DeleteRange(DeleteRangeRequest {
                        key: b"d".to_vec(),
                        range_end: Vec::new(),
                    })),
                },
            ],
            failure: Vec::new(),
        };
        let compare = [tag(2, 0), 2, tag(3, 2), 1, b'k', tag(6, 0), 7];
        let put = [tag(1, 2), 1, b'k', tag(2, 2), 1, b'v'];
        let delete = [tag(1, 2), 1, b'd'];
        let mut want = vec![tag(1, 2), compare.len() as u8];
        want.extend_from_slice(&compare);
        want.extend_from_slice(&[tag(2, 2), put.len() as u8 + 2, tag(2, 2), put.len() as u8]);
        want.extend_from_slice(&put);
        want.extend_from_slice(&[tag(2, 2), delete.len() as u8 + 2, tag(3, 2), delete.len() as u8]);
        want.extend_from_slice(&delete);
        assert_eq!(req.encode_to_vec(), want);
    }

    #[test]
    fn a_oneof_value_of_zero_is_still_sent() {
        // "version == 0" (the key is absent) must reach etcd as an explicit version case.
        let absent = Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Version as i32,
            key: b"k".to_vec(),
            target_union: Some(TargetUnion::Version(0)),
        };
        assert_eq!(absent.encode_to_vec(), [tag(3, 2), 1, b'k', tag(4, 0), 0]);
    }

    #[test]
    fn watch_request_encodes_to_the_protobuf_bytes() {
        let req = WatchRequest {
            request_union: Some(WatchRequestUnion::Create(WatchCreateRequest {
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
                start_revision: 0,
            })),
        };
        assert_eq!(
            req.encode_to_vec(),
            [tag(1, 2), 6, tag(1, 2), 1, b'a', tag(2, 2), 1, b'b']
        );
        let resumed = WatchCreateRequest {
            key: b"a".to_vec(),
            range_end: Vec::new(),
            start_revision: 5,
        };
        assert_eq!(resumed.encode_to_vec(), [tag(1, 2), 1, b'a', tag(3, 0), 5]);
    }

    #[test]
    fn status_response_decodes_from_the_protobuf_bytes() {
        // header {cluster_id: 9, member_id: 7, revision: 3, raft_term: 2}, version "3.4.23",
        // dbSize 16, leader 7, raftIndex 11: the member answering is the leader.
        let mut bytes = vec![tag(1, 2), 8, tag(1, 0), 9, tag(2, 0), 7, tag(3, 0), 3, tag(4, 0), 2];
        bytes.extend_from_slice(&[tag(2, 2), 6]);
        bytes.extend_from_slice(b"3.4.23");
        bytes.extend_from_slice(&[tag(3, 0), 16, tag(4, 0), 7, tag(5, 0), 11]);
        let resp = StatusResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            resp.header,
            Some(ResponseHeader {
                member_id: 7,
                revision: 3
            })
        );
        assert_eq!(resp.leader, 7);
    }

    #[test]
    fn watch_response_decodes_from_the_protobuf_bytes() {
        // header {cluster_id: 9, revision: 5}, watch_id 1, an unknown field 7 (fragment), and one
        // delete event of key "k" at revision 5, with create_revision 2 (unknown to us).
        let kv = [tag(1, 2), 1, b'k', tag(2, 0), 2, tag(3, 0), 5];
        let event = {
            let mut e = vec![tag(1, 0), 1, tag(2, 2), kv.len() as u8];
            e.extend_from_slice(&kv);
            e
        };
        let mut bytes = vec![tag(1, 2), 4, tag(1, 0), 9, tag(3, 0), 5];
        bytes.extend_from_slice(&[tag(2, 0), 1, tag(7, 0), 1, tag(11, 2), event.len() as u8]);
        bytes.extend_from_slice(&event);
        let resp = WatchResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            resp.header,
            Some(ResponseHeader {
                member_id: 0,
                revision: 5
            })
        );
        assert_eq!(resp.watch_id, 1);
        assert!(!resp.created && !resp.canceled);
        assert_eq!(resp.events.len(), 1);
        assert_eq!(resp.events[0].kind(), EventType::Delete);
        let kv = resp.events[0].kv.as_ref().unwrap();
        assert_eq!(
            (kv.key.as_slice(), kv.mod_revision, kv.value.as_slice()),
            (&b"k"[..], 5, &b""[..])
        );
    }

    #[test]
    fn cancellation_decodes() {
        let mut bytes = vec![tag(4, 0), 1, tag(5, 0), 3, tag(6, 2), 9];
        bytes.extend_from_slice(b"compacted");
        let resp = WatchResponse::decode(bytes.as_slice()).unwrap();
        assert!(resp.canceled);
        assert_eq!(resp.compact_revision, 3);
        assert_eq!(resp.cancel_reason, "compacted");
    }

    #[test]
    fn range_response_round_trips() {
        let resp = RangeResponse {
            header: Some(ResponseHeader {
                member_id: 0,
                revision: 42,
            }),
            kvs: vec![
                KeyValue {
                    key: b"irsa/a".to_vec(),
                    mod_revision: 3,
                    value: vec![0, 0xff, 1],
                },
                KeyValue {
                    key: b"irsa/b".to_vec(),
                    mod_revision: i64::MAX,
                    value: Vec::new(),
                },
            ],
            more: true,
            count: 2,
        };
        let decoded = RangeResponse::decode(resp.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, resp);
        let txn = TxnResponse {
            header: Some(ResponseHeader {
                member_id: 0,
                revision: 7,
            }),
            succeeded: true,
        };
        assert_eq!(TxnResponse::decode(txn.encode_to_vec().as_slice()).unwrap(), txn);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        // A length that runs past the end, and a truncated varint.
        assert!(RangeResponse::decode(&[tag(2, 2), 50, 1][..]).is_err());
        assert!(WatchResponse::decode(&[tag(2, 0), 0xff][..]).is_err());
    }
}
