"""The terminal channel: the same dialogue core as Telegram, one line in, the replies printed.

Buttons are numbered; typing a number presses the button. Commands mirror Telegram's
(/start, /menu, /language, /help, /privacy, /forget) and /quit ends the chat. When standard input
is not a terminal, each line is one message, so a session can be scripted.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from bot import markup
from bot import messages as m
from bot.services import Services
from bot.storage import UserState

logger = logging.getLogger(__name__)

TERMINAL_USER = "terminal"


class TerminalChat:
    """One conversation on a text stream."""

    def __init__(self, services: Services, out: TextIO = sys.stdout) -> None:
        self.services = services
        self.core = services.core
        self.out = out
        self.state = UserState(TERMINAL_USER)
        self._actions: list[str] = []

    async def handle_line(self, line: str) -> bool:
        """Process one input line; False when the user wants to stop."""
        text = line.strip()
        if text in {"/quit", "/exit"}:
            return False
        self._reload_content_if_changed()
        reply = await self._reply_to(text)
        self.show(reply)
        return True

    async def _reply_to(self, text: str) -> m.Reply:
        if text.isdigit() and 1 <= int(text) <= len(self._actions):
            return self.core.handle_action(self.state, self._actions[int(text) - 1])
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


async def run_chat(services: Services, language: str | None, stdin: TextIO = sys.stdin) -> None:
    """Chat until end of input or /quit."""
    chat = TerminalChat(services)
    if language:
        chat.state.language = language
    interactive = stdin.isatty()
    if interactive:
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
