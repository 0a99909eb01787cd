"""The fake LLM's deterministic analysis: sentiment lexicons and the topic keyword table.

Matching rule (documented in docs/fakes.md so other components can predict answers):
text is NFC-normalised and lower-cased; a term matches as a whole word or phrase
(not preceded or followed by a letter/digit/underscore); one left-to-right scan
per table, longest term first, matches never overlap (so "không thích" counts as
one negative hit, not also the positive "thích"). Every occurrence counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

EMOTIONS = ("very_negative", "negative", "neutral", "positive", "very_positive")

POSITIVE = (
    # English
    "love", "loved", "loves", "like", "liked", "enjoy", "enjoyed", "happy", "glad", "great",
    "good", "nice", "awesome", "amazing", "wonderful", "fun", "excited", "thanks",
    "thank you", "fantastic", "beautiful", "best", "cool",
    # Vietnamese, with and without diacritics
    "vui", "vui vẻ", "vui ve", "hạnh phúc", "hanh phuc", "thích", "thich", "yêu", "yeu",
    "tuyệt", "tuyet", "tuyệt vời", "tuyet voi", "tốt", "tot", "cảm ơn", "cam on",
    "thú vị", "thu vi", "ngon",
)  # fmt: skip

NEGATIVE = (
    # English (a few negated phrases, matched before their positive word)
    "hate", "hated", "sad", "bad", "terrible", "awful", "angry", "upset", "boring", "bored",
    "tired", "annoyed", "worried", "worst", "lonely", "stressed", "horrible",
    "not good", "not happy", "don't like", "do not like",
    # Vietnamese
    "buồn", "buon", "ghét", "ghet", "chán", "chan", "mệt", "mệt mỏi", "met moi",
    "tức giận", "tuc gian",
    "lo lắng", "lo lang", "cô đơn", "co don", "khó chịu", "kho chiu", "tồi tệ", "toi te",
    "không vui", "khong vui", "không thích", "khong thich", "không tốt", "khong tot",
)  # fmt: skip

TOPIC_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "music": (
        "music", "song", "songs", "sing", "singing", "concert", "guitar", "piano", "band",
        "âm nhạc", "am nhac", "nhạc", "nhac", "bài hát", "bai hat", "ca sĩ", "ca si",
    ),
    "food": (
        "food", "eat", "eating", "cook", "cooking", "recipe", "pizza", "pho", "sushi",
        "restaurant", "dinner", "lunch", "breakfast",
        "món ăn", "mon an", "phở", "bún", "cơm", "nấu ăn", "nau an", "nhà hàng", "nha hang",
    ),
    "travel": (
        "travel", "trip", "vacation", "holiday", "flight", "beach", "hotel", "journey",
        "du lịch", "du lich", "chuyến đi", "chuyen di", "biển", "bien", "khách sạn",
        "khach san", "máy bay", "may bay",
    ),
    "work": (
        "work", "job", "office", "boss", "meeting", "career", "colleague", "project", "deadline",
        "công việc", "cong viec", "làm việc", "lam viec", "văn phòng", "van phong", "sếp",
        "đồng nghiệp", "dong nghiep",
    ),
    "family": (
        "family", "mom", "mother", "dad", "father", "sister", "brother", "parents", "kids",
        "children", "wife", "husband",
        "gia đình", "gia dinh", "mẹ", "bố", "anh trai", "chị gái", "em gái", "em trai",
        "vợ", "chồng",
    ),
    "sports": (
        "sport", "sports", "football", "soccer", "basketball", "tennis", "gym", "running",
        "swim", "swimming",
        "thể thao", "the thao", "bóng đá", "bong da", "bơi", "chạy bộ", "chay bo",
        "cầu lông", "cau long",
    ),
    "movies": (
        "movie", "movies", "film", "films", "cinema", "netflix",
        "phim", "điện ảnh", "dien anh", "rạp chiếu phim", "rap chieu phim",
    ),
    "games": (
        "game", "games", "gaming", "video game", "chess", "puzzle", "minecraft",
        "trò chơi", "tro choi", "chơi game", "choi game",
    ),
    "study": (
        "study", "studying", "school", "exam", "homework", "class", "university", "college",
        "learn", "learning", "book", "books",
        "học", "hoc", "bài tập", "bai tap", "trường", "kỳ thi", "ky thi", "đại học", "dai hoc",
        "sách", "sach",
    ),
    "health": (
        "health", "healthy", "doctor", "sick", "hospital", "sleep", "exercise", "medicine",
        "diet",
        "sức khỏe", "sức khoẻ", "suc khoe", "bác sĩ", "bac si", "bệnh", "benh", "ốm",
        "bệnh viện", "benh vien", "ngủ", "tập thể dục", "tap the duc",
    ),
}  # fmt: skip

MAX_TOPICS = 5


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def _scanner(terms: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted({normalise(term) for term in terms}, key=lambda term: (-len(term), term))
    alternation = "|".join(re.escape(term) for term in ordered)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)")


# One scanner for sentiment (both polarities, so the longest phrase wins across them).
_SENTIMENT = _scanner((*POSITIVE, *NEGATIVE))
_NEGATIVE_TERMS = frozenset(normalise(term) for term in NEGATIVE)
_TOPIC_OF = {normalise(kw): topic for topic, kws in TOPIC_KEYWORDS.items() for kw in kws}
_TOPICS = _scanner(_TOPIC_OF)


def sentiment_score(texts: Iterable[str]) -> int:
    """Positive hits minus negative hits over ``texts``."""
    score = 0
    for text in texts:
        for match in _SENTIMENT.finditer(normalise(text)):
            score += -1 if match.group(0) in _NEGATIVE_TERMS else 1
    return score


def emotion_of(score: int) -> str:
    if score >= 3:
        return "very_positive"
    if score >= 1:
        return "positive"
    if score == 0:
        return "neutral"
    if score >= -2:
        return "negative"
    return "very_negative"


def all_topics_in(texts: Iterable[str]) -> list[str]:
    """Every distinct topic whose keywords appear in ``texts``, sorted."""
    found = {_TOPIC_OF[m.group(0)] for text in texts for m in _TOPICS.finditer(normalise(text))}
    return sorted(found)


def topics_in(texts: Iterable[str]) -> list[str]:
    """The fake LLM's topics: the first 5 of :func:`all_topics_in`."""
    return all_topics_in(texts)[:MAX_TOPICS]


def count_questions(texts: Iterable[str]) -> int:
    return sum(1 for text in texts if "?" in text)
