//! ApiKey -> handler. The ApiVersions table is generated from the same list that routes
//! requests, so the broker advertises exactly what it handles.

use crate::api;
use crate::broker::Broker;
use crate::request::response::{self, Frame};
use crate::request::{Answer, Client, RequestContext, Spliced};
use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Message};
use kafka_protocol::ResponseError;
use std::sync::Arc;

/// What the connection does after a request (now, or once a later answer is ready).
pub enum Outcome {
    /// Send this response.
    Respond(Frame),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Log the reason and close the connection, as Kafka does for requests it cannot parse.
    Close(String),
    /// Send this response, then close for the reason (a failed SASL authentication).
    RespondAndClose(Frame, String),
}

macro_rules! apis {
    ($( $key:ident: $req:ty => $handler:path, advertise_from $min:expr, silent_if $silent:expr; )*) => {
        /// (api key, min version, max version) for every API this broker handles.
        pub fn supported_apis() -> Vec<(ApiKey, i16, i16)> {
            vec![$( (ApiKey::$key, $min, <$req as Message>::VERSIONS.max) ),*]
        }

        async fn route(broker: &Arc<Broker>, key: ApiKey, ctx: RequestContext, body: &mut Bytes) -> Answer<Outcome> {
            let version = ctx.header.request_api_version;
            match key {
                $(ApiKey::$key => {
                    let range = <$req as Message>::VERSIONS;
                    if version < range.min || version > range.max {
                        return close(format!("{key:?} v{version} is not supported (supported: v{}-v{})", range.min, range.max));
                    }
                    let req = match <$req as Decodable>::decode(body, version) {
                        Ok(r) => r,
                        Err(e) => return close(format!("malformed {key:?} v{version} request: {e}")),
                    };
                    let silent: fn(&$req) -> bool = $silent;
                    let no_response = silent(&req);
                    let resp = $handler(broker, &ctx, req).await;
                    if no_response {
                        return Answer::Now(Outcome::NoResponse);
                    }
                    resp.into_answer(&ctx.header, key)
                })*
                _ => close(format!("API {key:?} is not supported")),
            }
        }
    };
}

apis! {
    Produce: ProduceRequest => api::produce::handle, advertise_from 0, silent_if |r| r.acks == 0;
    Fetch: FetchRequest => api::fetch::handle, advertise_from 4, silent_if |_| false;
    ListOffsets: ListOffsetsRequest => api::offsets::list_offsets, advertise_from 1, silent_if |_| false;
    Metadata: MetadataRequest => api::metadata::handle, advertise_from 0, silent_if |_| false;
    ApiVersions: ApiVersionsRequest => api_versions, advertise_from 0, silent_if |_| false;
    CreateTopics: CreateTopicsRequest => api::admin::create_topics, advertise_from 2, silent_if |_| false;
    DeleteTopics: DeleteTopicsRequest => api::admin::delete_topics, advertise_from 1, silent_if |_| false;
    OffsetForLeaderEpoch: OffsetForLeaderEpochRequest => api::offsets::offset_for_leader_epoch, advertise_from 2, silent_if |_| false;
    FindCoordinator: FindCoordinatorRequest => api::groups::find_coordinator, advertise_from 0, silent_if |_| false;
    JoinGroup: JoinGroupRequest => api::groups::join_group, advertise_from 0, silent_if |_| false;
    SyncGroup: SyncGroupRequest => api::groups::sync_group, advertise_from 0, silent_if |_| false;
    Heartbeat: HeartbeatRequest => api::groups::heartbeat, advertise_from 0, silent_if |_| false;
    LeaveGroup: LeaveGroupRequest => api::groups::leave_group, advertise_from 0, silent_if |_| false;
    OffsetCommit: OffsetCommitRequest => api::groups::offset_commit, advertise_from 2, silent_if |_| false;
    OffsetFetch: OffsetFetchRequest => api::groups::offset_fetch, advertise_from 1, silent_if |_| false;
    DescribeGroups: DescribeGroupsRequest => api::groups::describe_groups, advertise_from 0, silent_if |_| false;
    ListGroups: ListGroupsRequest => api::groups::list_groups, advertise_from 0, silent_if |_| false;
    DeleteGroups: DeleteGroupsRequest => api::groups::delete_groups, advertise_from 0, silent_if |_| false;
    OffsetDelete: OffsetDeleteRequest => api::groups::offset_delete, advertise_from 0, silent_if |_| false;
    InitProducerId: InitProducerIdRequest => api::producer_ids::init_producer_id, advertise_from 0, silent_if |_| false;
    AddPartitionsToTxn: AddPartitionsToTxnRequest => api::txn::add_partitions_to_txn, advertise_from 0, silent_if |_| false;
    AddOffsetsToTxn: AddOffsetsToTxnRequest => api::txn::add_offsets_to_txn, advertise_from 0, silent_if |_| false;
    TxnOffsetCommit: TxnOffsetCommitRequest => api::txn::txn_offset_commit, advertise_from 0, silent_if |_| false;
    EndTxn: EndTxnRequest => api::txn::end_txn, advertise_from 0, silent_if |_| false;
    DescribeProducers: DescribeProducersRequest => api::txn::describe_producers, advertise_from 0, silent_if |_| false;
    ListTransactions: ListTransactionsRequest => api::txn::list_transactions, advertise_from 0, silent_if |_| false;
    DescribeTransactions: DescribeTransactionsRequest => api::txn::describe_transactions, advertise_from 0, silent_if |_| false;
    DescribeConfigs: DescribeConfigsRequest => api::configs::describe_configs, advertise_from 1, silent_if |_| false;
    AlterConfigs: AlterConfigsRequest => api::configs::alter_configs, advertise_from 0, silent_if |_| false;
    IncrementalAlterConfigs: IncrementalAlterConfigsRequest => api::configs::incremental_alter_configs, advertise_from 0, silent_if |_| false;
    CreatePartitions: CreatePartitionsRequest => api::admin::create_partitions, advertise_from 0, silent_if |_| false;
    DeleteRecords: DeleteRecordsRequest => api::admin::delete_records, advertise_from 0, silent_if |_| false;
    DescribeCluster: DescribeClusterRequest => api::admin::describe_cluster, advertise_from 0, silent_if |_| false;
    DescribeLogDirs: DescribeLogDirsRequest => api::admin::describe_log_dirs, advertise_from 1, silent_if |_| false;
    DescribeUserScramCredentials: DescribeUserScramCredentialsRequest => api::scram::describe, advertise_from 0, silent_if |_| false;
    AlterUserScramCredentials: AlterUserScramCredentialsRequest => api::scram::alter, advertise_from 0, silent_if |_| false;
    SaslHandshake: SaslHandshakeRequest => sasl_handshake, advertise_from 0, silent_if |_| false;
    SaslAuthenticate: SaslAuthenticateRequest => sasl_authenticate, advertise_from 0, silent_if |_| false;
}

/// SaslHandshake that reaches the handlers: on a listener without SASL, or after authentication
/// without a session to renew. Kafka's KafkaApis answers ILLEGAL_SASL_STATE.
async fn sasl_handshake(_broker: &Arc<Broker>, _ctx: &RequestContext, _req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}

/// SaslAuthenticate outside an exchange: ILLEGAL_SASL_STATE, as Kafka's KafkaApis answers it.
async fn sasl_authenticate(_broker: &Arc<Broker>, _ctx: &RequestContext, _req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    let message = "SaslAuthenticate request received after successful authentication";
    SaslAuthenticateResponse::default().with_error_code(ResponseError::IllegalSaslState.code()).with_error_message(Some(message.into()))
}

/// Decodes one frame (header + body), runs its handler and encodes the response.
pub async fn handle(broker: &Arc<Broker>, client: &Client, mut frame: Bytes) -> Answer<Outcome> {
    if frame.len() < 8 {
        return close(format!("request of {} bytes is too short for a header", frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        return close(format!("unknown API key {raw_key}"));
    };
    if key == ApiKey::ApiVersions && version > ApiVersionsRequest::VERSIONS.max {
        // KIP-511: answer a too-new ApiVersions at v0 with UNSUPPORTED_VERSION so the client can downgrade.
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let header = RequestHeader::default().with_request_api_key(raw_key).with_request_api_version(0).with_correlation_id(correlation_id);
        let range = ApiVersionsRequest::VERSIONS;
        let resp = ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(vec![ApiVersion::default().with_api_key(raw_key).with_min_version(range.min).with_max_version(range.max)]);
        return resp.into_answer(&header, key);
    }
    let header = match RequestHeader::decode(&mut frame, key.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return close(format!("malformed {key:?} request header: {e}")),
    };
    route(broker, key, RequestContext { header, client: client.clone() }, &mut frame).await
}

/// ApiVersions: the table comes from `supported_apis`, nothing hand-maintained.
async fn api_versions(_broker: &Arc<Broker>, _ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let api_keys = supported_apis()
        .into_iter()
        .map(|(k, min, max)| ApiVersion::default().with_api_key(k as i16).with_min_version(min).with_max_version(max))
        .collect();
    ApiVersionsResponse::default().with_api_keys(api_keys)
}

/// Closes the connection, logging `why`.
fn close(why: String) -> Answer<Outcome> {
    Answer::Now(Outcome::Close(why))
}

/// What a handler returns: a response, one with file ranges to splice in (Fetch), or either of
/// them later.
trait IntoAnswer {
    fn into_answer(self, header: &RequestHeader, key: ApiKey) -> Answer<Outcome>;
}

impl<R: Encodable> IntoAnswer for R {
    fn into_answer(self, header: &RequestHeader, key: ApiKey) -> Answer<Outcome> {
        Answer::Now(encoded(header, key, response::encode(header, key, &self, Vec::new())))
    }
}

impl<R: Encodable> IntoAnswer for Spliced<R> {
    fn into_answer(self, header: &RequestHeader, key: ApiKey) -> Answer<Outcome> {
        Answer::Now(encoded(header, key, response::encode(header, key, &self.response, self.slices)))
    }
}

impl<R: Encodable + Send + 'static> IntoAnswer for Answer<R> {
    fn into_answer(self, header: &RequestHeader, key: ApiKey) -> Answer<Outcome> {
        let header = header.clone();
        self.map(move |r| encoded(&header, key, response::encode(&header, key, &r, Vec::new())))
    }
}

fn encoded(header: &RequestHeader, key: ApiKey, frame: Result<Frame, response::EncodeError>) -> Outcome {
    match frame {
        Ok(f) => Outcome::Respond(f),
        Err(e) => {
            // A response we cannot encode is a bug in a handler; the client must not hang on it.
            let version = header.request_api_version;
            tracing::error!(api = ?key, version, error = %e, "cannot encode response");
            Outcome::Close(format!("internal error encoding {key:?} v{version} response"))
        }
    }
}
