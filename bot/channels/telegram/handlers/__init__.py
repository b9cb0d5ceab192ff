"""Telegram update handlers, split by concern; ``bot.channels.telegram.app`` registers them in order."""
