//! `fermyon:spin/variables@2.0.0`: a component reads only its own variables.

use crate::bindings::fermyon::spin2_0_0::variables::{self as v, Error};
use std::collections::BTreeMap;

use wasmtime::component::HasData;

use crate::app::variables::VariableError;

/// What the variables interface sees of a request: the component's id and resolved variables.
pub struct VariablesView<'a> {
    pub component: &'a str,
    pub variables: &'a BTreeMap<String, Result<String, VariableError>>,
}

/// The linker's marker for [`VariablesView`].
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = VariablesView<'a>;
}

impl v::Host for VariablesView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if crate::app::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(Error::InvalidName(name)));
        }
        Ok(match self.variables.get(&name) {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(VariableError::Undefined(why))) => Err(Error::Undefined(why.clone())),
            None => Err(Error::Undefined(format!(
                "no variable `{name}` in component `{}`",
                self.component
            ))),
        })
    }
}
