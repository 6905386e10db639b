"""Review text (random stream ``STREAM_REVIEW_TEXT``): titles and bodies written from a planted
text sentiment, and the truth that says how well any model can read the star rating from them.

Every review has a rating class (negative 1-2 stars, neutral 3, positive 4-5; the ratings come from
the storefront stream and are unchanged here) and a *text sentiment*: the rating class, except for
a planted share :data:`DISAGREE_RATE` of texts that say something else (a 5-star review that only
complains about delivery, a 2-star review that praises the product). The text is written from the
text sentiment alone, realistically enough not to be separable by spotting words:

- a wide vocabulary of aspects per top-level category (battery life, fit, plot, taste...) with
  positive and negative descriptors;
- negation both ways ("not bad", "never disappointed", "not great", "not worth it");
- intensifiers ("really", "extremely"), stronger for 1 and 5 stars;
- mixed reviews: positive text with a complaint, negative text with a compliment, and neutral text
  that weighs pros against cons; titles and verdicts are sometimes absent;
- typos (swapped, dropped and doubled letters) from a share of sloppy writers, all-lowercase text;
- with drift, after the cut-over, half of the reviews are short mobile-style texts with new words.

Because the text carries only the text sentiment, the best achievable classifier predicts it, and
its probabilities are the planted P(rating class | text sentiment): ``ground_truth.review_sentiment``
holds both, so the sentiment family's oracle (macro-F1, Brier, log-loss) is known.

Every random number of a review comes from one row of a fixed-width matrix of uniforms drawn from
this module's own stream, so a longer history (drift) extends, and never reshuffles, the draws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from storeml_assets.synthetic import review_vocab as rv
from storeml_assets.synthetic.simulator.common import History

#: Component number of this module's random stream (see ``common``'s stream numbers).
STREAM_REVIEW_TEXT = 60
#: The three sentiment classes, in label order (negative 1-2 stars, neutral 3, positive 4-5).
CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")
#: Share of reviews whose text sentiment disagrees with their star rating.
DISAGREE_RATE = 0.07
#: Given disagreement, the text sentiment drawn for each rating class (rows: rating class, columns: text).
DISAGREE_TO = np.array([[0.0, 0.7, 0.3], [0.5, 0.0, 0.5], [0.3, 0.7, 0.0]])
#: Share of writers who make typos, and the share who write all in lower case.
SLOPPY_RATE = 0.3
LOWERCASE_RATE = 0.15
#: Share of positive and negative texts that mention an aspect of the other polarity.
MIXED_RATE = 0.3
#: After the drift cut-over (with drift), the share of short mobile-style reviews.
DRIFT_MOBILE_SHARE = 0.5

_COLUMNS = 32
_NEGATION = re.compile(r"\b(not|never|no|nothing|neither|nor|can't|couldn't|don't|isn't)\b", re.IGNORECASE)


def rating_class(rating: np.ndarray) -> np.ndarray:
    """Class index per star rating: 0 negative (1-2), 1 neutral (3), 2 positive (4-5)."""
    rating = np.asarray(rating)
    return np.where(rating <= 2, 0, np.where(rating == 3, 1, 2)).astype(np.int8)


@dataclass
class ReviewTexts:
    """Titles and bodies of the reviews, in their order, and what was planted in them."""

    titles: list[str]
    bodies: list[str]
    #: class index of the text's sentiment (0 negative, 1 neutral, 2 positive)
    text_class: np.ndarray
    mixed: np.ndarray
    typos: np.ndarray
    mobile: np.ndarray


def _choose(options: tuple[str, ...], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _intensifier(u_present: float, u_which: float, strong: bool) -> str:
    return _choose(rv.INTENSIFIERS, u_which) if u_present < (0.6 if strong else 0.25) else ""


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _typo(word: str, u: float) -> str:
    """One typo in ``word``: swap two letters, drop one or double one (``u`` picks which and where)."""
    if len(word) < 4 or not word.isalpha():
        return word
    kind, where = int(u * 3), 1 + int((u * 3 % 1) * (len(word) - 2))
    if kind == 0:
        return word[:where] + word[where + 1] + word[where] + word[where + 2:]
    if kind == 1:
        return word[:where] + word[where + 1:]
    return word[:where] + word[where] + word[where:]


def _with_typos(text: str, us: np.ndarray) -> tuple[str, int]:
    words = text.split(" ")
    count = 0
    for u in us:
        i = min(int(u * len(words)), len(words) - 1)
        changed = _typo(words[i], (u * len(words)) % 1)
        count += changed != words[i]
        words[i] = changed
    return " ".join(words), count


def _aspect_sentences(aspects: dict[str, tuple[tuple[str, ...], tuple[str, ...]]], text_class: int,
                      u: np.ndarray, intensifier: str) -> tuple[list[str], bool]:
    """One or two sentences about the product's aspects; mixed when they disagree in polarity."""
    names = tuple(aspects)
    first = _choose(names, u[9])
    second = _choose(tuple(n for n in names if n != first), u[10])
    good = _choose(aspects[first][0], u[11]).format(int=intensifier)
    bad = _choose(aspects[second][1], u[12]).format(int=intensifier)
    values = {"aspect": first, "aspect2": second, "good": good, "bad": bad}
    if text_class == 1:  # neutral: pros weighed against cons
        if u[13] < 0.5:
            bank = rv.MIXED_GOOD_THEN_BAD if u[14] < 0.5 else rv.MIXED_BAD_THEN_GOOD
            return [_choose(bank, u[8]).format(**values)], True
        return [_choose(rv.GOOD_ASPECT, u[8]).format(**values),
                _choose(rv.BAD_ASPECT, u[14]).format(aspect=second, bad=bad)], True
    positive = text_class == 2
    if u[13] < MIXED_RATE:  # a complaint in a positive text, a compliment in a negative one, then the verdict side
        bank = rv.MIXED_BAD_THEN_GOOD if positive else rv.MIXED_GOOD_THEN_BAD
        return [_choose(bank, u[14]).format(**values)], True
    own = rv.GOOD_ASPECT if positive else rv.BAD_ASPECT
    sentences = [_choose(own, u[8]).format(aspect=first if positive else second, good=good, bad=bad)]
    if u[14] < 0.5:  # a second aspect of the same polarity
        third = _choose(tuple(n for n in names if n not in (first, second)), u[15])
        descriptor = _choose(aspects[third][0 if positive else 1], u[16]).format(int="")
        sentences.append(_choose(own, u[17]).format(aspect=third, good=descriptor, bad=descriptor))
    return sentences, False


def _standard_review(category: str, noun: str, text_class: int, strong: bool, u: np.ndarray) -> tuple[str, str, bool]:
    sentiment = CLASSES[text_class]
    intensifier = _intensifier(u[6], u[7], strong)
    title = (_choose(rv.TITLES[sentiment], u[3]) if u[2] < 0.75
             else _choose(rv.NEUTRAL_TITLES, u[3]).format(noun=noun.title()))
    aspects, mixed = _aspect_sentences(rv.ASPECTS[category], text_class, u, intensifier)
    sentences = list(aspects)
    if u[4] < 0.85:
        verdict = _capitalise(_choose(rv.VERDICTS[sentiment], u[5]).format(noun=noun, int=intensifier))
        sentences = [verdict, *sentences] if u[26] < 0.5 else [*sentences, verdict]
    if u[18] < 0.5:
        sentences.insert(0 if u[19] < 0.5 else len(sentences), _choose(rv.FILLER, u[20]))
    if u[21] < 0.5:
        sentences.append(_choose(rv.CLOSINGS[sentiment], u[22]))
    return title, " ".join(_capitalise(s) for s in sentences), mixed


def _mobile_review(noun: str, text_class: int, u: np.ndarray) -> tuple[str, str]:
    sentiment = CLASSES[text_class]
    slang = _choose(rv.DRIFT_SLANG[sentiment], u[5])
    title = slang if u[2] < 0.5 else _choose(rv.TITLES[sentiment], u[3]).lower()
    body = slang if u[4] < 0.6 else f"{slang}. {noun} {_choose(rv.DRIFT_SLANG[sentiment], u[22])}"
    return title, body


def write_reviews(history: History, category: np.ndarray, noun: np.ndarray, rating: np.ndarray,
                  created_ts: np.ndarray) -> ReviewTexts:
    """Title and body of each review, from its top-level category, product noun, rating and time."""
    n = len(rating)
    u = history.stream(STREAM_REVIEW_TEXT).random((n, _COLUMNS))
    label = rating_class(rating)
    text_class = label.copy()
    disagree = u[:, 0] < DISAGREE_RATE
    cum = np.cumsum(DISAGREE_TO[label], axis=1)
    text_class[disagree] = (u[disagree, 1, None] > cum[disagree]).sum(axis=1)
    mobile = history.cfg.drift & (created_ts >= history.cut_ts) & (u[:, 24] < DRIFT_MOBILE_SHARE)
    strong = (np.asarray(rating) == 1) | (np.asarray(rating) == 5)
    titles, bodies = [], []
    mixed = np.zeros(n, dtype=bool)
    typos = np.zeros(n, dtype=np.int16)
    for i in range(n):
        row, cls = u[i], int(text_class[i])
        name = str(noun[i]).lower()
        if mobile[i]:
            title, body = _mobile_review(name, cls, row)
        else:
            title, body, mixed[i] = _standard_review(str(category[i]), name, cls, bool(strong[i]), row)
        if row[23] < LOWERCASE_RATE:
            title, body = title.lower(), body.lower()
        if row[25] < SLOPPY_RATE:
            body, typos[i] = _with_typos(body, row[27:27 + 1 + int(row[31] * 3)])
        titles.append(title)
        bodies.append(body)
    return ReviewTexts(titles, bodies, text_class, mixed, typos, mobile)


def review_sentiment_truth(review_ids: np.ndarray, rating: np.ndarray, category: np.ndarray,
                           texts: ReviewTexts) -> pl.DataFrame:
    """``ground_truth.review_sentiment``: per review its rating class, the text's planted sentiment,
    what makes it hard, and the oracle's probabilities P(rating class | text sentiment)."""
    label = rating_class(rating)
    joint = np.zeros((3, 3))
    np.add.at(joint, (label, texts.text_class), 1.0)
    posterior = (joint + 1e-3) / (joint + 1e-3).sum(axis=0, keepdims=True)  # P(label | text), by text column
    oracle = posterior[:, texts.text_class].T
    negated = np.array([bool(_NEGATION.search(f"{t} {b}")) for t, b in zip(texts.titles, texts.bodies, strict=True)],
                       dtype=bool)
    return pl.DataFrame(
        {
            "review_id": np.asarray(review_ids, dtype=np.int64),
            "rating_class": np.array(CLASSES)[label],
            "text_sentiment": np.array(CLASSES)[texts.text_class],
            "disagrees": label != texts.text_class,
            "category": np.asarray(category, dtype=str) if len(label) else np.array([], dtype=str),
            "mixed": texts.mixed,
            "negated": negated,
            "typos": texts.typos.astype(np.int32),
            "mobile_style": texts.mobile,
            "oracle_p_negative": oracle[:, 0],
            "oracle_p_neutral": oracle[:, 1],
            "oracle_p_positive": oracle[:, 2],
        },
        schema_overrides={"rating_class": pl.String, "text_sentiment": pl.String, "category": pl.String},
    )
