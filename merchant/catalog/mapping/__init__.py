"""Pure mappers: one module per feed format, source row <-> VariantRecord."""
