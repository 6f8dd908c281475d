"""A believable stream of English and Japanese mentions on the `sandbox` platform.

For the demo and for tests: praise, check-ins at Kansha Coffee's stores, reviews with ratings,
complaints, sarcasm, questions, competitor praise and spam, written by a pool of recurring
authors (a few regulars post often, most people once or twice), so some advocates come back.
Everything is deterministic for a given seed; the author pool is the same whatever the seed,
so separate runs meet the same people again.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from advocates.models import MentionSource
from advocates.schemas import MentionIn
from advocates.services import mentions_ingest

BRAND_HANDLE = "@kanshacoffee"
PLATFORM = "sandbox"
LANGUAGES = ("en", "ja")
POOL_SEED = 20261123  # fixed: the same regulars in every run

STORES = {
    "en": ["Kansha Coffee Shibuya", "Kansha Coffee Shinjuku", "Kansha Coffee Kyoto",
           "Kansha Coffee Brooklyn", "Kansha Coffee Portland"],
    "ja": ["カンシャ珈琲 渋谷店", "カンシャ珈琲 新宿店", "カンシャ珈琲 京都店",
           "カンシャ珈琲 ブルックリン店", "カンシャ珈琲 ポートランド店"],
}
CITIES = {
    "en": ["Shibuya", "Shinjuku", "Kyoto", "Brooklyn", "Portland"],
    "ja": ["渋谷", "新宿", "京都", "ブルックリン", "ポートランド"],
}
DRINKS = {
    "en": ["flat white", "cortado", "oat latte", "hojicha latte", "cold brew", "pour-over",
           "matcha latte", "espresso tonic", "yuzu cold brew", "cappuccino"],
    "ja": ["フラットホワイト", "コルタード", "オーツラテ", "ほうじ茶ラテ", "コールドブリュー",
           "ハンドドリップ", "抹茶ラテ", "エスプレッソトニック", "柚子コールドブリュー"],
}
FOODS = {
    "en": ["almond croissant", "matcha scone", "banana bread", "cinnamon roll", "onigiri"],
    "ja": ["アーモンドクロワッサン", "抹茶スコーン", "バナナブレッド", "シナモンロール",
           "おにぎり"],
}
BRAND = {"en": ["@kanshacoffee", "Kansha Coffee", "@kanshacoffee"],
         "ja": ["@kanshacoffee", "カンシャ珈琲", "カンシャ珈琲"]}
COMPETITORS = {"en": ["Starbucks", "Blue Bottle"], "ja": ["スタバ", "ブルーボトル"]}

# {brand} {drink} {food} {store} {city} {competitor} are filled in; every template mentions
# the brand (that is why it is a mention), except some spam and competitor posts.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "praise": {
        "en": [
            "Best {drink} in {city}, hands down. Thank you {brand}! ☕️",
            "{brand} never misses. That {drink} + {food} combo saved my Monday.",
            "Shoutout to the barista at {store} who remembered my name and my {drink} 🙏",
            "Honestly obsessed with the new {drink} at {brand}. Perfectly balanced.",
            "Rainy day, warm {drink}, {brand} playlist on point. Pure happiness.",
            "The {food} at {brand} is criminally underrated. Go get one.",
            "Third visit this week, no regrets. {brand} you have my heart ❤️",
        ],
        "ja": [
            "{brand}の{drink}、本当に美味しい！ありがとうございます☕️",
            "{store}の店員さん、いつも笑顔で元気もらえる。感謝です🙏",
            "{brand}の{food}と{drink}の組み合わせ最高すぎる",
            "今日も{brand}で一息。ここの{drink}が一番好き",
            "{city}に来たら必ず{brand}に寄る。間違いない美味しさ",
            "新作の{drink}、香りが良くて感動した…{brand}さすが",
        ],
    },
    "checkin": {
        "en": [
            "Morning fuel ☕️ {drink} at {store}",
            "Working from {store} today. Wifi fast, {drink} faster.",
            "Checked in at {store} with the team",
            "First time at {store}! Ordering the {drink}.",
        ],
        "ja": [
            "{store}でモーニング☕️ {drink}",
            "{store}で作業中。{drink}おかわり",
            "{store}に来ました！",
            "初めての{store}、{drink}にしてみた",
        ],
    },
    "review_good": {
        "en": [
            "Great {drink}, friendly staff, a calm place to read. Will be back.",
            "Consistently excellent. The {food} is a must. {brand}",
            "Lovely space and the {drink} is the best I've had in {city}.",
        ],
        "ja": [
            "{drink}が美味しく、スタッフの対応も丁寧。また来ます。",
            "落ち着いた雰囲気で居心地が良い。{food}もおすすめ。{brand}",
            "{city}で一番好きなカフェ。{drink}は必ず頼みます。",
        ],
    },
    "review_mixed": {
        "en": ["{drink} was good but the queue was long and seating is tight. {brand}",
               "Decent coffee, a bit pricey for {city}. {brand}"],
        "ja": ["{drink}は美味しいけど、席が少なくて少し待った。{brand}",
               "味は良いけど値段はちょっと高め。{brand}"],
    },
    "review_bad": {
        "en": ["Waited 25 minutes and my {drink} was cold. Not coming back. {brand}",
               "Rude staff at {store} today. Disappointing. {brand}"],
        "ja": ["30分待たされた上に{drink}がぬるかった。残念です。{brand}",
               "{store}の接客がひどかった。もう行かないかも。{brand}"],
    },
    "complaint": {
        "en": [
            "{brand} my order was wrong AGAIN at {store}. Asked for oat milk, got dairy. 😡",
            "Charged twice for one {drink} at {store}. {brand} please fix this.",
            "Found a hair in my {food}. Gross. {brand}",
            "{brand} your app keeps crashing when I try to pay. Super frustrating.",
            "The {drink} at {store} tasted burnt today. Really disappointed {brand}",
        ],
        "ja": [
            "{brand} また注文を間違えられた…オーツミルクって言ったのに😡",
            "{store}で二重に請求された。{brand}対応してください",
            "{food}に髪の毛が入ってた。最悪。{brand}",
            "{brand}のアプリ、支払いのたびに落ちる。なんとかして",
            "今日の{drink}、焦げた味がした。がっかり。{brand}",
        ],
    },
    "sarcasm": {
        "en": [
            "Oh great, another 30-minute wait at {store}. Love that for me. {brand}",
            "Wow {brand}, $7 for a lukewarm {drink}. What a bargain. 🙄",
            "Thanks {brand} for spelling my name wrong for the 5th time, truly iconic",
        ],
        "ja": [
            "さすが{brand}、今日も安定の30分待ち。最高ですね（棒）",
            "{brand}さん、ぬるい{drink}をありがとう。素晴らしいサービスですね🙄",
        ],
    },
    "question": {
        "en": [
            "{brand} is the {city} store open on public holidays?",
            "Does the {drink} at {brand} have caffeine? Asking for a friend.",
            "{brand} do you have decaf options? And is there oat milk at {store}?",
        ],
        "ja": [
            "{brand} {store}って祝日も営業してますか？",
            "{brand}の{drink}ってカフェイン入ってますか？",
            "{store}はWi-Fiありますか？{brand}",
        ],
    },
    "competitor": {
        "en": [
            "Sorry {brand} but the {competitor} pour-over is just better.",
            "{competitor} new seasonal drink is amazing, might switch from {brand}",
            "Tried {competitor} today. Honestly loved it.",
        ],
        "ja": [
            "ごめん{brand}、やっぱり{competitor}の新作が最高すぎる",
            "{competitor}のラテの方が好きかも。{brand}も好きだけど",
            "今日は{competitor}。新作めちゃくちゃ美味しい",
        ],
    },
    "spam": {
        "en": [
            "🎉 GIVEAWAY 🎉 Follow {brand} and RT to win free coffee for a year!! "
            "Click https://bit.ly/free-c0ffee",
            "Get 10k followers fast!!! DM me now {brand} #coffee #follow4follow",
            "Win an iPhone! {brand} {brand} {brand} link in bio 💰💰",
        ],
        "ja": [
            "🎁プレゼント企画🎁 {brand}をフォロー＆RTで1年分のコーヒーが当たる！"
            "今すぐこちら→ https://bit.ly/free-c0ffee",
            "フォロワー1万人増やします！DMください {brand} #相互フォロー",
        ],
    },
    "neutral": {
        "en": ["Meeting a friend at {store} later", "{brand} opens at 7 on weekdays, right?",
               "Anyone else at {store} right now?"],
        "ja": ["あとで{store}で友達と待ち合わせ", "{store}、今日は混んでる",
               "{brand}の新店舗できるらしい"],
    },
}
# How often each kind of post appears (the stream is mostly friendly, as real streams are).
WEIGHTS = {"praise": 30, "checkin": 15, "review": 12, "complaint": 9, "sarcasm": 4,
           "question": 8, "competitor": 6, "spam": 6, "neutral": 10}

FIRST_NAMES = {
    "en": ["Emma", "Liam", "Olivia", "Noah", "Ava", "Mason", "Sophia", "Lucas", "Mia", "Ethan",
           "Harper", "Jack", "Zoe", "Owen", "Nora", "Leo", "Ruby", "Sam", "Maya", "Eli"],
    "ja": ["さくら", "ゆうき", "はると", "あおい", "りく", "ひなた", "そうた", "めい", "けんた",
           "ゆい", "拓海", "美咲", "翔太", "彩花", "大輔", "真央", "健", "由美", "亮", "葵"],
}
LAST_NAMES = {
    "en": ["Smith", "Garcia", "Chen", "Brown", "Nguyen", "Miller", "Lopez", "Kim", "Davis",
           "Wilson", "Park", "Moore", "Clark", "Reyes", "Hall"],
    "ja": ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"],
}
HANDLE_WORDS = ["coffee", "latte", "bean", "brew", "cafe", "daily", "walks", "eats", "life",
                "tokyo", "pdx", "bk", "kyoto", "morning", "crema"]


@dataclass(frozen=True)
class Author:
    author_id: str
    handle: str
    name: str
    language: str
    followers: int
    spammer: bool = False


def author_pool(size: int, *, seed: int = POOL_SEED) -> list[Author]:
    """`size` authors, the same for the same size and seed: half English, half Japanese."""
    rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
    authors = []
    for n in range(size):
        language = LANGUAGES[n % 2]
        spammer = n % 23 == 22  # a few accounts only ever post giveaways
        first = rng.choice(FIRST_NAMES[language])
        last = rng.choice(LAST_NAMES[language])
        word = rng.choice(HANDLE_WORDS)
        if spammer:
            handle, name = f"@win_free_{word}{n}", "🎁 FREE GIFTS 🎁"
            followers = rng.randint(0, 40)
        else:
            stem = rng.choice([first.lower(), word]) if language == "en" else word
            handle = f"@{stem}_{word if stem != word else 'fan'}{n}"
            name = f"{first} {last}" if language == "en" else f"{last}{first}"
            # Follower counts are long-tailed: most have a few hundred, some are influencers.
            followers = int(min(2_000_000, rng.paretovariate(1.2) * 120))
        authors.append(Author(f"sbx-user-{n}", handle, name, language, followers, spammer))
    return authors


class MentionSimulator:
    """Generates normalised mention dicts (the `MentionIn` schema) for the sandbox platform.

    Deterministic for a seed: the same seed gives the same texts, authors and external ids,
    so replaying a seed creates only duplicates. Authors are drawn with a long-tailed weight,
    so a few regulars come back again and again.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        languages: Sequence[str] = LANGUAGES,
        authors: int = 120,
    ) -> None:
        unknown = set(languages) - set(LANGUAGES)
        if unknown or not languages:
            raise ValueError(f"languages must be among {', '.join(LANGUAGES)}; got {languages}")
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.languages = tuple(languages)
        self._rng = random.Random(self.seed)  # noqa: S311 (demo data, not secrets)
        pool = [a for a in author_pool(authors) if a.language in self.languages]
        self._people = [a for a in pool if not a.spammer]
        self._spammers = [a for a in pool if a.spammer] or self._people
        # Zipf-like: the k-th person posts about 1/k as often as the first.
        self._cum_weights = list(accumulate(1 / (k + 1) ** 0.9
                                            for k in range(len(self._people))))
        self._categories = list(WEIGHTS)
        self._category_weights = list(WEIGHTS.values())
        self._count = 0

    def mention(self, *, posted_at: datetime | None = None) -> dict:
        """One mention, posted now unless `posted_at` is given."""
        rng = self._rng
        self._count += 1
        category = rng.choices(self._categories, self._category_weights)[0]
        author = (rng.choice(self._spammers) if category == "spam"
                  else rng.choices(self._people, cum_weights=self._cum_weights)[0])
        language = author.language
        store_index = rng.randrange(len(STORES["en"]))
        kind, rating, venue = "post", None, ""
        if category == "checkin":
            kind, venue = "checkin", STORES[language][store_index]
        elif category == "review":
            rating = rng.choices([5, 4, 3, 2, 1], [45, 25, 12, 9, 9])[0]
            category = {5: "review_good", 4: "review_good", 3: "review_mixed"}.get(
                rating, "review_bad")
            kind, venue = "review", STORES[language][store_index]
        elif category in ("complaint", "question"):
            kind = rng.choice(["post", "reply", "post"])
        elif category == "praise":
            kind = rng.choice(["post", "post", "post", "story", "quote", "tag"])
        text = rng.choice(TEMPLATES[category][language]).format(
            brand=rng.choice(BRAND[language]),
            drink=rng.choice(DRINKS[language]),
            food=rng.choice(FOODS[language]),
            store=STORES[language][store_index],
            city=CITIES[language][store_index],
            competitor=rng.choice(COMPETITORS[language]),
        )
        external_id = f"sim-{self.seed:x}-{self._count}"
        when = posted_at or datetime.now(UTC)
        item = {
            "platform": PLATFORM,
            "external_id": external_id,
            "author_id": author.author_id,
            "author_handle": author.handle,
            "author_name": author.name,
            "text": text,
            "posted_at": when.isoformat(),
            "kind": kind,
            "url": f"https://sandbox.kansha.example/{author.handle.lstrip('@')}/{external_id}",
            "followers": author.followers,
        }
        # Not every source tells the language; the detector fills it in when missing.
        if rng.random() < 0.7:
            item["language"] = language
        if rating is not None:
            item["rating"] = rating
        if venue:
            item["venue"] = venue
        if kind == "reply":
            item["in_reply_to"] = f"sbx-brand-{rng.randrange(1000, 9999)}"
        return item

    def batch(self, count: int, *, posted_at: datetime | None = None) -> list[dict]:
        return [self.mention(posted_at=posted_at) for _ in range(count)]

    def spread(self, count: int, *, days: float = 30, now: datetime | None = None) -> list[dict]:
        """`count` mentions posted over the last `days`, oldest first (for demo data)."""
        now = now or datetime.now(UTC)
        span = days * 86400
        offsets = sorted((self._rng.random() * span for _ in range(count)), reverse=True)
        return [self.mention(posted_at=now - timedelta(seconds=offset)) for offset in offsets]


@dataclass
class StreamBatch:
    number: int
    sent: int
    created: int
    duplicate: int
    total_created: int


def sandbox_mentions_ingest(*, items: Iterable[dict]):  # -> IngestResult
    """Validate simulated items and ingest them as the ingest API would (source "api")."""
    items = list(items)
    return mentions_ingest(items=[MentionIn.model_validate(i) for i in items],
                           source=MentionSource.API, raw_payloads=items)


def sandbox_mentions_stream(
    *,
    simulator: MentionSimulator,
    rate: float,
    count: int | None = None,
    stop: threading.Event | None = None,
    on_batch: Callable[[StreamBatch], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> int:
    """Ingest simulated mentions at `rate` per second until `count` are sent or `stop` is set.

    Sends once a second (a batch of about `rate` mentions), or one mention every 1/rate
    seconds when the rate is below 1. Returns how many mentions were created. An error in one
    batch goes to `on_error` (when given, else it is raised) and the stream goes on.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    stop = stop or threading.Event()
    interval = max(1.0, 1.0 / rate)
    per_tick = rate * interval
    sent = created = number = 0
    owed = 0.0
    next_tick = time.monotonic()
    while not stop.is_set() and (count is None or sent < count):
        owed += per_tick
        size = int(owed)
        if count is not None:
            size = min(size, count - sent)
        if size:
            owed -= size
            number += 1
            try:
                result = sandbox_mentions_ingest(items=simulator.batch(size))
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(exc)
            else:
                created += result.created
                if on_batch is not None:
                    on_batch(StreamBatch(number, size, result.created, result.duplicate,
                                         created))
            sent += size
        if count is not None and sent >= count:
            break
        # Keep the pace, but after a slow batch start afresh rather than bursting to catch up.
        next_tick = max(next_tick + interval, time.monotonic())
        stop.wait(max(0.0, next_tick - time.monotonic()))
    return created
