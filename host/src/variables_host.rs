//! `fermyon:spin/variables@2.0.0`: a component reads only its own variables.

use crate::bindings::fermyon::spin2_0_0::variables::{self as v, Error};
use crate::state::HostState;
use crate::variables::VariableError;

impl v::Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(Error::InvalidName(name)));
        }
        Ok(match self.component.variables.get(&name) {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(VariableError::Undefined(why))) => Err(Error::Undefined(why.clone())),
            None => Err(Error::Undefined(format!(
                "no variable `{name}` in component `{}`",
                self.component.id
            ))),
        })
    }
}
