"""The terminal channel: the same dialogue core as Telegram, one line in, the replies printed.

Buttons are numbered; typing a number presses the button. Commands mirror Telegram's
(/start, /menu, /language, /help, /privacy, /forget, /end) and /quit ends the chat. When standard
input is not a terminal, each line is one message, so a session can be scripted.

With ``staff`` on (``newcomer-bot chat --staff``, and ``make run`` without a token), the same
terminal also plays the counsellors' side of the live hand-off, for a demo: /counsellor asks for
one, what the user writes then appears as it would in the staff group's topic, and a line
starting with ``@`` is a counsellor's reply (``@/close`` ends the conversation).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from bot import handoff as ho
from bot import markup
from bot import messages as m
from bot.handoff_store import HandoffStore
from bot.services import Services
from bot.storage import UserState

logger = logging.getLogger(__name__)

CLEAR_SCREEN = "\033[H\033[2J\033[3J"  # cursor home, clear the screen, clear the scrollback

TERMINAL_USER = "terminal"
TERMINAL_TOPIC = 1  # the demo's one "forum topic"
STAFF_PREFIX = "@"  # a line typed by the counsellor
STAFF_HELP = (
    "Counsellor demo: /counsellor asks for a counsellor; once connected, a line starting with @ is the "
    "counsellor's reply, and @/close ends the conversation."
)


class TerminalChat:
    """One conversation on a text stream."""

    def __init__(self, services: Services, out: TextIO = sys.stdout, handoff: ho.HandoffService | None = None) -> None:
        self.services = services
        self.core = services.core
        self.out = out
        self.state = UserState(TERMINAL_USER)
        self.handoff = handoff  # None: no counsellor side in this terminal
        self._actions: list[str] = []
        self._last_question: str | None = None  # memory only: posted in the topic when one opens

    async def handle_line(self, line: str) -> bool:
        """Process one input line; False when the user wants to stop."""
        text = line.strip()
        if text in {"/quit", "/exit"}:
            return False
        self._reload_content_if_changed()
        if self.handoff is not None and text.startswith(STAFF_PREFIX):
            self.show(self._counsellor_says(self.handoff, text[len(STAFF_PREFIX) :].strip()))
            return True
        reply = await self._reply_to(text)
        self.show(reply)
        return True

    async def _reply_to(self, text: str) -> m.Reply:
        if text.isdigit() and 1 <= int(text) <= len(self._actions):
            action = self._actions[int(text) - 1]
            if action == m.ACTION_ERASE_CHAT:
                # The terminal's own "delete this chat": clear the screen and its scrollback.
                print(CLEAR_SCREEN, end="", file=self.out)
                return m.Reply([self.core.menu(self._language)])
            handoff_reply = self._handoff_action(action)
            return handoff_reply if handoff_reply is not None else self.core.handle_action(self.state, action)
        if self.handoff is not None:
            handoff_reply = self._handoff_text(self.handoff, text)
            if handoff_reply is not None:
                return handoff_reply
        commands = {
            "/start": lambda: self.core.start(self.state),
            "/menu": lambda: m.Reply([self.core.menu(self.core.resolve_language(self.state))]),
            "/language": lambda: self.core.handle_action(self.state, m.ACTION_LANGUAGES),
            "/help": lambda: self.core.help(self.state),
            "/privacy": lambda: self.core.privacy(self.state),
            "/forget": lambda: self.core.confirm_forget(self.state),
        }
        command = commands.get(text.split(" ")[0]) if text.startswith("/") else None
        if command is not None:
            return command()
        try:
            return await self.core.handle_text(self.state, text)
        except Exception:
            logger.exception("Could not answer a terminal message")
            return self.core.error_reply(self.state.language)

    # ----- the hand-off demo: both sides in one terminal -----------------------------------------

    @property
    def _language(self) -> str:
        return self.core.resolve_language(self.state)

    def _handoff_action(self, action: str) -> m.Reply | None:
        """The counsellor, consent and end buttons; None for the core's buttons."""
        handoff = self.handoff
        if handoff is None:
            return None
        if action == m.ACTION_COUNSELLOR:
            return handoff.offer(TERMINAL_USER, self._language)
        if action in {ho.ACTION_CONSENT, ho.ACTION_CONSENT_WOMAN, ho.ACTION_CONSENT_NAME, ho.ACTION_DECLINE}:
            result = handoff.consent(TERMINAL_USER, self._language, action, self.state.last_intent)
            if not isinstance(result, ho.Opening):
                return result
            handoff.attach_topic(TERMINAL_USER, TERMINAL_TOPIC)
            self._staff_view(f"new topic «{result.topic_name}»\n{result.staff_intro}")
            if self._last_question is not None:
                self._staff_view(f"user (last question): {self._last_question}")
                self._last_question = None
            return result.user_reply
        if action.startswith(ho.END_PREFIX) or action == m.ACTION_FORGET_CONFIRM:
            closing = (
                handoff.forget(TERMINAL_USER)
                if action == m.ACTION_FORGET_CONFIRM
                else handoff.end_by_user(TERMINAL_USER, self._language, action.removeprefix(ho.END_PREFIX))
            )
            if closing is not None:
                self._staff_view(closing.staff_text + " (topic closed)")
            if action == m.ACTION_FORGET_CONFIRM:
                return None  # the core forgets the rest and confirms
            return closing.user_reply if closing is not None else handoff.not_in_conversation(self._language)
        return None

    def _handoff_text(self, handoff: ho.HandoffService, text: str) -> m.Reply | None:
        """/counsellor, /end, and the user's messages while a conversation is open."""
        if text == "/counsellor":
            return handoff.offer(TERMINAL_USER, self._language)
        if text == "/end":
            closing = handoff.end_by_user(TERMINAL_USER, self._language)
            if closing is None:
                return handoff.not_in_conversation(self._language)
            self._staff_view(closing.staff_text + " (topic closed)")
            return closing.user_reply
        if text.startswith("/"):
            return None
        route = handoff.route_user_message(TERMINAL_USER, self._language)
        if route is None:
            self._last_question = text if text and not text.isdigit() else self._last_question
            return None
        self._staff_view(f"user: {text}")
        return route.notice or m.Reply()

    def _counsellor_says(self, handoff: ho.HandoffService, text: str) -> m.Reply:
        if text == "/close":
            closing = handoff.close_by_staff(TERMINAL_TOPIC, 0, True, self._language)
            if closing is None:
                self._staff_view("no open conversation in this topic")
                return m.Reply()
            self._staff_view(closing.staff_text + " (topic closed)")
            return closing.user_reply
        if handoff.route_staff_message(TERMINAL_TOPIC, 0, in_staff_chat=True) is None:
            self._staff_view("no open conversation: not delivered")
            return m.Reply()
        return m.Reply([m.OutgoingMessage(f"[counsellor] {text}", self._language)])

    def _staff_view(self, text: str) -> None:
        for line in text.splitlines():
            print(f"    ┆ [counsellors] {line}", file=self.out)

    def show(self, reply: m.Reply) -> None:
        """Print the reply's messages with numbered buttons."""
        self._actions = []
        for message in reply.messages:
            print(markup.render_plain(message.text, rtl=message.rtl), file=self.out)
            for row in message.buttons:
                cells = []
                for button in row:
                    if isinstance(button, m.LinkButton):
                        cells.append(f"[{button.label}: {button.url}]")
                    else:
                        self._actions.append(button.action)
                        cells.append(f"[{len(self._actions)}] {button.label}")
                print("  " + "   ".join(cells), file=self.out)
            print(file=self.out)
        self.out.flush()

    def _reload_content_if_changed(self) -> None:
        if self.services.model_watcher is not None:
            self.services.model_watcher.check()
        content = self.services.content
        if content.changed_files():
            report = content.reload()
            for problem in report.errors:
                print(f"! {problem}", file=sys.stderr)


async def run_chat(services: Services, language: str | None, stdin: TextIO = sys.stdin, staff: bool = False) -> None:
    """Chat until end of input or /quit; with ``staff``, this terminal is also the counsellor."""
    store = HandoffStore(":memory:") if staff else None  # a demo: nothing of it is kept
    handoff = ho.HandoffService(store, services.translations) if store is not None else None
    try:
        await _chat_loop(TerminalChat(services, handoff=handoff), language, stdin)
    finally:
        if store is not None:
            store.close()


async def _chat_loop(chat: TerminalChat, language: str | None, stdin: TextIO) -> None:
    services = chat.services
    if language:
        chat.state.language = language
    interactive = stdin.isatty()
    if interactive:
        if chat.handoff is not None:
            print(STAFF_HELP, file=chat.out)
        chat.show(services.core.start(chat.state))
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = stdin.readline()
        if not line:
            break
        if not line.strip() and not interactive:
            continue
        if not await chat.handle_line(line):
            break
