"""Click commands, one module per noun; each parses, calls one core function and prints."""
