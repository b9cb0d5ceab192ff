"""The staff console: a small aiohttp web app that edits the very same answer files as the bot.

Staff review and translate answers, preview them as Telegram shows them, see what the bot missed
and teach it, and read usage figures. Pages are server-rendered (Jinja2); no script is needed.
"""
