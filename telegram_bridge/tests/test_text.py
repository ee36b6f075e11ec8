from telegram_bridge.text import split_text, utf16_length


def test_short_text_is_one_part():
    assert split_text("hello") == ["hello"]


def test_ten_thousand_characters_split_and_reassemble():
    words = " ".join(f"word{i}" for i in range(2000))
    text = (words[:3000] + "\n\n" + words[3000:7000] + "\n" + words[7000:])[:10000]
    parts = split_text(text)
    assert "".join(parts) == text
    assert len(parts) == 3
    assert all(utf16_length(part) <= 4096 for part in parts)
    assert parts[0].endswith("\n\n"), "the first cut should fall on the paragraph break"


def test_cuts_prefer_line_then_word_boundaries():
    text = ("a" * 3000) + "\n" + ("b" * 2000)
    assert split_text(text) == ["a" * 3000 + "\n", "b" * 2000]
    text = ("a" * 3000) + " " + ("b" * 2000)
    assert split_text(text) == ["a" * 3000 + " ", "b" * 2000]


def test_emoji_count_as_two_units_and_are_never_cut_in_half():
    text = "😀" * 3000  # 6000 UTF-16 units, no boundaries at all
    parts = split_text(text)
    assert "".join(parts) == text
    assert [utf16_length(part) for part in parts] == [4096, 1904]
