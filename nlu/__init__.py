"""Intent understanding: Rasa-format training data, the embedded classifier, a Rasa client."""
