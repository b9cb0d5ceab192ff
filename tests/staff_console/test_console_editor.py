"""The editor: saves in place keeping the layout, validation, version conflicts, atomic writes, preview, review."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from bot import messages as m
from bot.content import ContentStore
from bot.dialogue import DialogueCore
from bot.facts import render
from bot.staff_console import content_access, editing, yaml_edit
from bot.staff_console.app import Console
from bot.staff_console.files import write_atomically
from bot.storage import UserState
from tests.staff_console.conftest import Client, csrf_token, log_in

EDITOR = "/cities/brussels/answers/{language}/{intent}"
_VERSION = re.compile(r'name="version" value="([^"]+)"')


async def _form(client: Client, path: str) -> dict[str, str]:
    """The editor's hidden fields as the page sends them."""
    page = await (await client.get(path)).text()
    version = _VERSION.search(page)
    assert version is not None
    return {"csrf_token": await csrf_token(client, path), "version": version.group(1)}


def _edit(text: str, title: str = "Garantie locative", source: str = "Fonds du Logement") -> dict[str, str]:
    return {"title": title, "text": text, "source": source, "action": "save"}


async def test_a_save_changes_only_that_answer_and_keeps_comments_and_layout(
    client: Client, content_dir: Path, console: Console
) -> None:
    path = content_dir / "brussels" / "fr" / "housing.yml"
    original = "# Housing answers: checked with the Fonds du Logement.\n" + path.read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    new_text = "Demandez la **garantie locative** au Fonds du Logement.\n\n- sans intérêt"
    edit = _edit(new_text, title="Garantie (essai)", source="Source de l'essai")
    response = await client.post(editor, data={**hidden, **edit}, allow_redirects=False)
    assert response.status == 303
    saved = path.read_text(encoding="utf-8")
    assert saved.startswith("# Housing answers: checked with the Fonds du Logement.\n")
    assert "  text: |\n    Demandez la **garantie locative** au Fonds du Logement.\n\n    - sans intérêt\n" in saved
    before_lines, after_lines = original.splitlines(), saved.splitlines()
    changed = [line for line in after_lines if line not in before_lines]
    assert changed == [
        "  title: Garantie (essai)",
        "    Demandez la **garantie locative** au Fonds du Logement.",
        "    - sans intérêt",
        "  source: Source de l'essai",
    ]
    entry = json.loads(console.config.audit_file.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["user"] == "rita"
    assert entry["action"] == "edit"
    assert (entry["language"], entry["intent"]) == ("fr", "rental_deposit")
    assert entry["file"].endswith("brussels/fr/housing.yml")


async def test_the_bot_answers_the_saved_text_without_a_restart(
    client: Client, content: ContentStore, core: DialogueCore
) -> None:
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    response = await client.post(editor, data={**hidden, **_edit("Nouveau texte pour la garantie.")})
    assert response.status == 200
    assert content.changed_files()  # what the bot's hot reload polls
    content.reload()
    reply = core.handle_action(UserState("u1", language="fr"), m.intent_action("rental_deposit"))
    assert reply.messages[0].text.startswith("Nouveau texte pour la garantie.")


async def test_a_broken_edit_is_refused_next_to_its_field_and_the_file_is_untouched(
    client: Client, content_dir: Path
) -> None:
    path = content_dir / "brussels" / "fr" / "housing.yml"
    before = path.read_bytes()
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    response = await client.post(editor, data={**hidden, **_edit("Première ligne\nDemandez la **garantie au Fonds")})
    assert response.status == 422
    page = await response.text()
    assert path.read_bytes() == before
    assert "Not saved." in page
    error = re.search(r'<p class="field-error error" role="alert">([^<]+)</p>', page)
    assert error is not None
    assert "housing.yml, line" in error.group(1)
    assert "never closed" in error.group(1)
    # The message sits under the text area, not under another field.
    assert page.index("never closed") > page.index('id="text"') > page.index('id="title"')
    assert page.index("never closed") < page.index('id="source"')
    assert "Demandez la **garantie au Fonds" in page  # the user's text is kept in the form


async def test_a_long_text_is_saved_with_advice(client: Client) -> None:
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    long_text = "Une phrase utile sur la garantie locative. " * 20
    response = await client.post(editor, data={**hidden, **_edit(long_text)})
    page = await response.text()
    assert "Saved." in page
    assert "Advice: housing.yml, line" in page
    assert "long answer" in page


async def test_an_empty_title_is_refused(client: Client, content_dir: Path) -> None:
    path = content_dir / "brussels" / "fr" / "housing.yml"
    before = path.read_bytes()
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    response = await client.post(editor, data={**hidden, **_edit("Un texte.", title="")})
    assert response.status == 422
    assert "&#39;title&#39; must be a non-empty text" in await response.text()
    assert path.read_bytes() == before


async def test_a_save_over_someone_elses_change_is_refused(client: Client, content_dir: Path) -> None:
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    first = await client.post(editor, data={**hidden, **_edit("Le texte de Rita.")}, allow_redirects=False)
    assert first.status == 303
    path = content_dir / "brussels" / "fr" / "housing.yml"
    after_first = path.read_bytes()
    second = await client.post(editor, data={**hidden, **_edit("Le texte d'Ada, parti du même état.")})
    assert second.status == 409
    page = await second.text()
    assert "someone else changed this answer" in page
    assert "Le texte de Rita." in page  # their version is shown
    assert path.read_bytes() == after_first
    # The page now carries the current version: saving again is a deliberate choice.
    again = _VERSION.search(page)
    assert again is not None
    third = await client.post(
        editor, data={**hidden, "version": again.group(1), **_edit("Le texte d'Ada.")}, allow_redirects=False
    )
    assert third.status == 303
    assert "Le texte d'Ada." in path.read_text(encoding="utf-8")


async def test_an_edit_to_another_answer_of_the_same_file_is_no_conflict(client: Client) -> None:
    assert await log_in(client, "rita") == 303
    deposit = EDITOR.format(language="fr", intent="rental_deposit")
    social = EDITOR.format(language="fr", intent="social_housing")
    deposit_form, social_form = await _form(client, deposit), await _form(client, social)
    assert (await client.post(deposit, data={**deposit_form, **_edit("A.")}, allow_redirects=False)).status == 303
    response = await client.post(social, data={**social_form, **_edit("B.", title="Logement social")})
    assert response.status == 200


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "fr" / "housing.yml"
    target.parent.mkdir()
    target.write_text("old: content\n", encoding="utf-8")

    def crash(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new: content\n")
    assert target.read_text(encoding="utf-8") == "old: content\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["housing.yml"]


def test_the_temporary_file_is_invisible_to_the_bots_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(source: str, destination: str) -> None:
        seen.append(Path(source).name)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", spy)
    write_atomically(tmp_path / "housing.yml", "a: b\n")
    assert seen[0].startswith(".housing.yml.")
    assert seen[0].endswith(".tmp")


async def test_preview_without_saving_shows_the_candidate_and_keeps_the_file(client: Client, content_dir: Path) -> None:
    path = content_dir / "brussels" / "fr" / "housing.yml"
    before = path.read_bytes()
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    data = {**hidden, **_edit("Un **essai** <script>alert(1)</script>"), "action": "preview"}
    response = await client.post(editor, data=data)
    page = await response.text()
    assert response.status == 200
    assert path.read_bytes() == before
    assert "Preview of your unsaved text" in page
    assert "Un <b>essai</b> &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page


async def test_an_arabic_answer_is_previewed_right_to_left_with_its_buttons(
    client: Client, content: ContentStore
) -> None:
    assert await log_in(client, "amina") == 303
    page = await (await client.get(EDITOR.format(language="ar", intent="rental_deposit"))).text()
    bubble = re.search(r'<div class="bubble" dir="(\w+)">\s*<div class="bubble-text">(.*?)</div>', page, re.S)
    assert bubble is not None
    assert bubble.group(1) == "rtl"
    assert "<b>" in bubble.group(2)
    assert "\u200f" in bubble.group(2)  # the bot's right-to-left mark
    link_fact = content.facts.get("fund_rental_guarantee")
    assert link_fact is not None
    assert f'href="{link_fact.value}"' in page  # the link button, its address from the fact registry
    assert "👎" in page  # the feedback buttons, as in Telegram
    assert 'class="original" lang="fr" dir="ltr"' in page  # the French original beside it


async def test_a_reviewer_marks_an_answer_reviewed_and_a_translator_cannot(
    client: Client, content_dir: Path, content: ContentStore, console: Console
) -> None:
    editor = EDITOR.format(language="ar", intent="rental_deposit")
    assert await log_in(client, "amina") == 303
    hidden = await _form(client, editor)
    assert "mark-reviewed" not in await (await client.get(editor)).text()
    refused = await client.post(editor + "/review", data=hidden)
    assert refused.status == 403
    await client.post("/logout", data={"csrf_token": hidden["csrf_token"]})
    assert await log_in(client, "rita") == 303
    hidden = await _form(client, editor)
    response = await client.post(editor + "/review", data=hidden)
    assert response.status == 200
    assert "Marked reviewed." in await response.text()
    content.reload()
    answer = content.get("ar", "rental_deposit")
    assert answer is not None
    assert answer.reviewed_on == console.today()
    audit = console.audit.recent(1)[0]
    assert (audit["user"], audit["action"], audit["intent"]) == ("rita", "review", "rental_deposit")


async def test_a_missing_translation_is_created_with_the_originals_links_and_follow_ups(
    client: Client, content_dir: Path, console: Console, content: ContentStore
) -> None:
    path = content_dir / "brussels" / "ar" / "housing.yml"
    document = yaml_edit.read(path)[1]
    del document["rental_deposit"]
    path.write_text(yaml_edit.dump(document), encoding="utf-8")
    assert await log_in(client, "amina") == 303
    coverage = await (await client.get("/cities/brussels")).text()
    assert re.search(r'<td class="cell missing">\s*<a href="/cities/brussels/answers/ar/rental_deposit"', coverage)
    editor = EDITOR.format(language="ar", intent="rental_deposit")
    hidden = await _form(client, editor)
    data = {**hidden, **_edit("نص جديد", title="ضمانة الكراء", source="Fonds du Logement"), "link_label": "الصندوق"}
    response = await client.post(editor, data=data, allow_redirects=False)
    assert response.status == 303
    stored = editing.find(content_dir / "brussels", console.catalogue, "ar", "rental_deposit", "fr")
    assert stored.answer is not None
    assert stored.answer["links"][0]["label"] == "الصندوق"
    assert stored.answer["links"][0]["fact"] == "fund_rental_guarantee"
    assert "url" not in stored.answer["links"][0]
    assert list(stored.answer["follow_up"]) == ["social_aid", "find_housing", "tenant_rights"]
    assert stored.answer["status"] == "draft"
    assert stored.answer["translated_from"] == content.version("rental_deposit")


async def test_fact_keys_are_shown_with_their_values(client: Client, content_dir: Path) -> None:
    (content_dir / "brussels" / "facts.yml").write_text(
        "fund_phone:\n  type: phone\n  value: 02 000 00 00\n  source: https://example.org\n  checked: 2026-11-20\n",
        encoding="utf-8",
    )
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    response = await client.post(editor, data={**hidden, **_edit("Appelez le {{fund_phone}}.")})
    page = await response.text()
    assert "<dt><code>fund_phone</code></dt><dd>02 000 00 00</dd>" in page


def test_review_marks_replace_the_status_in_place_and_keep_the_blank_line() -> None:
    marks = "  status: reviewed\n  reviewed_by: rita\n  reviewed_on: 2026-12-06\n"
    document = yaml_edit.load("a:\n  title: A\n  status: draft\n  source: S\n\nb:\n  title: B\n  status: draft\n")
    content_access.mark_reviewed(document["a"], "rita", dt.date(2026, 12, 6))
    assert yaml_edit.dump(document) == f"a:\n  title: A\n{marks}  source: S\n\nb:\n  title: B\n  status: draft\n"
    content_access.mark_draft(document["a"])
    assert (
        yaml_edit.dump(document) == "a:\n  title: A\n  status: draft\n  source: S\n\nb:\n  title: B\n  status: draft\n"
    )


def test_review_marks_on_the_last_field_keep_the_blank_line_before_the_next_answer() -> None:
    document = yaml_edit.load("a:\n  title: A\n  status: draft\n\nb:\n  title: B\n")
    content_access.mark_reviewed(document["a"], "rita", dt.date(2026, 12, 6))
    content_access.mark_draft(document["a"])
    assert yaml_edit.dump(document) == "a:\n  title: A\n  status: draft\n\nb:\n  title: B\n"


def _change_the_original(content_dir: Path) -> None:
    """A staff member edits the French original of rental_deposit: its translations fall behind."""
    path = content_dir / "brussels" / "fr" / "housing.yml"
    text = path.read_text(encoding="utf-8")
    changed = text.replace("peut aussi vous aider.", "peut aussi vous aider, sur rendez-vous.", 1)
    assert changed != text
    path.write_text(changed, encoding="utf-8")


async def test_a_translation_behind_its_original_shows_as_stale(client: Client, content_dir: Path) -> None:
    assert await log_in(client, "amina") == 303
    cell = r'<td class="cell {state}">\s*<a href="/cities/brussels/answers/ar/rental_deposit"'
    before = await (await client.get("/cities/brussels")).text()
    assert not re.search(cell.format(state="stale"), before)
    _change_the_original(content_dir)
    after = await (await client.get("/cities/brussels")).text()
    assert re.search(cell.format(state="stale"), after)
    editor = await (await client.get(EDITOR.format(language="ar", intent="rental_deposit"))).text()
    assert '<small class="state" id="review-state">stale</small>' in editor


async def test_a_saved_translation_follows_the_current_original(
    client: Client, content_dir: Path, content: ContentStore
) -> None:
    _change_the_original(content_dir)
    content.reload()
    stale = content.get("ar", "rental_deposit")
    assert stale is not None and stale.stale
    assert await log_in(client, "amina") == 303
    editor = EDITOR.format(language="ar", intent="rental_deposit")
    hidden = await _form(client, editor)
    data = {**hidden, **_edit("نص محدث", title="ضمانة الكراء", source="Fonds du Logement")}
    assert (await client.post(editor, data=data, allow_redirects=False)).status == 303
    content.reload()
    saved = content.get("ar", "rental_deposit")
    assert saved is not None
    assert saved.translated_from == content.version("rental_deposit")
    assert not saved.stale
    assert saved.review_state == "draft"


async def test_a_reviewed_answer_carries_who_and_when_in_the_city_pack_format(
    client: Client, content_dir: Path, console: Console
) -> None:
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="fr", intent="rental_deposit")
    hidden = await _form(client, editor)
    assert (await client.post(editor + "/review", data=hidden)).status == 200
    stored = editing.find(content_dir / "brussels", console.catalogue, "fr", "rental_deposit", "fr")
    assert stored.answer is not None
    assert (stored.answer["status"], stored.answer["reviewed_by"]) == ("reviewed", "rita")
    assert stored.answer["reviewed_on"] == console.today()
    page = await (await client.get(editor)).text()
    assert f"reviewed on {console.today()} by rita" in page


async def test_the_preview_and_the_fact_list_show_facts_as_the_reader_sees_them(
    client: Client, content: ContentStore
) -> None:
    answer = content.get("ar", "social_housing")
    assert answer is not None and "social_housing_confirm_every" in answer.fact_keys
    fact = content.facts.get("social_housing_confirm_every")
    assert fact is not None
    shown = render(fact, "ar")
    assert await log_in(client, "amina") == 303
    page = await (await client.get(EDITOR.format(language="ar", intent="social_housing"))).text()
    bubble = re.search(r'<div class="bubble-text">(.*?)</div>', page, re.S)
    assert bubble is not None
    assert shown in bubble.group(1)
    assert "{{" not in bubble.group(1)
    assert f"<dt><code>social_housing_confirm_every</code></dt><dd>{shown}</dd>" in page


async def test_a_reviewer_who_marks_a_stale_translation_reviewed_brings_it_up_to_date(
    client: Client, content_dir: Path, content: ContentStore
) -> None:
    _change_the_original(content_dir)
    assert await log_in(client, "rita") == 303
    editor = EDITOR.format(language="ar", intent="rental_deposit")
    hidden = await _form(client, editor)
    assert (await client.post(editor + "/review", data=hidden)).status == 200
    content.reload()
    answer = content.get("ar", "rental_deposit")
    assert answer is not None
    assert answer.review_state == "reviewed"
    assert answer.translated_from == content.version("rental_deposit")


async def test_a_translation_that_drops_a_fact_of_its_original_is_saved_with_the_drift_advice(
    client: Client, content_dir: Path
) -> None:
    _change_the_original(content_dir)  # another answer of the same file is now stale: not this edit's advice
    assert await log_in(client, "amina") == 303
    editor = EDITOR.format(language="ar", intent="social_housing")
    hidden = await _form(client, editor)
    data = {**hidden, **_edit("سجّل عند شركة سكن اجتماعي.", title="السكن الاجتماعي", source="SLRB-BGHM")}
    page = await (await client.post(editor, data=data)).text()
    assert "Saved." in page
    assert "drift: the original has fact &#39;social_housing_confirm_every&#39;" in page
    assert not re.search(r"Advice: [^<]*rental_deposit", page)
