"""A logging filter that keeps secrets and what users wrote out of every log line, at every level.

python-telegram-bot logs whole requests and updates at DEBUG (the bot token is in every Bot API
URL; updates carry the users' texts and names), and any library may log an exception holding
either. ``install_log_masking`` puts ``MaskingFilter`` on every handler of the root logger, so it
sees each record that reaches a log file or the console, whichever logger produced it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

MASK: Final = "[hidden]"
# Any Telegram bot token (bot id, colon, 35 characters), also when it is not the configured one.
_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# What people wrote or are called, as Python reprs and JSON show them: 'text': '…', text='…', "text": "…".
_PRIVATE_FIELDS = "text|caption|first_name|last_name|username|data|query|title|bio|phone_number|message_text"
_PRIVATE_VALUE = re.compile(
    r"""(?P<key>['"]?\b(?:""" + _PRIVATE_FIELDS + r""")\b['"]?\s*[:=]\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
)


class MaskingFilter(logging.Filter):
    """Replaces secrets and user-written fields in a record's final message with ``[hidden]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        masked = self.mask(message)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Formatters reuse a record's exc_text when set: build the traceback now, masked.
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True

    def mask(self, text: str) -> str:
        """``text`` without secrets or user-written fields."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _TOKEN.sub(MASK, text)
        return _PRIVATE_VALUE.sub(lambda match: match.group("key") + repr(MASK), text)


def install_log_masking(secrets: Iterable[str] = ()) -> MaskingFilter:
    """Put one ``MaskingFilter`` on every handler of the root logger (call after logging is set up)."""
    masking = MaskingFilter(secrets)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, MaskingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(masking)
    return masking
