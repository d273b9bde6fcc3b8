"""Pure rules of the party engine: no I/O, no imports from the rest of the package."""
