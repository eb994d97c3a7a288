"""HTTP routes: parse, hand to the application layer, respond."""
