//! The classic group protocol's model, after Kafka's `coordinator/group/classic/`: the states
//! (`state`), a member (`member`) and a group (`group`). Request handling is in
//! `group_metadata_manager`.

pub(crate) mod group;
pub mod member;
pub mod state;

pub use member::{MemberDescription, Protocol};
pub use state::GroupState;
