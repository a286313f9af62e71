//! Case categories as data: the three classes and the 综治 taxonomy below them.
