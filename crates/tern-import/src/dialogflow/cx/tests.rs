//! Dialogflow CX test cases as Tern conversation tests.

use std::collections::BTreeMap;

use crate::project::ImportError;

use super::build::Ctx;

pub fn convert(_ctx: &mut Ctx) -> Result<BTreeMap<String, String>, ImportError> {
    Ok(BTreeMap::new())
}
