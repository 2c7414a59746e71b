//! InitProducerId: producer ids and epochs for idempotent producers.

use super::blocking;
use crate::server::{Broker, RequestContext};
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;
use std::sync::Arc;

pub async fn init_producer_id(broker: &Arc<Broker>, _ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        // Transactions are not implemented yet: refuse clearly rather than half-work.
        tracing::warn!(transactional_id = ?req.transactional_id, "transactional producers are not supported yet");
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    // KIP-360: an idempotent producer may ask to bump its epoch (after a sequence error).
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return InitProducerIdResponse::default().with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch + 1);
    }
    let b = broker.clone();
    match blocking(move || b.producer_ids.next_id()).await {
        Ok(Ok(id)) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            InitProducerIdResponse::default().with_error_code(ResponseError::KafkaStorageError.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
        }
        Err(e) => InitProducerIdResponse::default().with_error_code(e.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
    }
}
