"""The chat's view over its model, alone (pytest-qt, offscreen): each row one wrapped block,
the shop's lines in colour, following the newest line, staying put when scrolled up."""

from __future__ import annotations

import os
import random
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor, QTextFormat

from wrencos_studio.ui.models import ChatModel
from wrencos_studio.ui.widgets.chat_view import ChatView

SHOP = "#800080"  # Qt.darkMagenta


def _line(n: int, admin: bool = False, words: int = 1) -> dict[str, Any]:
    return {
        "id": f"m{n}",
        "username": "Shop" if admin else f"user{n % 7}",
        "message": " ".join([f"line {n}"] * words),
        "isAdmin": admin,
        "publicId": None if admin else f"p{n % 7}",
    }


@pytest.fixture
def view(qtbot: Any) -> tuple[ChatModel, ChatView]:
    model = ChatModel(limit=40)
    view = ChatView()
    view.setModel(model)
    view.resize(320, 240)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return model, view


def _blocks(view: ChatView) -> list[str]:
    doc = view.document()
    if doc.isEmpty():
        return []
    return [doc.findBlockByNumber(n).text() for n in range(doc.blockCount())]


def _rows(model: ChatModel) -> list[str]:
    return [model.index(n, 0).data() for n in range(model.rowCount())]


def _colour(view: ChatView, block: int) -> str:
    fragment = view.document().findBlockByNumber(block).begin().fragment()
    fmt = fragment.charFormat()
    if not fmt.hasProperty(QTextFormat.Property.ForegroundBrush):
        return "default"
    return fmt.foreground().color().name()


def _top_row(view: ChatView) -> int:
    return view.row_at(QPoint(4, 4))


def test_rows_are_blocks_the_shop_in_colour_and_long_lines_wrap(
    view: tuple[ChatModel, ChatView],
) -> None:
    """Each row is one block with the model's text (markup shown as typed), the shop's in
    dark magenta, and a long line wraps onto several lines of the view's width."""
    model, chat = view
    model.reset([_line(1), _line(2, admin=True)])
    model.extend([{**_line(3), "message": "<b>bold?</b> & more"}, _line(4, words=40)])
    assert _blocks(chat) == _rows(model)
    assert "<b>bold?</b> & more" in _blocks(chat)[2]
    assert [_colour(chat, n) for n in range(4)] == ["default", SHOP, "default", "default"]
    last = chat.document().lastBlock()
    assert last.layout().lineCount() > 3  # wrapped at the view's width
    assert max(line.width() for line in _lines(last)) <= chat.viewport().width()


def _lines(block: Any) -> list[Any]:
    layout = block.layout()
    return [layout.lineAt(n).naturalTextRect() for n in range(layout.lineCount())]


def test_a_selected_shop_line_does_not_colour_new_lines(view: tuple[ChatModel, ChatView]) -> None:
    """The presenter selecting (copying) a shop line does not lend its colour to the
    customer lines that arrive meanwhile."""
    model, chat = view
    model.reset([_line(1, admin=True)])
    cursor = chat.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock, QTextCursor.MoveMode.KeepAnchor)
    chat.setTextCursor(cursor)
    assert chat.textCursor().charFormat().foreground().color().name() == SHOP
    model.extend([_line(2), _line(3, admin=True)])
    assert [_colour(chat, n) for n in range(3)] == [SHOP, "default", SHOP]


def test_follows_the_newest_line(view: tuple[ChatModel, ChatView], qtbot: Any) -> None:
    """At the bottom, every batch (past the limit too) leaves the newest line in view."""
    model, chat = view
    bar = chat.verticalScrollBar()
    for n in range(0, 120, 6):
        model.extend([_line(n + k, words=1 + (n + k) % 5) for k in range(6)])
        qtbot.wait(1)
        assert bar.value() == bar.maximum()
    assert bar.maximum() > 0 and chat.following and not chat.new_lines.isVisible()
    assert _blocks(chat) == _rows(model) and model.rowCount() == 40
    newest = chat.row_rect(model.rowCount() - 1)
    assert newest.bottom() <= chat.viewport().height() + 1  # the newest line is drawn
    chat.resize(200, 240)  # narrower: more lines each, still at the newest
    qtbot.wait(1)
    assert bar.value() == bar.maximum() and chat.following


def test_scrolled_up_stays_put_and_offers_the_new_lines(
    view: tuple[ChatModel, ChatView], qtbot: Any
) -> None:
    """Scrolled up to read, the line at the top stays there while lines arrive and the
    oldest go; a "new messages" button counts them and brings the reader down."""
    model, chat = view
    model.reset([_line(n) for n in range(40)])
    bar = chat.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    assert not chat.following
    top = model.row(_top_row(chat))["id"]
    y = chat.row_rect(_top_row(chat)).top()
    for n in range(40, 52, 3):  # past the limit: the oldest rows go meanwhile
        model.extend([_line(n + k) for k in range(3)])
        qtbot.wait(1)
        assert model.row(_top_row(chat))["id"] == top
        # Still drawn where it was (give or take the document's margin, once it is first).
        moved = chat.row_rect(_top_row(chat)).top() - y
        assert abs(moved) <= chat.document().documentMargin()
    assert model.row(0)["id"] == "m12"  # the oldest did go
    assert chat.new_lines.isVisible() and chat.new_lines.text() == "12 new messages ↓"
    assert _blocks(chat) == _rows(model)
    qtbot.mouseClick(chat.new_lines, Qt.MouseButton.LeftButton)
    assert bar.value() == bar.maximum() and chat.following
    assert not chat.new_lines.isVisible()
    model.extend([_line(99)])
    assert bar.value() == bar.maximum()  # following again


def test_rows_and_positions_agree_through_inserts_removals_and_resets(
    view: tuple[ChatModel, ChatView],
) -> None:
    """After any mix of batches, deletions (first, last, middle, every line) and resets,
    block n is row n, and ``row_at`` a row's place gives that row."""
    model, chat = view
    rnd = random.Random(9)
    n = 0
    paths = {True: 0, False: 0}  # batches that came while following, and scrolled up
    for step in range(300):
        op = rnd.random()
        if op < 0.6:
            batch = [
                _line(n + k, admin=rnd.random() < 0.2, words=rnd.randint(1, 12))
                for k in range(rnd.randint(1, 9))
            ]
            n += len(batch)
            paths[chat.following] += 1
            model.extend(batch)
        elif op < 0.95 and model.rowCount():
            pick = rnd.choice([0, model.rowCount() - 1, rnd.randrange(model.rowCount())])
            model.remove(model.row(pick)["id"])
        elif op < 0.98:
            model.reset([_line(n + k) for k in range(rnd.randint(0, 50))])
            n += 50
        else:
            for row in list(model.rows):
                model.remove(row["id"])
        assert _blocks(chat) == _rows(model), f"step {step}"
        colours = [_colour(chat, r) for r in range(model.rowCount())]
        assert colours == [SHOP if r["isAdmin"] else "default" for r in model.rows]
        if model.rowCount():
            row = rnd.randrange(model.rowCount())
            chat.verticalScrollBar().setValue(0)
            chat.ensureCursorVisible()
            rect = chat.row_rect(row)
            if 0 <= rect.center().y() < chat.viewport().height():
                assert chat.row_at(rect.center().toPoint()) == row
            if rnd.random() < 0.5:  # back at the newest: the next batches follow it
                chat.scroll_to_newest()
    assert paths[True] > 20 and paths[False] > 20
