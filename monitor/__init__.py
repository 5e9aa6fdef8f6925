"""The supervisor monitor (``motcua monitor``): a live Textual view of the center."""
