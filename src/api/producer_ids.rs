//! InitProducerId: producer ids and epochs for idempotent and transactional producers.

use super::blocking;
use crate::broker::Broker;
use crate::request::RequestContext;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;
use std::sync::Arc;

/// InitProducerId: a new producer id for an idempotent producer, or the transaction
/// coordinator's for a transactional one.
pub async fn init_producer_id(broker: &Arc<Broker>, _ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    if let Some(id) = req.transactional_id.as_ref().filter(|t| !t.is_empty()).map(|t| t.to_string()) {
        let b = broker.clone();
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        let res = blocking(move || b.txns.init_producer_id(&id, req.transaction_timeout_ms, expected, &b.producer_ids))
            .await
            .and_then(|r| r);
        return match res {
            Ok((pid, epoch)) => InitProducerIdResponse::default().with_producer_id(ProducerId(pid)).with_producer_epoch(epoch),
            Err(e) => InitProducerIdResponse::default().with_error_code(e.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
        };
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
