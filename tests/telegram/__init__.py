"""The Telegram front end, tested end to end against a fake Bot API server on 127.0.0.1."""
