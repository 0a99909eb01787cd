"""Pure business rules of the friendship score: standard library only, no I/O."""
