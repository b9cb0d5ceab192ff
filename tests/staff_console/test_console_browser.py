"""End to end in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

The console runs in a thread with its own event loop, on the same files as a dialogue core, so a
test can check that the bot answers what was typed in the browser.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bot import messages as m
from bot.content import ContentStore
from bot.dialogue import DialogueCore
from bot.staff_console.app import ConsoleConfig, create_app
from bot.storage import UserState
from tests.staff_console.conftest import FAST_HASHER, PASSWORD, FakeClock

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1600",
)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.expected_conditions import staleness_of  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

PAGE_LOAD_LIMIT = 30  # seconds: an upper bound for a loaded machine, not a speed requirement


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("needs Debian's chromium and chromium-driver (make setup installs them as root)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # An explicit driver path: Selenium Manager has nothing to look up or download.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live_console(console_config: ConsoleConfig, users: object, clock: FakeClock) -> Iterator[str]:
    """The console served on a free port of 127.0.0.1 from a background thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(console_config, clock=clock, hasher=FAST_HASHER))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="live-console", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def follow(browser: WebDriver, element: WebElement) -> None:
    """Click a link or a form button and wait until the next page has replaced this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, PAGE_LOAD_LIMIT).until(staleness_of(page))


def log_in(browser: WebDriver, base: str, name: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    follow(browser, browser.find_element(By.ID, "login"))
    assert browser.find_element(By.ID, "logout").is_displayed()


def replace_text(browser: WebDriver, text: str) -> None:
    area = browser.find_element(By.ID, "text")
    area.clear()
    area.send_keys(text)
    follow(browser, browser.find_element(By.ID, "save"))


def test_a_translator_edits_a_draft_and_the_bot_answers_the_new_text(
    browser: WebDriver, live_console: str, content: ContentStore, core: DialogueCore, content_dir: Path
) -> None:
    log_in(browser, live_console, "amina")
    follow(browser, browser.find_element(By.LINK_TEXT, "brussels"))  # one city among the packs
    follow(browser, browser.find_element(By.ID, "cell-ar-rental_deposit"))
    assert browser.find_element(By.ID, "review-state").text == "draft"
    path = content_dir / "brussels" / "ar" / "housing.yml"
    before = path.read_bytes()

    replace_text(browser, "يقرضك **صندوق السكن\nمبلغ الضمانة.")
    error = browser.find_element(By.CSS_SELECTOR, ".field-error.error")
    assert "housing.yml, line" in error.text
    assert "never closed" in error.text
    assert path.read_bytes() == before

    replace_text(browser, "يقرضك **صندوق السكن** مبلغ الضمانة بدون فوائد.")
    assert "Saved." in browser.find_element(By.CLASS_NAME, "notice").text
    bubble = browser.find_element(By.CSS_SELECTOR, ".bubble")
    assert "صندوق السكن" in bubble.find_element(By.TAG_NAME, "b").text
    assert browser.execute_script("return getComputedStyle(arguments[0]).direction", bubble) == "rtl"

    content.reload()  # what the bot's hot reload does when the file changes
    reply = core.handle_action(UserState("telegram-7", language="ar"), m.intent_action("rental_deposit"))
    assert reply.messages[0].text.startswith("يقرضك **صندوق السكن** مبلغ الضمانة بدون فوائد.")

    browser.get(f"{live_console}/cities/brussels/answers/pl/rental_deposit")
    assert "You do not translate into this language" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.ID, "editor")


def test_an_arabic_answer_previews_right_to_left_and_a_reviewer_marks_it_reviewed(
    browser: WebDriver, live_console: str, content: ContentStore
) -> None:
    log_in(browser, live_console, "rita")
    browser.get(f"{live_console}/cities/brussels/answers/ar/find_housing")
    bubbles = browser.find_elements(By.CSS_SELECTOR, ".bubble")
    assert bubbles
    assert browser.execute_script("return getComputedStyle(arguments[0]).direction", bubbles[0]) == "rtl"
    assert browser.find_element(By.CSS_SELECTOR, "a.tg-button.link").get_attribute("href") == "https://be.brussels/"
    follow(browser, browser.find_element(By.ID, "mark-reviewed"))
    assert "Marked reviewed." in browser.find_element(By.CLASS_NAME, "notice").text
    assert browser.find_element(By.ID, "review-state").text.startswith("reviewed on")
    content.reload()
    answer = content.get("ar", "find_housing")
    assert answer is not None
    assert not answer.is_draft


def test_a_translator_cannot_open_the_user_admin(browser: WebDriver, live_console: str) -> None:
    log_in(browser, live_console, "amina")
    assert not browser.find_elements(By.LINK_TEXT, "Users")
    browser.get(f"{live_console}/users")
    assert "Only an administrator" in browser.find_element(By.TAG_NAME, "body").text
