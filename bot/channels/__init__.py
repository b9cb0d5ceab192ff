"""Channels: each turns its input into (user state, text or button) for the core and renders the replies."""
