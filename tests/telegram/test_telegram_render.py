"""Rendering: HTML escaping, entities, splitting at 4096, right-to-left, keyboards, plain text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import markup
from bot import messages as m
from bot.channels.telegram.render import (
    TEXT_LIMIT,
    is_menu_screen,
    keyboard,
    render,
    send_message,
    without_actions,
)
from bot.dialogue import DialogueCore
from bot.markup import RTL_MARK
from bot.services import Services
from bot.storage import SQLiteStore, UserState
from tests.telegram import helpers
from tests.telegram.fake_bot_api import (
    FakeBotApi,
    FakeBotRequest,
    _check_keyboard,
    parse_html,
    utf16_length,
)


def message(text: str, rtl: bool = False, rows: tuple[m.ButtonRow, ...] = ()) -> m.OutgoingMessage:
    return m.OutgoingMessage(text=text, language="ar" if rtl else "fr", buttons=rows, rtl=rtl)


def visible_parts(text: str, rtl: bool = False) -> list[str]:
    rendered = render(message(text, rtl))
    assert rendered.parse_mode == "HTML"
    return [parse_html(part)[0] for part in rendered.texts]


def test_everything_is_escaped_except_the_answer_markup() -> None:
    source = 'Tom & Jerry <script>alert("x")</script> 5 > 3 **gras** [Site](https://a.be/?q=1&r=2)'
    (html,) = render(message(source)).texts
    assert "<script>" not in html and "&lt;script&gt;" in html
    text, entities = parse_html(html)  # parses exactly like Telegram: no error
    assert text == 'Tom & Jerry <script>alert("x")</script> 5 > 3 gras Site'
    assert [e["type"] for e in entities] == ["bold", "text_link"]
    assert entities[1]["url"] == "https://a.be/?q=1&r=2"


def test_a_long_text_is_split_at_line_ends_with_the_buttons_under_the_last_part() -> None:
    lines = [f"- **Point {i}**: " + "information utile " * 8 for i in range(120)]
    rows = ((m.Button("Menu", m.ACTION_MENU),),)
    rendered = render(message("\n".join(lines), rows=rows))
    assert len(rendered.texts) >= 3
    parts = [parse_html(part)[0] for part in rendered.texts]
    assert all(utf16_length(part) <= TEXT_LIMIT for part in parts)
    assert "\n".join(parts) == markup.strip("\n".join(lines))  # nothing lost, nothing cut
    assert rendered.keyboard is not None  # sent with the last part only (see send_message)


def test_one_huge_line_with_links_falls_back_to_clean_plain_text() -> None:
    line = " ".join(f"[lien {i}](https://example.org/{i})" for i in range(400))
    rendered = render(message(line))
    assert rendered.parse_mode is None
    assert all(len(part) <= TEXT_LIMIT for part in rendered.texts)
    assert "lien 399 (https://example.org/399)" in rendered.texts[-1]


def test_characters_outside_the_basic_plane_count_twice() -> None:
    text = "\n".join("🏠🚑📚 " * 40 for _ in range(40))
    parts = visible_parts(text)
    assert len(parts) >= 2 and all(utf16_length(part) <= TEXT_LIMIT for part in parts)


def test_right_to_left_lines_start_with_a_mark() -> None:
    (text,) = visible_parts("**مرحبا**\n112 رقم الطوارئ\n\n- CPAS", rtl=True)
    assert all(line.startswith(RTL_MARK) for line in text.splitlines() if line)
    assert visible_parts("Bonjour\n112") == ["Bonjour\n112"]


def test_keyboards_hold_callback_and_link_buttons_within_telegram_limits() -> None:
    rows: tuple[m.ButtonRow, ...] = (
        (m.LinkButton("Site", "https://www.cpas.be"),),
        (m.Button("👍 Utile", m.feedback_action(True, "find_doctor")), m.Button("x", "y" * 65)),
        (m.Button("", m.ACTION_MENU),),
    )
    built = keyboard(rows)
    assert built is not None
    data = [[(b.text, b.url, b.callback_data) for b in row] for row in built.inline_keyboard]
    assert data == [
        [("Site", "https://www.cpas.be", None)],
        [("👍 Utile", None, "fb:up:find_doctor")],  # the 65-byte action is dropped
        [("…", None, "menu")],  # Telegram refuses empty labels
    ]
    assert keyboard(()) is None


def test_a_keyboard_is_sent_as_python_telegram_bot_would_send_it() -> None:
    rows: tuple[m.ButtonRow, ...] = ((m.LinkButton("Site", "https://www.cpas.be"), m.Button("Menu", m.ACTION_MENU)),)
    built = keyboard(rows)
    assert built is not None and keyboard(rows) is built  # built once per set of buttons
    plain = InlineKeyboardMarkup(built.inline_keyboard)
    assert built.to_dict() == plain.to_dict() and built == plain
    built.to_dict().clear()
    assert built.to_dict() == plain.to_dict()


def test_every_real_answer_renders_as_telegram_accepts_it(shared_services: Services) -> None:
    base = shared_services
    store = SQLiteStore(":memory:")
    core = DialogueCore(
        base.catalogue,
        base.nlu,
        base.detector,
        base.content,
        base.translations,
        store,
        base.core.options,
    )
    checked = 0
    for language in base.catalogue.languages:
        for intent in base.catalogue.intents:
            reply = core.handle_action(UserState(f"u-{language}", language), m.intent_action(intent))
            for outgoing in reply.messages:
                rendered = render(outgoing)
                assert rendered.parse_mode == "HTML", (language, intent)
                for part in rendered.texts:
                    text, _entities = parse_html(part)  # raises like Telegram on bad HTML
                    assert 0 < utf16_length(text) <= TEXT_LIMIT
                if rendered.keyboard is not None:
                    assert _check_keyboard(rendered.keyboard.to_dict()) is not None
                checked += 1
    store.close()
    assert checked >= len(base.catalogue.languages) * len(base.catalogue.intents)


def test_menu_screens_and_answers_are_told_apart() -> None:
    def on(*rows: list[InlineKeyboardButton]) -> Message:
        payload = helpers.bot_message(1, "x", keyboard=InlineKeyboardMarkup(rows).to_dict())
        return helpers.as_message(payload, None)  # type: ignore[arg-type]

    topic = InlineKeyboardButton("Logement", callback_data="topic:housing")
    intent = InlineKeyboardButton("Trouver un logement", callback_data="intent:find_housing")
    back = InlineKeyboardButton("Retour", callback_data="menu")
    human = InlineKeyboardButton("Une personne", callback_data="human")
    link = InlineKeyboardButton("Site", url="https://www.cpas.be")
    assert is_menu_screen(on([topic], [human]))  # the topic menu
    assert is_menu_screen(on([intent], [back]))  # a topic's questions
    assert not is_menu_screen(on([intent], [back, human]))  # an answer
    assert not is_menu_screen(on([link], [back]))
    assert not is_menu_screen(None)
    answer = InlineKeyboardMarkup([[link], [InlineKeyboardButton("👍", callback_data="fb:up:x")]])
    assert without_actions(answer, "fb") == InlineKeyboardMarkup([[link]])


@pytest.fixture
async def offline_bot() -> AsyncIterator[tuple[Bot, FakeBotApi]]:
    api = FakeBotApi()
    bot = Bot(
        api.token,
        base_url="http://127.0.0.1:9/bot",
        request=FakeBotRequest(api),
        get_updates_request=FakeBotRequest(api),
    )
    api.user_message(helpers.user(7), text="hello")  # the chat exists
    async with bot:
        yield bot, api


async def test_refused_html_is_sent_again_as_plain_text(
    offline_bot: tuple[Bot, FakeBotApi],
) -> None:
    bot, api = offline_bot
    api.fail_next("sendMessage", 400, 'Bad Request: can\'t parse entities: Unsupported start tag "x"')
    sent = await send_message(bot, 7, message("**Important** : voir [le site](https://a.be)"))
    calls = [c for c in api.calls if c.method == "sendMessage"]
    assert [c.status for c in calls] == [400, 200]
    assert "parse_mode" not in calls[1].params
    assert sent[0].text == "Important : voir le site (https://a.be)"


async def test_long_message_parts_arrive_in_order(offline_bot: tuple[Bot, FakeBotApi]) -> None:
    bot, _api = offline_bot
    text = "\n".join(f"ligne {i} " + "x" * 90 for i in range(100))
    rows = ((m.Button("Menu", m.ACTION_MENU),),)
    sent = await send_message(bot, 7, message(text, rows=rows))
    assert len(sent) == 3
    assert [s.reply_markup is not None for s in sent] == [False, False, True]
    assert "\n".join(s.text or "" for s in sent) == text
