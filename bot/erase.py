"""'Delete this chat': for a person at risk at home, the conversation on her phone is a danger.

The Bot API lets a bot delete the messages of a private chat (its own and the user's) for 48
hours. So the channel records the ids (never the texts) of the chat's messages, this service
keeps them 48 hours, plans what to delete when the user asks, and then tells her, in her
language, how to delete the rest from the chat list, and how many older messages it could not
delete: said, not pretended.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Final

from bot import messages as m
from bot.handoff import Clock, utc_now
from bot.handoff_store import HandoffStore
from bot.i18n import Translations, Translator, is_rtl

logger = logging.getLogger(__name__)

DELETE_WINDOW: Final = dt.timedelta(hours=48)  # the Bot API's limit for deleting messages
# deleteMessages skips what it cannot delete without saying so: ids this close to the limit are
# counted as not deletable rather than claimed deleted.
SAFETY_MARGIN: Final = dt.timedelta(minutes=10)
ACTION_ERASE_CONFIRM: Final = "erase:yes"


@dataclass(frozen=True)
class ErasePlan:
    """The ids to delete now, and how many older messages can no longer be deleted."""

    chat_id: int
    message_ids: tuple[int, ...]
    too_old: int


class EraseService:
    """Message-id log (48 h) and the texts around deleting a chat."""

    def __init__(
        self,
        store: HandoffStore,
        translations: Translations,
        *,
        clock: Clock = utc_now,
        count_retention_days: int = 180,
    ) -> None:
        self.store = store
        self.translations = translations
        self.clock = clock
        self.count_retention_days = count_retention_days

    def record(self, chat_id: int, message_id: int) -> None:
        """A message now exists in private chat ``chat_id`` (sent by the bot or by the user)."""
        self.store.add_message_id(chat_id, message_id, self.clock().timestamp())

    def offer(self, language: str) -> m.Reply:
        """Ask before deleting: the deletion cannot be undone."""
        _ = self._t(language)
        text = _(
            "Delete the messages of this chat? I delete my messages and yours from the last 48 hours. "
            "This cannot be undone."
        )
        buttons = ((m.Button(_("Yes, delete this chat"), ACTION_ERASE_CONFIRM), m.Button(_("No"), m.ACTION_MENU)),)
        return m.Reply([self._message(language, text, buttons)])

    def offer_after_forget(self, language: str) -> m.Reply:
        """After /forget: the messages on the phone are still there; offer to delete them too."""
        _ = self._t(language)
        text = _("The messages of this chat are still on your phone. I can delete them too.")
        return m.Reply([self._message(language, text, ((m.Button(_("Delete this chat"), m.ACTION_ERASE_CHAT),),))])

    def plan(self, chat_id: int) -> ErasePlan:
        """What can be deleted now: the ids of the last 48 hours; older ones are only counted."""
        self.expire()
        since = (self.clock() - DELETE_WINDOW + SAFETY_MARGIN).timestamp()
        deletable = self.store.message_ids(chat_id, since)
        borderline = len(self.store.message_ids(chat_id, 0)) - len(deletable)
        return ErasePlan(chat_id, tuple(deletable), self.store.older_count(chat_id) + borderline)

    def finish(self, plan: ErasePlan, failed: int, language: str) -> m.Reply:
        """Forget the ids, and tell the user what was deleted, what not, and how to delete the rest."""
        self.store.remove_message_ids(plan.chat_id, self.store.message_ids(plan.chat_id, 0))
        self.store.clear_older_count(plan.chat_id)
        deleted = len(plan.message_ids) - failed
        logger.info("Chat erased: %d message(s) deleted, %d could not be", deleted, failed + plan.too_old)
        _ = self._t(language)
        lines = [_("Messages deleted: {count}.").format(count=deleted)]
        not_deleted = failed + plan.too_old
        if not_deleted:
            lines.append(
                _(
                    "Messages I could not delete (older than 48 hours, or refused by Telegram): {count}. "
                    "They are still in this chat."
                ).format(count=not_deleted)
            )
        lines.append(
            _(
                "To delete everything, including this message: in your list of chats, press and hold this "
                "chat, choose Delete, and also delete it for the bot."
            )
        )
        return m.Reply([self._message(language, "\n\n".join(lines))])

    def expire(self) -> int:
        """Drop ids older than 48 hours (counted per chat), and old counts; returns the ids dropped."""
        now = self.clock()
        dropped = self.store.expire_message_ids((now - DELETE_WINDOW).timestamp(), now.timestamp())
        self.store.delete_older_counts_before((now - dt.timedelta(days=self.count_retention_days)).timestamp())
        return dropped

    def _message(self, language: str, text: str, buttons: tuple[m.ButtonRow, ...] = ()) -> m.OutgoingMessage:
        return m.OutgoingMessage(text=text, language=language, buttons=buttons, rtl=is_rtl(language))

    def _t(self, language: str) -> Translator:
        return self.translations.translator(language)
