//! Store adapters: one per backend behind `saluran_domain::store::Store`.
//! (Being written: see the store helper's task.)
