"""Telegram update handlers, split by concern; ``bot.telegram_app`` registers them in order."""
